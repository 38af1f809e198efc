"""Routers of version 1 of the API."""

"""Batch inference: stream a folder of review files through the predictor into JSON Lines."""

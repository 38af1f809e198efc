"""REST API serving the {{ cookiecutter.project_name }} model with FastAPI."""

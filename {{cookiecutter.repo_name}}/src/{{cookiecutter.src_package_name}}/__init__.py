"""{{ cookiecutter.project_name }}.

{{ cookiecutter.description | wordwrap(79) }}
"""

__version__ = "0.1.0"

# syntax=docker/dockerfile:1
# Development workspace: Jupyter Lab with the project's pinned dependencies (all extras).
#
# Build from the repository root:
#   docker build -t asia.gcr.io/{{ cookiecutter.gcp_project_id }}{% if cookiecutter.gcr_personal_subdir == 'Yes' %}/$GCR_PERSONAL_SUBDIR{% endif %}/jupyter:0.1.0 \
#     -f docker/{{ cookiecutter.repo_name }}-poly-jupyter.Dockerfile .
# The code is not baked in: clone the repository into the persistent volume and run
#   pip install --no-deps -e .
# inside the workspace (the venv belongs to the workspace user, uid/gid 2222).

# ---- dependencies: built from pyproject.toml alone ----
FROM python:3.11.14-slim-bookworm AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp/build
COPY pyproject.toml docker/requirements_from_pyproject.py ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/python requirements_from_pyproject.py pyproject.toml --extras dev,docs,gcp,postgres > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt setuptools==84.2.1 jupyterlab==4.6.6

# ---- runtime ----
FROM python:3.11.14-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
# The distribution is pinned by the base image tag; its security updates replace exact
# package versions, so pinning them here would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 2222 aisg \
    && useradd --uid 2222 --gid 2222 --create-home --home-dir /home/aisg --shell /bin/bash aisg
COPY --from=deps --chown=2222:2222 /opt/venv /opt/venv
USER 2222:2222
WORKDIR /home/aisg
EXPOSE 8888
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8888/api', timeout=4)"]
ENTRYPOINT ["jupyter", "lab"]
CMD ["--ip=0.0.0.0", "--port=8888", "--no-browser"]

# syntax=docker/dockerfile:1
# Development workspace: VSCode in the browser (code-server) with the project's pinned
# dependencies (all extras) and git.
#
# Build from the repository root:
#   docker build -t asia.gcr.io/{{ cookiecutter.gcp_project_id }}{% if cookiecutter.gcr_personal_subdir == 'Yes' %}/$GCR_PERSONAL_SUBDIR{% endif %}/vscode-server:0.1.0 \
#     -f docker/{{ cookiecutter.repo_name }}-poly-vscode.Dockerfile .
# Locally:  docker run --rm -p 127.0.0.1:8080:8080 <image>   (no password: keep it on localhost;
# on Polyaxon the service sits behind the platform's own authentication).
# The code is not baked in: clone the repository into the persistent volume and run
#   pip install --no-deps -e .
# in the integrated terminal (the venv belongs to the workspace user, uid/gid 2222).

# code-server is copied out of its release image (it carries its own Node.js).
FROM codercom/code-server:4.96.4 AS code-server

# ---- dependencies: built from pyproject.toml alone ----
FROM python:3.11.14-slim-bookworm AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp/build
COPY pyproject.toml docker/requirements_from_pyproject.py ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/python requirements_from_pyproject.py pyproject.toml --extras dev,docs,gcp,postgres > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt setuptools==84.2.1 ipykernel==7.4.0

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
COPY --from=code-server /usr/lib/code-server /usr/lib/code-server
RUN ln -s /usr/lib/code-server/bin/code-server /usr/local/bin/code-server
COPY --from=deps --chown=2222:2222 /opt/venv /opt/venv
USER 2222:2222
WORKDIR /home/aisg
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["code-server", "--bind-addr", "0.0.0.0:8080"]
CMD ["--auth", "none", "--disable-telemetry", "/home/aisg"]

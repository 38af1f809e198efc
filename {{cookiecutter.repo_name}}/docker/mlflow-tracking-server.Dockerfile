# MLflow tracking server: PostgreSQL backend store, artifacts proxied to GCS.
# It reuses the project's dependency layer (mlflow, the PostgreSQL driver and the GCS client are
# pinned in pyproject.toml, and mlflow itself needs most of the rest), adding Flask-WTF for the
# basic-auth app that checks MLFLOW_TRACKING_USERNAME/PASSWORD.
#
# Build from the repository root:
#   docker build -t asia.gcr.io/{{ cookiecutter.gcp_project_id }}{% if cookiecutter.gcr_personal_subdir == 'Yes' %}/$GCR_PERSONAL_SUBDIR{% endif %}/mlflow-server:0.1.0 \
#     -f docker/mlflow-tracking-server.Dockerfile .
# Run (see aisg-context/k8s/mlflow/ for the cluster version with Secrets):
#   docker run --rm -p 127.0.0.1:5005:5005 \
#     -e MLFLOW_BACKEND_STORE_URI=postgresql+psycopg2://<user>:<password>@<host>:5432/mlflow \
#     -e MLFLOW_ARTIFACTS_DESTINATION=gs://{{ cookiecutter.repo_name }}-artifacts/mlflow-tracking-server \
#     -e GOOGLE_APPLICATION_CREDENTIALS=/var/secret/cloud.google.com/gcp-service-account.json \
#     -v <PATH_TO_SA_JSON_FILE>:/var/secret/cloud.google.com/gcp-service-account.json:ro <image>

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

# ---- the server's one addition ----
FROM deps AS server-deps
RUN /opt/venv/bin/pip install --no-cache-dir flask-wtf==1.3.0

# ---- runtime ----
FROM python:3.11.14-slim-bookworm
ENV PYTHONUNBUFFERED=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    WORKING_DIR=/home/aisg/mlflow
RUN groupadd --gid 2222 aisg \
    && useradd --uid 2222 --gid 2222 --create-home --home-dir /home/aisg --shell /bin/bash aisg \
    && install -d -o 2222 -g 2222 -m 2775 /home/aisg/mlflow /home/aisg/mlflow/mlartifacts
# The default artifact folder (MLFLOW_ARTIFACTS_DESTINATION=./mlartifacts) belongs to uid 2222,
# so a named Docker volume mounted there starts out writable by the server.
COPY --from=server-deps /opt/venv /opt/venv
COPY scripts/mlflow-tracking-server.sh /usr/local/bin/mlflow-tracking-server.sh
COPY docker/mlflow_backend_check.py /usr/local/lib/mlflow_backend_check.py
USER 2222:2222
WORKDIR /home/aisg/mlflow
EXPOSE 5005
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('MLFLOW_PORT', '5005'), timeout=4)"]
# A backend store that refuses the connection stops the container with one line (password masked).
ENTRYPOINT ["python", "/usr/local/lib/mlflow_backend_check.py", "--", "/usr/local/bin/mlflow-tracking-server.sh"]

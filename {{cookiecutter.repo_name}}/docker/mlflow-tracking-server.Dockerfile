# syntax=docker/dockerfile:1
# MLflow tracking server: PostgreSQL backend store, artifacts proxied to GCS.
# Only mlflow (pinned in pyproject.toml), the PostgreSQL driver, the GCS client and Flask-WTF
# (needed by the basic-auth app that checks MLFLOW_TRACKING_USERNAME/PASSWORD) go in.
#
# Build from the repository root:
#   docker build -t asia.gcr.io/{{ cookiecutter.gcp_project_id }}{% if cookiecutter.gcr_personal_subdir == 'Yes' %}/$GCR_PERSONAL_SUBDIR{% endif %}/mlflow-server:0.1.0 \
#     -f docker/mlflow-tracking-server.Dockerfile .
# Run (see aisg-context/k8s/mlflow/ for the cluster version with Secrets):
#   docker run --rm -p 127.0.0.1:5005:5005 \
#     -e MLFLOW_BACKEND_STORE_URI=postgresql://<user>:<password>@<host>:5432/mlflow \
#     -e MLFLOW_ARTIFACTS_DESTINATION=gs://{{ cookiecutter.repo_name }}-artifacts/mlflow-tracking-server \
#     -e GOOGLE_APPLICATION_CREDENTIALS=/var/secret/cloud.google.com/gcp-service-account.json \
#     -v <PATH_TO_SA_JSON_FILE>:/var/secret/cloud.google.com/gcp-service-account.json:ro <image>

# ---- dependencies ----
FROM python:3.11.14-slim-bookworm AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp/build
COPY pyproject.toml docker/requirements_from_pyproject.py ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/python requirements_from_pyproject.py pyproject.toml --only mlflow --extras gcp,postgres > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt flask-wtf==1.3.0

# ---- runtime ----
FROM python:3.11.14-slim-bookworm
ENV PYTHONUNBUFFERED=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    WORKING_DIR=/home/aisg/mlflow
RUN groupadd --gid 2222 aisg \
    && useradd --uid 2222 --gid 2222 --create-home --home-dir /home/aisg --shell /bin/bash aisg \
    && install -d -o 2222 -g 2222 -m 2775 /home/aisg/mlflow
COPY --from=deps /opt/venv /opt/venv
COPY scripts/mlflow-tracking-server.sh /usr/local/bin/mlflow-tracking-server.sh
USER 2222:2222
WORKDIR /home/aisg/mlflow
EXPOSE 5005
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5005/health', timeout=4)"]
ENTRYPOINT ["/usr/local/bin/mlflow-tracking-server.sh"]

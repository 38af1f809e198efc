# syntax=docker/dockerfile:1
# Model serving: the FastAPI app under gunicorn (scripts/api-entrypoint.sh).
#
# Build from the repository root (the build context must be the root, see .dockerignore):
#   docker build -t asia.gcr.io/{{ cookiecutter.gcp_project_id }}{% if cookiecutter.gcr_personal_subdir == 'Yes' %}/$GCR_PERSONAL_SUBDIR{% endif %}/fastapi-server:0.1.0 \
#     -f docker/{{ cookiecutter.repo_name }}-fastapi.Dockerfile .
# The model is chosen when the container starts, not when the image is built:
#   docker run --rm -p 8080:8080 -e PRED_MODEL_URI="models:/<name>@champion" \
#     -e MLFLOW_TRACKING_URI=http://<tracking server>:5005 <image>
#   docker run --rm -p 8080:8080 -v "$PWD/models:/home/aisg/models:ro" \
#     -e PRED_MODEL_PATH=/home/aisg/models/<model folder> <image>

# ---- dependencies: built from pyproject.toml alone, so code changes reuse this layer ----
FROM python:3.11.14-slim-bookworm AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp/build
COPY pyproject.toml docker/requirements_from_pyproject.py ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/python requirements_from_pyproject.py pyproject.toml --extras gcp > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt setuptools==84.2.1

# ---- runtime: the venv, the code and a non-root user (uid/gid 2222) ----
FROM python:3.11.14-slim-bookworm
ARG REPO_DIR=/home/aisg/{{ cookiecutter.repo_name }}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH WORKING_DIR=${REPO_DIR}
RUN groupadd --gid 2222 aisg \
    && useradd --uid 2222 --gid 2222 --create-home --home-dir /home/aisg --shell /bin/bash aisg \
    && install -d -o 2222 -g 2222 -m 2775 "${REPO_DIR}"
COPY --from=deps /opt/venv /opt/venv
WORKDIR ${REPO_DIR}
# The code comes last: editing it rebuilds only these small layers.
COPY --chown=2222:2222 pyproject.toml README.md ./
COPY --chown=2222:2222 conf ./conf
COPY --chown=2222:2222 src ./src
COPY --chown=2222:2222 scripts ./scripts
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && rm -rf build src/*.egg-info
USER 2222:2222
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/v1/health/ready', timeout=4)"]
ENTRYPOINT ["/home/aisg/{{ cookiecutter.repo_name }}/scripts/api-entrypoint.sh"]

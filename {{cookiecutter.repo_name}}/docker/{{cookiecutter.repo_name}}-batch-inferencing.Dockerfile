# Batch inference: scripts/batch-inferencing.sh over a folder of .txt reviews.
#
# Build from the repository root (the build context must be the root, see .dockerignore):
#   docker build -t asia.gcr.io/{{ cookiecutter.gcp_project_id }}{% if cookiecutter.gcr_personal_subdir == 'Yes' %}/$GCR_PERSONAL_SUBDIR{% endif %}/batch-inference:0.1.0 \
#     -f docker/{{ cookiecutter.repo_name }}-batch-inferencing.Dockerfile .
# The model is chosen at run time (PRED_MODEL_URI or PRED_MODEL_PATH), not at build time:
#   docker run --rm -v "$PWD/models:/home/aisg/models:ro" -v "$PWD/data/batch:/data:ro" \
#     -v "$PWD/outputs:/home/aisg/{{ cookiecutter.repo_name }}/outputs" \
#     -e PRED_MODEL_PATH=/home/aisg/models/<model folder> -e INPUT_DATA_DIR=/data <image>
# The outputs folder must be writable by gid 2222:  chgrp -R 2222 outputs && chmod -R g+w outputs

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

# ---- runtime: the venv, the code (owned by root, read-only to the app) and a non-root user ----
FROM python:3.11.14-slim-bookworm
ARG REPO_DIR=/home/aisg/{{ cookiecutter.repo_name }}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH WORKING_DIR=${REPO_DIR}
RUN groupadd --gid 2222 aisg \
    && useradd --uid 2222 --gid 2222 --create-home --home-dir /home/aisg --shell /bin/bash aisg \
    && install -d -o 2222 -g 2222 -m 2775 "${REPO_DIR}"
COPY --from=deps /opt/venv /opt/venv
WORKDIR ${REPO_DIR}
# The code comes last: editing it rebuilds only these small layers, which are also the same
# in the data-prep, training, API and batch images.
COPY pyproject.toml README.md ./
COPY conf ./conf
COPY src ./src
COPY scripts ./scripts
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && rm -rf build src/*.egg-info
USER 2222:2222
ENTRYPOINT ["/home/aisg/{{ cookiecutter.repo_name }}/scripts/batch-inferencing.sh"]

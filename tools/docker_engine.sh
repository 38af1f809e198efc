#!/usr/bin/env bash
# Make sure a Docker engine answers, and that the base images the project's Dockerfiles name
# exist locally. Used by `make test-images` and `make bench-images`.
#
#   tools/docker_engine.sh engine     start dockerd if needed (installs docker.io as root on
#                                     Debian); exit 3 with one line when no engine can run
#   tools/docker_engine.sh bases      make the stand-in base images that are missing
#
# Stand-in bases: the official base images cannot be pulled on machines without a container
# registry, so each missing one is replaced by a Debian bookworm root filesystem made with
# debootstrap (python3, venv, pip, CA certificates, a `python` link, this machine's CA bundle
# and a pip config naming it), imported under the official tag with the label
# aisg.template.stand-in=true. They are made once and kept; an image that is already present
# under the tag (a real pull or an earlier stand-in) is never replaced.
#   python:3.11.14-slim-bookworm               the CPU images' base (same Python minor version)
#   nvidia/cuda:12.6.3-runtime-ubuntu24.04     the GPU image's base: the same Debian root
#                                              filesystem, so no CUDA and Python 3.11, not 3.12
set -euo pipefail

PYTHON_BASE="${STANDIN_PYTHON_BASE:-python:3.11.14-slim-bookworm}"
CUDA_BASE="${STANDIN_CUDA_BASE:-nvidia/cuda:12.6.3-runtime-ubuntu24.04}"
STANDIN_LABEL="aisg.template.stand-in=true"
LOG_DIR="${DOCKER_ENGINE_LOG_DIR:-/var/tmp/aisg-template-docker}"

engine_answers() {
    command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1
}

start_engine() {
    engine_answers && return 0
    if [[ "$(id -u)" != 0 ]]; then
        echo "no Docker engine answers and this user cannot start one (not root)"
        return 3
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "no Docker engine and no apt-get to install one"
            return 3
        fi
        echo "installing docker.io and debootstrap from Debian's packages" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
    fi
    mkdir -p "$LOG_DIR"
    echo "starting dockerd (log: $LOG_DIR/dockerd.log)" >&2
    setsid dockerd >"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        engine_answers && return 0
        sleep 1
    done
    echo "dockerd did not answer within 60 s; see $LOG_DIR/dockerd.log"
    return 3
}

make_rootfs() {
    local dir="$1"
    if ! command -v debootstrap >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    echo "debootstrap bookworm into $dir (about a minute)" >&2
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$dir" http://deb.debian.org/debian >"$LOG_DIR/debootstrap.log" 2>&1
    ln -sf python3 "$dir/usr/bin/python"
    # The machine's CA bundle (it may hold a TLS-inspecting proxy's root) and a pip config
    # naming it: downloads inside a build fail TLS verification without them.
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$dir/etc/pip.conf"
    # Debian's pip refuses to install outside a venv (PEP 668); the official image allows it.
    rm -f "$dir"/usr/lib/python3*/EXTERNALLY-MANAGED
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
}

make_bases() {
    if ! docker image inspect "$PYTHON_BASE" >/dev/null 2>&1; then
        mkdir -p "$LOG_DIR"
        local rootfs
        rootfs="$(mktemp -d "${TMPDIR:-/tmp}/aisg-standin.XXXXXX")"
        trap 'rm -rf "$rootfs"' RETURN
        make_rootfs "$rootfs/root"
        echo "importing the stand-in base $PYTHON_BASE" >&2
        tar -C "$rootfs/root" -c . | docker import \
            -c "LABEL $STANDIN_LABEL" -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - "$PYTHON_BASE" >/dev/null
    fi
    # The GPU image's base: the same root filesystem (python3 and apt work the same in it).
    if ! docker image inspect "$CUDA_BASE" >/dev/null 2>&1; then
        echo "tagging $PYTHON_BASE as the stand-in $CUDA_BASE" >&2
        docker tag "$PYTHON_BASE" "$CUDA_BASE"
    fi
}

case "${1:-}" in
    engine) start_engine ;;
    bases) make_bases ;;
    *) echo "usage: $0 engine|bases" >&2; exit 2 ;;
esac

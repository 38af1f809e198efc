#!/usr/bin/env python3
"""Benchmark the generated project's images: build times, sizes, start-up and request latency.

What it measures, on a default bake, with the guide's own ``docker build``/``docker run`` lines
(``tests/images/docker_guide.py``; legacy builder, ``--network host``):

* cold build of every image, the base images already present (``tools/docker_engine.sh bases``
  makes stand-ins where the official ones cannot be pulled). "Cold" means no earlier test
  image is left to reuse: the benchmark refuses to start while images with the test label
  exist, and it reports every ``Using cache`` step of the cold builds (0 for the first image);
* the API image rebuilt after one ``.py`` file of the API is edited;
* the runtime image sizes;
* the API container from ``docker run`` to ``healthy`` (its HEALTHCHECK), serving a model
  trained by the training container on the sample corpus;
* the guide's two-review request, sequential on one keep-alive connection: p50/p99 through
  the container against the same app, same model, same gunicorn settings, run on the host
  with ``--python`` (a venv holding the project's dependencies). The two servers run side
  by side and the requests alternate between them in slices of 50.

Everything it makes (containers, images, the bake) is removed at the end, also on failure.
Usage: ``make bench-images BENCH_ARGS="--python /path/to/venv/bin/python"``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TEMPLATE_DIR / "tests" / "images"), str(TEMPLATE_DIR / "tests")]
import docker_guide  # test helpers shared with the benchmark
from conftest import gpu_build_args

REPO = "movie-review-sentiment"
PKG = "movie_review_sentiment"
GUIDE_BODY = json.dumps({"reviews": [{"id": 9176, "text": "This movie is quite boring."},
                                     {"id": 71, "text": "This movie is awesome."}]}).encode()
RUNTIME = ("-data-prep.Dockerfile", "-model-training.Dockerfile", "-fastapi.Dockerfile",
           "-batch-inferencing.Dockerfile", "mlflow-tracking-server.Dockerfile")


def sh(command: str, cwd: Path | None = None, env: dict[str, str] | None = None,
       check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a bash command line; raise with its output on failure."""
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env={**os.environ, **(env or {})},
                            capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/health/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no answer on port {port}")


def latencies(port: int, count: int) -> list[float]:
    """Seconds per guide request, sequential on one keep-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("POST", "/api/v1/model/predict", body=GUIDE_BODY,
                           headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        out.append(time.perf_counter() - started)
        assert answer.status == 200
    connection.close()
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_all(project: Path, readme: str) -> tuple[dict[str, float], dict[str, str], int]:
    """Build every image with the guide's lines (as the tests do); seconds and tag per Dockerfile."""
    seconds, tags, hits = {}, {}, 0
    stack = contextlib.ExitStack()
    # As in the tests, IMAGE_TESTS_ONLY=<part>,... limits the builds (a partial measurement).
    only = [part for part in os.environ.get("IMAGE_TESTS_ONLY", "").split(",") if part]
    for dockerfile, command in sorted(docker_guide.builds(readme).items(),
                                      key=lambda item: ("-poly-" in item[0], "gpu" in item[0], item[0])):
        if only and not any(part in dockerfile for part in only):
            continue
        started = time.perf_counter()
        line = docker_guide.for_test(command, build_args=gpu_build_args(stack) if "gpu" in dockerfile else None)
        output = sh(line, cwd=project, env={"DOCKER_BUILDKIT": "0"}).stdout
        seconds[dockerfile] = time.perf_counter() - started
        tags[dockerfile] = command.image
        hits_here = output.count("Using cache")
        hits += hits_here
        print(f"  {dockerfile:60s} {seconds[dockerfile]:6.1f} s  ({hits_here} cached steps)", flush=True)
    stack.close()
    return seconds, tags, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="Python of a venv with the project's dependencies (host run)")
    parser.add_argument("--requests", type=int, default=400, help="requests per server")
    parser.add_argument("--reuse-images", action="store_true",
                        help="use the images already built (KEEP_TEST_IMAGES=1); no cold build measured")
    args = parser.parse_args()

    engine = sh(f"bash {TEMPLATE_DIR / 'tools' / 'docker_engine.sh'} engine", check=False)
    if engine.returncode != 0:
        raise SystemExit(f"no Docker engine: {engine.stdout.strip()}")
    sh(f"bash {TEMPLATE_DIR / 'tools' / 'docker_engine.sh'} bases")
    leftovers = sh(f"docker images -q --filter label={docker_guide.TEST_LABEL}").stdout.split()
    if leftovers and not args.reuse_images:
        raise SystemExit("images with the test label exist (an earlier run kept them): the cold "
                         "build would reuse them. Remove them first: docker rmi -f "
                         + " ".join(sorted(set(leftovers))))

    workdir = Path(tempfile.mkdtemp(prefix="bench-images-"))
    containers: list[str] = []
    host_server = None
    tags: dict[str, str] = {}
    try:
        sh(f"{sys.executable} -m cookiecutter --no-input -o {workdir} {TEMPLATE_DIR}")
        project = workdir / REPO
        readme = (project / "README.md").read_text(encoding="utf-8")

        print("build of every image (bases present):", flush=True)
        started = time.perf_counter()
        build_seconds, tags, hits = build_all(project, readme)
        cold = time.perf_counter() - started
        if args.reuse_images:
            print("  (images reused: this is not a cold build)", flush=True)

        api_dockerfile = f"docker/{REPO}-fastapi.Dockerfile"
        module = project / "src" / f"{PKG}_fastapi" / "config.py"
        module.write_text(module.read_text(encoding="utf-8") + "\n# edited by bench-images\n", encoding="utf-8")
        started = time.perf_counter()
        sh(docker_guide.for_test(docker_guide.builds(readme)[api_dockerfile]), cwd=project,
           env={"DOCKER_BUILDKIT": "0"})
        rebuild = time.perf_counter() - started

        sizes = {d: int(sh(f"docker image inspect -f '{{{{.Size}}}}' {tag}").stdout) for d, tag in tags.items()}

        # A model: the data-prep and training containers on the sample corpus (no tracking).
        data_prep = tags[f"docker/{REPO}-data-prep.Dockerfile"]
        train = tags[f"docker/{REPO}-model-training.Dockerfile"]
        sh(f"docker run --rm --user 0 -v {project}/data:/home/aisg/{REPO}/data --entrypoint python "
           f"{data_prep} src/get_data.py --source sample --dest data/raw/sample")
        sh("chgrp -R 2222 data && chmod -R g+rwX data && mkdir -p models && chgrp 2222 models "
           "&& chmod g+rwX models", cwd=project)
        sh(f"docker run --rm --network host -v {project}/data:/home/aisg/{REPO}/data "
           f"-e RAW_DATA_DIRS='[data/raw/sample]' -e PROCESSED_DATA_DIR=data/processed/reviews {data_prep}")
        sh(f"docker run --rm --network host -v {project}/data:/home/aisg/{REPO}/data:ro "
           f"-v {project}/models:/home/aisg/{REPO}/models -e INPUT_DATA_DIR=data/processed/reviews "
           f"-e SETUP_MLFLOW=false {train}")
        model = next(p.parent for p in (project / "models").rglob("MLmodel"))
        shutil.copytree(model, project / "models" / "champion", dirs_exist_ok=True)

        # The guide's API run with the local model folder, on a free port, 2 workers.
        port = free_port()
        name = f"bench-images-api-{port}"
        containers.append(name)
        api_run = docker_guide.runs(readme, tags[api_dockerfile])[0]
        line = docker_guide.for_test(api_run, name=name, detach=True,
                                     extra_options=f"-e API_HOST=127.0.0.1 -e API_PORT={port} -e API_WORKERS=2")
        started = time.perf_counter()
        sh(line, cwd=project)
        while time.perf_counter() - started < 180:
            health = sh(f"docker inspect -f '{{{{.State.Health.Status}}}}' {name}").stdout.strip()
            if health == "healthy":
                break
            time.sleep(0.2)
        to_healthy = time.perf_counter() - started
        if health != "healthy":
            raise SystemExit(f"API container not healthy: {health}\n{sh(f'docker logs {name}', check=False).stderr[-3000:]}")

        rows = {}
        if args.python:
            host_port = free_port()
            host_server = subprocess.Popen(
                [str(Path(args.python).parent / "gunicorn"), f"{PKG}_fastapi.main:APP", "--bind",
                 f"127.0.0.1:{host_port}", "--workers", "2", "--worker-class", "uvicorn_worker.UvicornWorker"],
                cwd=project / "src", env={**os.environ, "PRED_MODEL_PATH": str(project / "models" / "champion"),
                                          "PYTHONPATH": str(project / "src")},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            wait_ready(host_port)
            latencies(host_port, 50)
            latencies(port, 50)  # warm-up of both
            container_times, host_times = [], []
            for _ in range(max(1, args.requests // 50)):
                container_times += latencies(port, 50)
                host_times += latencies(host_port, 50)
            rows = {"container": container_times, "host": host_times}
        else:
            latencies(port, 50)
            rows = {"container": latencies(port, args.requests)}

        print("\nmeasure                                            value")
        print(f"cold build of all images (bases present)           {cold:7.1f} s  (cached steps: {hits}, from images built earlier in this run)")
        for dockerfile, value in build_seconds.items():
            print(f"  {dockerfile:50s} {value:7.1f} s")
        print(f"API image rebuild after editing one .py            {rebuild:7.1f} s")
        print(f"API container start to healthy                     {to_healthy:7.1f} s")
        for dockerfile, size in sizes.items():
            print(f"size {dockerfile:46s} {size / 1e6:7.0f} MB")
        for label, values in rows.items():
            print(f"guide request via {label:10s} p50 {1000 * statistics.median(values):6.2f} ms  "
                  f"p99 {1000 * percentile(values, 0.99):6.2f} ms  (n={len(values)})")
        if "host" in rows:
            ratio50 = statistics.median(rows["container"]) / statistics.median(rows["host"])
            ratio99 = percentile(rows["container"], 0.99) / percentile(rows["host"], 0.99)
            print(f"container / host                                   p50 {ratio50:.2f}x  p99 {ratio99:.2f}x")
        (workdir.parent / "bench-images.json").write_text(json.dumps({
            "cold_build_s": cold, "build_s": build_seconds, "cached_steps_in_cold_build": hits,
            "api_rebuild_s": rebuild, "api_start_to_healthy_s": to_healthy, "sizes_bytes": sizes,
            "latency_s": {k: {"p50": statistics.median(v), "p99": percentile(v, 0.99)} for k, v in rows.items()},
        }, indent=2))
    finally:
        if host_server is not None:
            host_server.terminate()
            host_server.wait(timeout=30)
        for name in containers:
            sh(f"docker rm -f {name}", check=False)
        if not args.reuse_images:
            for tag in tags.values():
                sh(f"docker rmi -f {tag}", check=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

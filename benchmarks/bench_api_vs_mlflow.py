#!/usr/bin/env python3
"""The project's API against ``mlflow models serve`` on the same model, in one run.

Both servers run side by side on one saved model folder, with the same number of
workers: the project's API through its own ``scripts/api-entrypoint.sh`` (gunicorn,
the shipped flags), MLflow's scoring server through ``mlflow models serve -m <folder>
--env-manager local -w <workers>`` (uvicorn workers, the model loaded through the
project's ``python_function`` loader). ``--clients`` concurrent clients, each on its own
keep-alive connection, send the guide's two-review request (to MLflow the same two
texts as ``{"inputs": [...]}``), with the load generator of ``bench_api_latency.py``.
The load alternates between the servers in slices of ``--slice-seconds`` (ABBA order),
so that a noisy, shared machine drifts alike for both. Prints req/s and p50/p90/p99
over all slices of each, and PASS/FAIL for "the project's API is ahead" (more req/s,
lower p50 and p99, no errors on either).

    python benchmarks/bench_api_vs_mlflow.py --model MODEL_DIR [--workers 2] [--clients 8]

``MODEL_DIR``: a folder written by ``train_model.py`` (``train.local_model_dir``). The
Python running this needs the baked project's dependencies (``mlflow`` and ``uvicorn``
executables beside it) and cookiecutter.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Self

sys.path.insert(0, str(Path(__file__).resolve().parent))
# pylint: disable=wrong-import-position
import bench_api_latency
import bench_serving
from bench_serving import run_demo

BIN = Path(sys.executable).parent
TEXTS = [review["text"] for review in run_demo.GUIDE_REQUEST["reviews"]]
#: What each server is sent: the guide's request, and the same two texts to MLflow.
REQUESTS = {
    "api": (bench_serving.PREDICT, bench_serving.GUIDE_BODY),
    "mlflow": ("/invocations", json.dumps({"inputs": TEXTS}).encode()),
}


class MlflowServer:
    """``mlflow models serve`` of ``model`` on a free port, stopped by PID (its own session)."""

    def __init__(self, model: Path, workers: int, env: dict[str, str], log_path: Path) -> None:
        self.port = run_demo.free_port()
        self.args = [str(BIN / "mlflow"), "models", "serve", "-m", str(model),
                     "--env-manager", "local", "-h", "127.0.0.1", "-p", str(self.port),
                     "-w", str(workers)]  # fmt: skip
        # mlflow starts its workers with the uvicorn executable, found on PATH.
        self.env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        run_demo.wait_ready(self.process, f"http://127.0.0.1:{self.port}/ping", 300,
                            self.log_path)  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        run_demo.stop(self.process)


def ask(port: int, name: str) -> list[dict[str, Any]]:
    """One request of ``name``'s kind: each text's label and probabilities."""
    path, body = REQUESTS[name]
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body,
                                     {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as answer:
        data = json.loads(answer.read())
    items = data["data"] if name == "api" else data["predictions"]
    return [{"label": item["label"], "probabilities": item["probabilities"]} for item in items]


def same_answers(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> bool:
    """Same labels and probabilities (to 1e-9): both servers run the same model."""
    return [a["label"] for a in first] == [b["label"] for b in second] and all(
        a["probabilities"].keys() == b["probabilities"].keys()
        and all(abs(p - b["probabilities"][k]) <= 1e-9 for k, p in a["probabilities"].items())
        for a, b in zip(first, second, strict=True)
    )


def interleaved(ports: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    """Slices of load, ABBA; each server's latencies pooled over its slices."""
    pooled: dict[str, dict[str, Any]] = {name: {"latencies_ms": [], "errors": 0, "rps": []}
                                         for name in ports}  # fmt: skip
    for i in range(args.slices):
        for name in (["api", "mlflow"] if i % 4 in (0, 3) else ["mlflow", "api"]):
            path, body = REQUESTS[name]
            run = bench_api_latency.load(ports[name], args.clients, args.slice_seconds,
                                         warmup=0.5, body=body, path=path)  # fmt: skip
            pooled[name]["latencies_ms"] += run["latencies_ms"]
            pooled[name]["errors"] += run["errors"]
            pooled[name]["rps"].append(run["rps"])
        print(f"  slice pair {i + 1}/{args.slices}: api {pooled['api']['rps'][-1]:.0f} req/s, "
              f"mlflow {pooled['mlflow']['rps'][-1]:.0f} req/s", file=sys.stderr, flush=True)
    seconds = args.slices * args.slice_seconds
    result = {name: bench_api_latency.summarise(run["latencies_ms"], run["errors"], seconds,
                                                args.clients)
              for name, run in pooled.items()}  # fmt: skip
    ratios = [a / max(m, 1e-9) for a, m in zip(pooled["api"]["rps"], pooled["mlflow"]["rps"],
                                                strict=True)]  # fmt: skip
    result["slice_rps_ratio"] = {"min": min(ratios), "median": statistics.median(ratios),
                                 "max": max(ratios)}  # fmt: skip
    return result


def report(result: dict[str, Any], args: argparse.Namespace, load_before: tuple) -> bool:
    """Print the table and the verdict; True when the project's API is ahead."""
    api, mlf = result["api"], result["mlflow"]
    print(f"\n{args.clients} clients, {args.workers} workers each, {args.slices} x 2 slices of "
          f"{args.slice_seconds:.0f} s (ABBA); load average before {load_before[0]:.2f}, "
          f"after {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    print(f"{'server':<22} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'requests':>8} {'errors':>6}")
    for label, run in (("project API", api), ("mlflow models serve", mlf)):
        print(f"{label:<22} {run['rps']:>7.1f} {run['p50_ms']:>7.1f} {run['p90_ms']:>7.1f} "
              f"{run['p99_ms']:>7.1f} {run['max_ms']:>7.1f} {run['requests']:>8} "
              f"{run['errors']:>6}")  # fmt: skip
    ratio = result["slice_rps_ratio"]
    print(f"\napi/mlflow req/s per slice pair: min {ratio['min']:.2f}, median "
          f"{ratio['median']:.2f}, max {ratio['max']:.2f}")
    checks = [
        (f"req/s {api['rps']:.1f} > {mlf['rps']:.1f}", api["rps"] > mlf["rps"]),
        (f"p50 {api['p50_ms']:.1f} ms < {mlf['p50_ms']:.1f} ms", api["p50_ms"] < mlf["p50_ms"]),
        (f"p99 {api['p99_ms']:.1f} ms < {mlf['p99_ms']:.1f} ms", api["p99_ms"] < mlf["p99_ms"]),
        (f"errors {api['errors']} + {mlf['errors']} == 0", api["errors"] + mlf["errors"] == 0),
    ]
    ahead = all(passed for _, passed in checks)
    print(f"\n{'PASS' if ahead else 'FAIL'}  the project's API is ahead of mlflow models serve")
    for text, passed in checks:
        print(f"  {'ok  ' if passed else 'FAIL'}  {text}")
    return ahead


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="saved model folder")
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--slices", type=int, default=8, help="slice pairs (ABBA)")
    parser.add_argument("--slice-seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    model = args.model.resolve()
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-vs-mlflow-"))
    project, _ = bench_serving.bake(workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRED_", "API_", "MLFLOW_"))}
    env.update(HOME=str(workdir), PRED_MODEL_PATH=str(model), PYTHONPATH=str(project / "src"),
               HF_HUB_OFFLINE="1")  # fmt: skip
    print(f"model {model} ({bench_api_latency.model_kind(model)}); guide request; "
          f"workdir {workdir}", flush=True)
    api = bench_serving.Server("api", project, None, None, env, workdir / "api.log")
    api.env["API_WORKERS"] = str(args.workers)
    with api, MlflowServer(model, args.workers, env, workdir / "mlflow.log") as mlf:
        ports = {"api": api.port, "mlflow": mlf.port}
        answers = {name: ask(port, name) for name, port in ports.items()}
        print(f"answers: {json.dumps(answers['api'])}", flush=True)
        if not same_answers(answers["api"], answers["mlflow"]):
            print(f"FAIL  the servers answer differently: {answers}", flush=True)
            return 1
        for name, (path, body) in REQUESTS.items():  # warm-up: every worker has answered
            bench_api_latency.load(ports[name], args.clients, 2.0, warmup=1.0, body=body,
                                   path=path)  # fmt: skip
        load_before = os.getloadavg()
        result = interleaved(ports, args)
    ahead = report(result, args, load_before)
    if args.json:
        args.json.write_text(json.dumps({"model": str(model), "workers": args.workers,
                                         "clients": args.clients, **result, "ahead": ahead},
                                        indent=2))  # fmt: skip
    return 0 if ahead else 1


if __name__ == "__main__":
    sys.exit(main())

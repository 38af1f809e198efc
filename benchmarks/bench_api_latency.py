#!/usr/bin/env python3
"""Latency of the served API under load, for any model kind (``ensemble`` included).

Starts the baked project's own ``scripts/api-entrypoint.sh`` (gunicorn, its shipped
flags, ``--workers`` workers) on a saved model, then sends the guide's two-review
request from ``--clients`` concurrent clients, each on its own keep-alive connection,
for ``--seconds``, and records every request's latency. Prints p50/p90/p99, req/s and
errors, one client alone first, and checks the issue's targets for the ensemble on
two CPU cores: p50 <= 50 ms and p99 <= 150 ms at 8 clients.

    python benchmarks/bench_api_latency.py --model MODEL_DIR [--workers 2] [--clients 8]

``MODEL_DIR`` is a model folder written by ``train_model.py`` (``train.local_model_dir``);
the Python running this needs the baked project's dependencies (the ``neural`` extra for
a transformer or an ensemble) and cookiecutter. ``--cpus 0,1`` pins the server to those
cores (``taskset``), so a bigger machine measures the 2-core case.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_serving  # pylint: disable=wrong-import-position


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summarise(latencies_ms: list[float], errors: int, seconds: float, clients: int
              ) -> dict[str, Any]:  # fmt: skip
    """req/s, p50/p90/p99 and max (ms) of the requests measured over ``seconds``."""
    ordered = sorted(latencies_ms)
    if not ordered:
        raise RuntimeError("no request completed inside the measured window")
    return {
        "clients": clients, "requests": len(ordered), "errors": errors,
        "rps": len(ordered) / seconds, "p50_ms": statistics.median(ordered),
        "p90_ms": percentile(ordered, 0.90), "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1],
    }  # fmt: skip


def load(port: int, clients: int, seconds: float, warmup: float,
         body: bytes = bench_serving.GUIDE_BODY, path: str = bench_serving.PREDICT
         ) -> dict[str, Any]:  # fmt: skip
    """``clients`` threads, each on its own keep-alive connection, POST ``body`` to ``path``
    for ``seconds``: the summary, and every request's latency (ms) in ``latencies_ms``."""
    run = bench_serving.concurrent(port, body, clients, seconds, warmup, workers=[], path=path)
    return {**summarise(run["latencies_ms"], run["errors"], seconds, clients),
            "latencies_ms": run["latencies_ms"]}  # fmt: skip


def model_kind(model: Path) -> str:
    """The ``kind`` written in the model folder's MLmodel (nbsvm, transformer, ensemble)."""
    import yaml  # pylint: disable=import-outside-toplevel

    flavors = yaml.safe_load((model / "MLmodel").read_text(encoding="utf-8"))["flavors"]
    return str(flavors["text_classifier"]["kind"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="saved model folder")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--cpus", default=None, help="pin the server to these cores, e.g. 0,1")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting, e.g. API_BATCH_REVIEWS=0 or OMP_NUM_THREADS=2 "
                             "(repeatable), to compare configurations")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-api-latency-"))
    project, _ = bench_serving.bake(workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRED_", "API_"))}
    env.update(HOME=str(workdir), PRED_MODEL_PATH=str(args.model.resolve()),
               PYTHONPATH=str(project / "src"), HF_HUB_OFFLINE="1")  # fmt: skip
    kind = model_kind(args.model)
    cpus = args.cpus or ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    server = bench_serving.Server("api", project, None, None, env, workdir / "api.log")
    server.env["API_WORKERS"] = str(args.workers)
    settings = dict(item.split("=", 1) for item in args.set)
    server.env.update(settings)
    if args.cpus:
        wrapper = workdir / "pinned-gunicorn.sh"
        wrapper.write_text(f'#!/usr/bin/env bash\nexec taskset -c {args.cpus} '
                           f'"{server.env["GUNICORN"]}" "$@"\n', encoding="utf-8")  # fmt: skip
        wrapper.chmod(0o755)
        server.env["GUNICORN"] = str(wrapper)
    print(f"model {args.model} ({kind}); {args.workers} workers on CPUs {cpus}; "
          f"guide request, {args.seconds:.0f} s per measurement; settings {settings or 'as shipped'}",
          flush=True)
    with server:
        answer = json.loads(bench_serving.post(
            http.client.HTTPConnection("127.0.0.1", server.port, timeout=60),
            bench_serving.GUIDE_BODY)[1])  # fmt: skip
        print(f"answer: {json.dumps(answer['data'])}", flush=True)
        runs = [load(server.port, clients, args.seconds, warmup=2.0)
                for clients in sorted({1, args.clients})]  # fmt: skip
    for run in runs:
        del run["latencies_ms"]
    print(f"\n{'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'errors':>6}")
    for run in runs:
        print(f"{run['clients']:>7} {run['rps']:>7.1f} {run['p50_ms']:>7.1f} "
              f"{run['p90_ms']:>7.1f} {run['p99_ms']:>7.1f} {run['max_ms']:>7.1f} "
              f"{run['errors']:>6}")  # fmt: skip
    loaded = runs[-1]
    checks = [
        (f"p50 {loaded['p50_ms']:.1f} ms <= 50 ms at {loaded['clients']} clients",
         loaded["p50_ms"] <= 50),
        (f"p99 {loaded['p99_ms']:.1f} ms <= 150 ms at {loaded['clients']} clients",
         loaded["p99_ms"] <= 150),
        (f"errors {sum(r['errors'] for r in runs)} == 0", all(r["errors"] == 0 for r in runs)),
    ]  # fmt: skip
    print()
    for text, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
    if args.json:
        args.json.write_text(json.dumps(
            {"model": str(args.model), "kind": kind, "workers": args.workers, "cpus": cpus,
             "settings": settings,
             "loadavg": os.getloadavg(), "runs": runs, "verdict": dict(checks)}, indent=2))
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

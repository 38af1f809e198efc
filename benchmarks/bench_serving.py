#!/usr/bin/env python3
"""Benchmark the generated project's API and batch inference on the IMDB train set.

What it measures (all on 127.0.0.1, bounded in count and time):

* API: latency of the guide's two-review request, sequential on one keep-alive
  connection (p50/p99), and throughput with 8 concurrent clients, for the generated
  FastAPI app and for a bare Starlette app that calls the same predictor (no
  validation). Both are started by the project's own ``scripts/api-entrypoint.sh``
  (2 workers), so they run with exactly the gunicorn flags that ship; the bare app
  only swaps the application module. Both servers run side by side and the load
  alternates between them in one-second slices (ABBA order, new connections each
  slice), so that the drift of a shared machine and the kernel's spreading of
  connections over workers hit both alike; the verdict uses the throughput over all
  slices.
* Batch: files/s of ``run_batch_inference`` over the 25,000 extracted review files
  (2 workers), against the model's own ``predict_proba`` over the same texts, already
  in memory and cleaned, in batches of the same size in one process; alternated too.

Usage (a Python with the project's dependencies and cookiecutter)::

    python benchmarks/bench_serving.py --data aclImdb-train.tar.gz [--model MODEL_DIR]

Without ``--model``, the shipped model is trained first by the project's own entry
scripts with their default configuration (``process_data.py`` then
``train_model.py`` with MLflow off and no test split; a minute or two). Results: a
table on stdout and ``<workdir>/bench-serving.json``.
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Self

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
# The demo's server helpers (standard library only): one free_port, wait and stop.
sys.path.insert(0, str(TEMPLATE_DIR / "demo"))
import run_demo  # pylint: disable=wrong-import-position

PREDICT = "/api/v1/model/predict"
READY = "/api/v1/health/ready"
GUIDE_BODY = json.dumps(run_demo.GUIDE_REQUEST).encode()

BARE_APP = '''
"""Bare Starlette reference: parse JSON, one vectorised predict, JSONResponse."""
import json
import os
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from {pkg}.modeling.predictor import Predictor

STATE = {{}}


@asynccontextmanager
async def lifespan(app):
    STATE["predictor"] = Predictor.load(os.environ["PRED_MODEL_PATH"])
    yield


async def predict(request):
    reviews = json.loads(await request.body())["reviews"]
    predictions = STATE["predictor"].predict([r["text"] for r in reviews])
    return JSONResponse(
        {{"data": [
            {{"review_id": r["id"], "label": p.label, "probability": p.probability,
              "probabilities": p.probabilities}}
            for r, p in zip(reviews, predictions)
        ]}}
    )


async def ready(request):
    return JSONResponse({{"status": "ready"}})


app = Starlette(
    routes=[Route("{predict}", predict, methods=["POST"]), Route("{ready}", ready)],
    lifespan=lifespan,
)
'''


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- set-up


def extract(tarball: Path, dest: Path) -> Path:
    """Extract the tarball's train/{pos,neg}/*.txt files; return the train folder."""
    train = dest / "aclImdb" / "train"
    if not (train / "pos").is_dir():
        log(f"extracting {tarball} -> {dest}")
        with tarfile.open(tarball) as archive:
            members = [
                m
                for m in archive.getmembers()
                if m.isfile() and ("/train/pos/" in m.name or "/train/neg/" in m.name)
            ]
            archive.extractall(dest, members=members, filter="data")
    for sub in train.iterdir():  # keep only the review folders
        if sub.name not in {"pos", "neg"}:
            shutil.rmtree(sub) if sub.is_dir() else sub.unlink()
    return train


def bake(workdir: Path) -> tuple[Path, str]:
    """Bake the template with the default answers; return (project dir, package name)."""
    from cookiecutter.main import cookiecutter  # pylint: disable=import-outside-toplevel

    out = workdir / "bake"
    shutil.rmtree(out, ignore_errors=True)
    project = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out)))
    package = next(p.name for p in (project / "src").iterdir() if (p / "modeling").is_dir())
    return project, package


def read_texts(train: Path) -> tuple[list[Path], list[str], list[int]]:
    paths = sorted(train.rglob("*.txt"))
    texts = [p.read_text(encoding="utf-8") for p in paths]
    labels = [1 if p.parent.name == "pos" else 0 for p in paths]
    return paths, texts, labels


def train_model(project: Path, raw_root: Path, workdir: Path) -> Path:
    """Train the model that ships, with the project's entry scripts and default config.

    ``raw_root`` holds ``train/{pos,neg}``. Only the overrides a run outside the
    repository needs are given: input and output paths, MLflow off, and no test
    split (the benchmark extracts only the train reviews).
    """
    processed = workdir / "processed"
    dest = workdir / "model"
    steps = [
        ["src/process_data.py", f"data_prep.raw_dirs_paths=[{raw_root}]",
         f"data_prep.processed_data_path={processed}"],
        ["src/train_model.py", f"train.data_path={processed}", "train.setup_mlflow=false",
         "train.evaluate_test=false", f"train.local_model_dir={dest}"],
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "HOME": str(workdir)}
    for step in steps:
        log(f"running {' '.join(step)}")
        start = time.perf_counter()
        with (workdir / "train.log").open("ab") as out:
            done = subprocess.run(
                [sys.executable, *step, f"hydra.run.dir={workdir / 'hydra'}"],
                cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{step[0]} failed; see {workdir / 'train.log'}")
        log(f"  done in {time.perf_counter() - start:.1f} s")
    return dest


# --------------------------------------------------------------------------- servers


class Server:
    """A server started by the project's entrypoint script, stopped by PID.

    ``app`` (``module:attribute``, importable from ``chdir``) replaces the project's
    app; every gunicorn flag comes from ``scripts/api-entrypoint.sh``.
    """

    def __init__(self, name: str, project: Path, app: str | None, chdir: Path | None,
                 env: dict[str, str], log_path: Path):  # fmt: skip
        self.name, self.project, self.log_path = name, project, log_path
        self.port = run_demo.free_port()
        self.env = {**env, "API_HOST": "127.0.0.1", "API_PORT": str(self.port),
                    "API_WORKERS": "2", "GUNICORN": str(Path(sys.executable).parent / "gunicorn")}  # fmt: skip
        if app is not None:
            # gunicorn serves the first application named: put ours first, keep the rest.
            wrapper = log_path.with_suffix(".gunicorn.sh")
            wrapper.write_text(
                f'#!/usr/bin/env bash\nshift\nexec "{self.env["GUNICORN"]}" {app} '
                f'--chdir "{chdir}" "$@"\n',
                encoding="utf-8",
            )
            wrapper.chmod(0o755)
            self.env["GUNICORN"] = str(wrapper)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        entrypoint = self.project / "scripts" / "api-entrypoint.sh"
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                ["bash", str(entrypoint)], env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        run_demo.wait_ready(self.process, f"http://127.0.0.1:{self.port}{READY}", 120, self.log_path)
        time.sleep(2.0)  # let both workers finish loading (one answering is not both)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        run_demo.stop(self.process)


def post(conn: http.client.HTTPConnection, body: bytes, path: str = PREDICT) -> tuple[int, bytes]:
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def sequential(port: int, body: bytes, count: int, warmup: int) -> dict[str, Any]:
    """Latency of ``count`` requests, one after another on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    first = None
    errors = 0
    for _ in range(warmup):
        status, data = post(conn, body)
        first = first or data
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        status, data = post(conn, body)
        latencies.append((time.perf_counter() - start) * 1000.0)
        errors += status != 200 or data != first
    conn.close()
    return {"latencies_ms": latencies, "errors": errors, "answer": json.loads(first or b"null")}


def latency_summary(latencies: list[float]) -> dict[str, Any]:
    """p50 and p99 (nearest rank) of latencies in milliseconds."""
    ordered = sorted(latencies)
    return {"p50_ms": statistics.median(ordered),
            "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "requests": len(ordered)}  # fmt: skip


def worker_pids(master: int) -> list[int]:
    """PIDs of a gunicorn master's workers (its child processes)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry))
    return sorted(pids)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def concurrent(port: int, body: bytes, clients: int, seconds: float, warmup: float,
               workers: list[int], path: str = PREDICT) -> dict:  # fmt: skip
    """Requests per second with ``clients`` threads, each on its own connection.

    Also the CPU time each server worker spent in the measured window: per request it
    is the steadiest number on a shared machine, and a worker with almost none shows
    that the connections all landed on the other one; and every measured request's
    latency in milliseconds (``latencies_ms``).
    """
    start_at = time.perf_counter() + warmup
    stop_at = start_at + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    cpu: dict[str, list[float]] = {}

    def sample_cpu() -> None:
        time.sleep(max(0.0, start_at - time.perf_counter()))
        cpu["start"] = [cpu_seconds(pid) for pid in workers]
        time.sleep(max(0.0, stop_at - time.perf_counter()))
        cpu["stop"] = [cpu_seconds(pid) for pid in workers]

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        reference = None
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                break
            try:
                status, data = post(conn, body, path)
                reference = reference or data
                ok = status == 200 and data == reference
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            ended = time.perf_counter()
            if start_at <= now and ended <= stop_at:
                latencies[i].append((ended - now) * 1000.0)
                errors[i] += not ok
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    threads.append(threading.Thread(target=sample_cpu))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    used = [b - a for a, b in zip(cpu["start"], cpu["stop"], strict=True)]
    counts = [len(per_client) for per_client in latencies]
    requests = max(1, sum(counts))
    return {"rps": sum(counts) / seconds, "requests": sum(counts), "errors": sum(errors),
            "per_client": counts, "worker_cpu_s": used,
            "cpu_ms_per_req": 1000.0 * sum(used) / requests,
            "latencies_ms": [x for per_client in latencies for x in per_client]}  # fmt: skip


def slice_pair_order(i: int) -> list[str]:
    """ABBA order: each server goes first as often as the other, and drift cancels."""
    return ["bare", "api"] if i % 4 in (0, 3) else ["api", "bare"]


def bench_api(args: argparse.Namespace, project: Path, package: str, model: Path,
              texts: list[str], workdir: Path) -> dict[str, Any]:  # fmt: skip
    """Both servers run side by side; the load alternates between them in short slices.

    A shared, noisy machine drifts over tens of seconds; slices of a second, in ABBA
    order, expose both servers to the same drift. Each slice opens new connections,
    so how the kernel spreads connections over the two workers averages out too.
    """
    bare_dir = workdir / "bare"
    bare_dir.mkdir(exist_ok=True)
    (bare_dir / "bare_app.py").write_text(
        BARE_APP.format(pkg=package, predict=PREDICT, ready=READY), encoding="utf-8"
    )
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PRED_", "API_"))}
    env = {**base_env, "HOME": str(workdir), "PRED_MODEL_PATH": str(model),
           "PYTHONPATH": str(project / "src")}  # fmt: skip
    rng = random.Random(0)
    big_body = json.dumps(
        {"reviews": [{"id": i, "text": t} for i, t in enumerate(rng.sample(texts, 100))]}
    ).encode()
    with Server("bare", project, "bare_app:app", bare_dir, env, workdir / "bare.log") as bare, \
            Server("api", project, None, None, env, workdir / "api.log") as api:
        servers = {"bare": bare, "api": api}
        workers = {name: worker_pids(server.process.pid) for name, server in servers.items()}
        result: dict[str, Any] = {name: {} for name in servers}
        log(f"sequential: {args.seq} guide requests per server, in two alternating halves")
        halves: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        for order in (["api", "bare"], ["bare", "api"]):
            for name in order:
                halves[name].append(
                    sequential(servers[name].port, GUIDE_BODY, args.seq // 2, warmup=50)
                )
        for name, server in servers.items():
            first, second = halves[name]
            changed = first["answer"] != second["answer"]
            result[name]["seq"] = {
                **latency_summary(first["latencies_ms"] + second["latencies_ms"]),
                "errors": first["errors"] + second["errors"] + changed,
                "answer": first["answer"],
            }
            big = sequential(server.port, big_body, 30, warmup=3)
            result[name]["hundred_reviews"] = {
                **latency_summary(big["latencies_ms"]), "errors": big["errors"]
            }
        log(f"throughput: {args.slices} slice pairs of {args.slice_seconds:.1f} s, "
            f"{args.clients} clients, alternating ABBA")  # fmt: skip
        slices: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        for i in range(args.slices):
            for name in slice_pair_order(i):
                slices[name].append(
                    concurrent(servers[name].port, GUIDE_BODY, args.clients,
                               args.slice_seconds, warmup=0.3, workers=workers[name])
                )  # fmt: skip
            if (i + 1) % max(1, args.slices // 4) == 0:
                pair_ratio = slices["api"][-1]["rps"] / max(slices["bare"][-1]["rps"], 1e-9)
                log(f"  slice pair {i + 1}/{args.slices}: api/bare {pair_ratio:.2f}")
        for name in servers:
            result[name]["concurrent"] = summarise_slices(slices[name], args.slice_seconds)
            seq, conc, big = (result[name][k] for k in ("seq", "concurrent", "hundred_reviews"))
            log(f"  {name:5s} seq p50 {seq['p50_ms']:.2f} ms p99 {seq['p99_ms']:.2f} ms | "
                f"@{args.clients} {conc['rps']:.0f} req/s ({conc['errors']} errors, "
                f"{conc['cpu_ms_per_req']:.2f} CPU ms/req, worker CPU shares "
                f"{'/'.join(f'{c:.0%}' for c in conc['worker_cpu_share'])}) | "
                f"100 reviews p50 {big['p50_ms']:.1f} ms")  # fmt: skip
        pair_ratios = [a["rps"] / max(b["rps"], 1e-9)
                       for a, b in zip(slices["api"], slices["bare"], strict=True)]  # fmt: skip
        quartiles = statistics.quantiles(pair_ratios, n=4)
        result["ratio"] = result["api"]["concurrent"]["rps"] / result["bare"]["concurrent"]["rps"]
        result["pair_ratio_quartiles"] = quartiles
        result["cpu_ratio"] = (result["bare"]["concurrent"]["cpu_ms_per_req"]
                               / result["api"]["concurrent"]["cpu_ms_per_req"])  # fmt: skip
        log(f"  api/bare throughput ratio {result['ratio']:.2f} (slice pairs: quartiles "
            f"{' / '.join(f'{q:.2f}' for q in quartiles)}; CPU per request bare/api "
            f"{result['cpu_ratio']:.2f})")  # fmt: skip
    return result


def summarise_slices(slices: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Totals over the slices of one server: requests per second, errors, CPU."""
    requests = sum(s["requests"] for s in slices)
    cpu = [sum(column) for column in zip(*(s["worker_cpu_s"] for s in slices), strict=True)]
    return {"rps": requests / (seconds * len(slices)), "requests": requests,
            "errors": sum(s["errors"] for s in slices), "slices": len(slices),
            "worker_cpu_s": cpu, "worker_cpu_share": [c / max(sum(cpu), 1e-9) for c in cpu],
            "cpu_ms_per_req": 1000.0 * sum(cpu) / max(requests, 1)}  # fmt: skip


# --------------------------------------------------------------------------- batch


def inference_settings(project: Path, modules: dict[str, ModuleType], *overrides: str) -> Any:
    """The project's ``inference`` section as its entry script composes it, with overrides."""
    from hydra import compose, initialize_config_dir  # pylint: disable=import-outside-toplevel

    with initialize_config_dir(config_dir=str(project / "conf")):
        cfg = compose("base/pipelines", overrides=list(overrides))
    return modules["configuration"].typed_section(
        cfg.inference, modules["batch"].BatchSettings, "inference"
    )


def bench_batch(args: argparse.Namespace, project: Path, modules: dict[str, ModuleType],
                train: Path, model: Path, texts: list[str],
                workdir: Path) -> dict[str, Any]:  # fmt: skip
    batch, predictor_mod, text_mod = modules["batch"], modules["predictor"], modules["text"]

    predictor = predictor_mod.Predictor.load(str(model))
    cleaned = text_mod.clean_texts(texts)
    size = args.batch_size
    reps = []
    for rep in range(args.reps):
        log(f"batch repetition {rep + 1}/{args.reps}")
        result: dict[str, Any] = {}
        for name in (["model", "batch"] if rep % 2 == 0 else ["batch", "model"]):
            if name == "model":
                start = time.perf_counter()
                for i in range(0, len(cleaned), size):
                    predictor.model.predict_proba(cleaned[i : i + size])
                seconds = time.perf_counter() - start
                result["model"] = {"files": len(cleaned), "seconds": seconds,
                                   "rate": len(cleaned) / seconds}  # fmt: skip
            else:
                out = workdir / f"batch-out-{rep}"
                shutil.rmtree(out, ignore_errors=True)
                start = time.perf_counter()
                summary = batch.run_batch_inference(inference_settings(
                    project, modules, f"inference.input_data_dir={train}",
                    f"inference.output_dir={out}", f"inference.model_path={model}",
                    f"inference.batch_size={size}", f"inference.num_workers={args.batch_workers}",
                    "inference.resume=false", "inference.progress=false",
                ))  # fmt: skip
                wall = time.perf_counter() - start
                with open(summary.output_path, encoding="utf-8") as output:
                    lines = sum(1 for _ in output)
                result["batch"] = {**summary.as_dict(), "wall_seconds": wall, "lines": lines}
            log(f"  {name:5s} {result[name]['rate']:.0f} files/s")
        result["ratio"] = result["batch"]["rate"] / result["model"]["rate"]
        log(f"  batch/model rate ratio {result['ratio']:.2f}")
        reps.append(result)
    return {"batch_size": size, "repetitions": reps}


# --------------------------------------------------------------------------- main


def import_project(src: Path, package: str) -> dict[str, ModuleType]:
    """The baked project's modules the batch benchmark calls, by role."""
    sys.path.insert(0, str(src))
    return {
        role: importlib.import_module(f"{package}.{module}")
        for role, module in (
            ("configuration", "configuration"),
            ("text", "data_prep.text"),
            ("predictor", "modeling.predictor"),
            ("batch", "inference.batch"),
        )
    }


def report_api(api: dict[str, Any]) -> list[tuple[str, bool]]:
    """Print the API table; return its checks (text, passed)."""
    print("\nAPI (scripts/api-entrypoint.sh, 2 workers, 127.0.0.1)")
    print(f"{'server':6} {'seq p50 ms':>10} {'seq p99 ms':>10} {'req/s @8':>9} "
          f"{'CPU ms/req':>10} {'errors':>6} {'100-rev p50 ms':>14}")  # fmt: skip
    errors = 0
    for name in ("bare", "api"):
        r = api[name]
        e = r["seq"]["errors"] + r["concurrent"]["errors"] + r["hundred_reviews"]["errors"]
        errors += e
        print(f"{name:6} {r['seq']['p50_ms']:>10.2f} {r['seq']['p99_ms']:>10.2f} "
              f"{r['concurrent']['rps']:>9.0f} {r['concurrent']['cpu_ms_per_req']:>10.2f} {e:>6} "
              f"{r['hundred_reviews']['p50_ms']:>14.1f}")  # fmt: skip
    p50, p99 = api["api"]["seq"]["p50_ms"], api["api"]["seq"]["p99_ms"]
    ratio = api["ratio"]
    quartiles = " / ".join(f"{q:.2f}" for q in api["pair_ratio_quartiles"])
    print(f"CPU-per-request ratio bare/api: {api['cpu_ratio']:.2f}; "
          f"throughput ratio per slice pair, quartiles: {quartiles}")  # fmt: skip
    return [
        (f"API guide request p50 {p50:.2f} ms < 5 ms", p50 < 5),
        (f"API guide request p99 {p99:.2f} ms < 20 ms", p99 < 20),
        (f"API/bare throughput @8 over all slices, ratio {ratio:.2f} >= 0.80", ratio >= 0.8),
        (f"API errors {errors} == 0", errors == 0),
    ]


def report_batch(batch: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """Print the batch table; return its checks (text, passed)."""
    print(f"\nBatch inference over the {batch[0]['model']['files']:,} files (rates in files/s)")
    print(f"{'rep':>3} {'model alone':>11} {'batch':>8} {'ratio':>6} {'errors':>6} {'lines':>6}")
    for i, rep in enumerate(batch, 1):
        model, batched = rep["model"], rep["batch"]
        print(f"{i:>3} {model['rate']:>11.0f} {batched['rate']:>8.0f} {rep['ratio']:>6.2f} "
              f"{batched['errors']:>6} {batched['lines']:>6}")  # fmt: skip
    bratio = statistics.median(rep["ratio"] for rep in batch)
    complete = all(rep["batch"]["lines"] == rep["model"]["files"] for rep in batch)
    return [
        (f"batch/model rate, median ratio {bratio:.2f} >= 0.90", bratio >= 0.9),
        ("batch output has one line per file", complete),
    ]


def report(results: dict[str, Any]) -> bool:
    """Print the tables of the parts that ran; return whether every target is met.

    A part skipped on the command line has no checks; the verdict covers the rest.
    """
    checks: list[tuple[str, bool]] = []
    if "api" in results:
        checks += report_api(results["api"])
    if "batch" in results:
        checks += report_batch(results["batch"]["repetitions"])
    print()
    for text, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
    results["verdict"] = dict(checks)
    return bool(checks) and all(passed for _, passed in checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="aclImdb train tarball")
    parser.add_argument("--model", type=Path, help="MLflow model folder (default: train one)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp dir)")
    parser.add_argument("--reps", type=int, default=3, help="batch repetitions")
    parser.add_argument("--seq", type=int, default=1000, help="sequential requests per server")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--slices", type=int, default=24, help="API throughput slice pairs")
    parser.add_argument("--slice-seconds", type=float, default=1.0, help="seconds per slice")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batch-workers", type=int, default=2)
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-serving-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    log(f"workdir {workdir}")
    train = extract(args.data, workdir / "data")
    project, package = bake(workdir)
    modules = import_project(project / "src", package)
    _, texts, _ = read_texts(train)
    log(f"{len(texts)} review files")
    model = args.model or train_model(project, train.parent, workdir)
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "loadavg_start": os.getloadavg(),
        },
        "model": str(model),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    if not args.skip_api:
        results["api"] = bench_api(args, project, package, model, texts, workdir)
    if not args.skip_batch:
        results["batch"] = bench_batch(args, project, modules, train, model, texts, workdir)
    results["machine"]["loadavg_end"] = os.getloadavg()
    ok = report(results)
    out = workdir / "bench-serving.json"
    out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"\nresults: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

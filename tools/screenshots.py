#!/usr/bin/env python3
"""Make the guide's screenshots in a real browser: ``make screenshots``.

Steps (progress is printed; logs go to ``<scratch>/logs/``):

1. bake a project with the default answers, install it and run its pipeline on
   the IMDB reviews of ``--imdb-tarball`` (or ``$IMDB_TARBALL``; else the
   sample corpus) with ``demo/run_demo.py``'s machinery: data preparation,
   one training run, a short Optuna sweep whose best trial gets the alias
   ``champion``;
2. start the MLflow UI on the project's embedded store and the API (gunicorn)
   serving the champion, each on a free 127.0.0.1 port;
3. drive headless Chromium (Debian's ``chromium``, through Playwright; no
   browser download) over the pages the guide shows, and save one PNG per page
   into the template's ``{{cookiecutter.repo_name}}/assets/``, quantised to stay
   under 250 KB (``pngquant`` when installed, else Pillow);
4. stop both servers, always, by their process ids;
5. unless ``--no-rehearsal``: run the project's ``scripts/rehearse-cluster.sh``
   with ``KEEP_RUNNING=1`` (Docker needed; the images are built when missing),
   capture the Polyaxon sandbox's runs list, one run's page and the bucket's
   listing on the GCS stand-in, then stop the rehearsal (its own trap removes
   what it started).

Run it with a Python that has the project's dependencies and ``playwright``
(``--venv`` names that environment; the project is installed into it)::

    python tools/screenshots.py --venv /path/to/venv
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE_DIR / "demo"))

import run_demo  # (the demo's machinery: bake, install, pipeline, servers)

ASSETS = TEMPLATE_DIR / "{{cookiecutter.repo_name}}" / "assets"
MAX_BYTES = 250_000
#: Where FastAPI's /docs page loads Swagger UI from.
#: The release the API's /docs pins (src/<pkg>_fastapi/v1/routers/docs.py, with its integrity).
SWAGGER_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0"
#: Where the rehearsal's summary gives the pages to capture.
REHEARSAL_ADDRESSES = {
    "polyaxon": r"UIs .*: Polyaxon (\S+),",
    "run": r"process-data +succeeded.* (http\S+)",
    "bucket": r"bucket listing (\S+)",
}
VIEWPORT = {"width": 1440, "height": 800}
#: Reviews typed into the try-the-model page.
TRY_REVIEWS = [
    "This movie is awesome: great acting and a wonderful story.",
    "This movie is quite boring.",
    "A dull plot, but the music is brilliant.",
]
#: The experiment, runs, sweep and champion of the project's MLflow store.
STORE_QUERY = r"""
import json
from mlflow import MlflowClient
client = MlflowClient()
(experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
model = client.search_registered_models()[0]
champion = client.get_model_version_by_alias(model.name, "champion")
print(json.dumps({
    "experiment_id": experiment.experiment_id,
    "model": model.name,
    "champion_run": champion.run_id,
    "train_run": next(r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags
                      and r.data.tags.get("run_role") != "hptuning_parent"),
    "parent_run": next(r.info.run_id for r in runs if r.data.tags.get("run_role") == "hptuning_parent"),
    "hptuning_tag": next(r.data.tags["hptuning_tag"] for r in runs if "hptuning_tag" in r.data.tags),
}))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", required=True, help="virtual environment with the project's dependencies and playwright")
    parser.add_argument("--cookiecutter", help="cookiecutter executable (default: a cached tools venv)")
    parser.add_argument("--trials", type=int, default=4, help="Optuna trials of the sweep (default 4)")
    parser.add_argument("--scratch", help="folder for the baked project and logs (default: scratch/screenshots-<time>)")
    parser.add_argument("--imdb-tarball", default=os.environ.get("IMDB_TARBALL"),
                        help="run the pipeline on these IMDB reviews (default: $IMDB_TARBALL; without one, the "
                        "sample corpus, whose metrics are all about 1.0)")
    parser.add_argument("--project", help="reuse a project whose pipeline already ran (skips steps 1-6)")
    parser.add_argument("--out", default=str(ASSETS), help=f"where the PNGs go (default: {ASSETS})")
    parser.add_argument("--swagger-ui-dist", default=os.environ.get("SWAGGER_UI_DIST"),
                        help="offline: an unpacked npm swagger-ui-dist@5.35.0 folder served in place of the CDN "
                        "that the API's /docs loads (`npm pack swagger-ui-dist@5.35.0`); default: the CDN")
    parser.add_argument("--no-rehearsal", dest="rehearsal", action="store_false",
                        help="skip the cluster rehearsal's screenshots (they need Docker)")
    parser.add_argument("--polyaxon-venv", help="venv of the Polyaxon sandbox for the rehearsal "
                        "(default: the project's .venv-polyaxon, made on first use)")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM") or shutil.which("chromium"),
                        help="Chromium executable (default: $CHROMIUM or chromium on PATH)")
    return parser.parse_args(argv)


@contextlib.contextmanager
def server(name: str, cmd: list[str], cwd: Path, env: dict[str, str], ready_url: str, logs: Path) -> Iterator[None]:
    """Run a server in its own session until the block ends; stop it by its PID."""
    log = logs / f"{name}.log"
    print(f"      $ {' '.join(cmd)}", flush=True)
    with log.open("w", encoding="utf-8") as handle:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            cmd, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        print(f"      {name}: PID {process.pid}", flush=True)
        try:
            run_demo.wait_ready(process, ready_url, timeout=180, log=log)
            yield
        finally:
            run_demo.stop(process)
            print(f"      {name}: PID {process.pid} stopped", flush=True)


def shrink(png: Path) -> int:
    """Quantise ``png`` in place to a palette image; return its size in bytes."""
    if shutil.which("pngquant"):
        subprocess.run(["pngquant", "--force", "--skip-if-larger", "--quality=60-90", "--speed", "1",
                        "--output", str(png), str(png)], check=False)
    else:
        from PIL import Image  # pylint: disable=import-outside-toplevel

        with Image.open(png) as image:
            image.convert("RGB").quantize(colors=128).save(png, optimize=True)
    return png.stat().st_size


class Shooter:
    """Saves screenshots of pages into the output folder."""

    def __init__(self, browser: Any, out: Path, debug: Path, swagger_ui_dist: str | None = None) -> None:
        self.browser = browser
        self.out = out
        self.debug = debug
        self.swagger_ui_dist = Path(swagger_ui_dist) if swagger_ui_dist else None
        self.made: list[tuple[Path, int]] = []

    def shoot(self, name: str, url: str, prepare: Callable[[Any], None] | None = None,
              height: int = VIEWPORT["height"]) -> None:
        """Open ``url``, let ``prepare`` act on the page, save ``<name>.png``."""
        context = self.browser.new_context(viewport={"width": VIEWPORT["width"], "height": height},
                                           timezone_id="UTC")
        if self.swagger_ui_dist is not None:
            local = self.swagger_ui_dist
            context.route(f"{SWAGGER_CDN}/**", lambda route: route.fulfill(
                path=str(local / route.request.url.rsplit("/", 1)[-1])))
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        if prepare is not None:
            try:
                prepare(page)
            except Exception:
                page.screenshot(path=str(self.debug / f"{name}-FAILED.png"))
                raise
        page.wait_for_timeout(800)  # let charts and transitions settle
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path))
        context.close()
        size = shrink(path)
        if size > MAX_BYTES:
            raise RuntimeError(f"{path} is {size} bytes, over {MAX_BYTES}")
        self.made.append((path, size))
        print(f"      {path.name}: {size / 1000:.0f} KB", flush=True)


def mlflow_tidy(page: Any) -> None:
    """Close MLflow's assistant panel and switch the UI to its model-training mode.

    Switching modes leaves the page for the runs list; the page is opened again.
    """
    url = page.url
    with contextlib.suppress(Exception):
        page.get_by_role("button", name="Close").first.click(timeout=5_000)
    with contextlib.suppress(Exception):
        page.get_by_text("Model training", exact=True).click(timeout=5_000)
    page.wait_for_timeout(500)
    if page.url != url:
        page.goto(url)


def runs_table(page: Any, columns: list[str], expand: bool, search: str = "") -> None:
    """Show ``columns`` (toggled in the Columns menu), filter, expand the sweep's parent run."""
    mlflow_tidy(page)
    page.get_by_text("hptuning-", exact=False).first.wait_for()
    if search:
        box = page.locator("input[placeholder*='metrics.']").first
        box.fill(search)
        box.press("Enter")
        page.wait_for_timeout(1000)
    page.get_by_role("button", name="Columns").click()
    search = page.get_by_placeholder("Search columns")
    for name in columns:
        search.fill(name)
        page.get_by_text(name, exact=True).last.click()
    page.keyboard.press("Escape")
    if expand:
        page.locator("button[data-component-id*='runnamecellrenderer']").first.click()
        page.get_by_text("hptuning-", exact=False).first.wait_for()


def mlflow_pages(shooter: Shooter, ui: str, store: dict[str, str]) -> None:
    """The experiment's runs, one run's plots, the sweep and the registered model."""
    experiment = f"{ui}/#/experiments/{store['experiment_id']}"
    metrics = ["val_accuracy", "test_accuracy", "test_roc_auc"]
    shooter.shoot("mlflow-experiment-runs", f"{experiment}/runs",
                  lambda page: runs_table(page, ["Dataset", "Source", *metrics], expand=False), height=480)

    search = f"tags.hptuning_tag = '{store['hptuning_tag']}'"
    shooter.shoot("mlflow-sweep-trials", f"{experiment}/runs",
                  lambda page: runs_table(page, ["Dataset", "Source", "Models", "hptuning_tag", *metrics],
                                          expand=True, search=search), height=520)

    run = f"{experiment}/runs/{store['train_run']}"

    def overview(page: Any) -> None:
        mlflow_tidy(page)
        page.get_by_text("test_accuracy").first.wait_for()

    shooter.shoot("mlflow-run-overview", run, overview)
    for plot in ("test_confusion_matrix", "test_roc_curve"):

        def show_plot(page: Any, name: str = plot) -> None:
            mlflow_tidy(page)
            page.get_by_text(f"plots/{name}.png").first.wait_for()
            page.wait_for_timeout(2_000)  # the image itself (MLflow keeps polling: no network idle)

        shooter.shoot(f"mlflow-run-{plot.removeprefix('test_').replace('_', '-')}",
                      f"{run}/artifacts/plots/{plot}.png", show_plot)

    def model(page: Any) -> None:
        mlflow_tidy(page)
        page.get_by_text("champion").first.wait_for()

    shooter.shoot("mlflow-registered-model-champion", f"{ui}/#/models/{store['model']}", model, height=560)


def api_pages(shooter: Shooter, api: str) -> None:
    """FastAPI's /docs with the predict example, and the try-the-model page."""

    def open_predict(page: Any) -> None:
        page.locator("#operations-model-predict_api_v1_model_predict_post, .opblock-post").first.click()
        page.get_by_text("Example Value").first.wait_for()
        page.locator(".opblock-post").first.scroll_into_view_if_needed()

    shooter.shoot("fastapi-docs-predict", f"{api}/docs", open_predict, height=1000)

    def classify(page: Any) -> None:
        page.get_by_label("Reviews, one per line").fill("\n".join(TRY_REVIEWS))
        page.keyboard.press("Control+Enter")
        page.locator("#predictions tbody tr").first.wait_for()

    shooter.shoot("try-the-model", f"{api}/try", classify, height=720)


@contextlib.contextmanager
def rehearsal(demo: run_demo.Demo, logs: Path, polyaxon_venv: str | None) -> Iterator[dict[str, str]]:
    """Run the project's cluster rehearsal, services kept up; yield its addresses; stop it."""
    assert demo.project is not None and demo.bin_dir is not None
    log = logs / "rehearsal.log"
    env = {**demo.env(), "KEEP_RUNNING": "1", "REHEARSAL_DIR": str(logs.parent / "rehearsal"),
           "PYTHON": str(demo.bin_dir / "python")}
    if polyaxon_venv:
        env["POLYAXON_VENV"] = str(Path(polyaxon_venv).resolve())
    print(f"      $ KEEP_RUNNING=1 bash scripts/rehearse-cluster.sh  (log: {log})", flush=True)
    with log.open("w", encoding="utf-8") as handle:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            ["bash", "scripts/rehearse-cluster.sh"], cwd=demo.project, env=env,
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 3600  # the first run builds six images
            while "services kept up" not in log.read_text(encoding="utf-8"):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-25:])
                    raise run_demo.DemoError(f"the rehearsal failed; last lines of {log}:\n{tail}")
                time.sleep(2)
            yield {name: summary_address(log, pattern) for name, pattern in REHEARSAL_ADDRESSES.items()}
        finally:
            run_demo.stop(process)
            print(f"      rehearsal: PID {process.pid} stopped (its trap removed its containers)", flush=True)


def summary_address(log: Path, pattern: str) -> str:
    """The address that ``pattern``'s group matches in the rehearsal's summary, in ``log``."""
    match = re.search(pattern, log.read_text(encoding="utf-8"))
    if match is None:
        raise run_demo.DemoError(f"no match for {pattern!r} in the rehearsal's summary, {log}")
    return match.group(1)


def bucket_listing(url: str) -> str:
    """An HTML page listing the objects that the GCS JSON API at ``url`` returns (size, name)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        items = json.load(response).get("items", [])
    bucket = url.split("/b/", 1)[1].split("/", 1)[0]
    rows = "\n".join(f"{int(item['size']):>10,}  {item['updated'][:19]}  gs://{bucket}/{item['name']}"
                     for item in items)
    return (f"<html><body style='font: 13px monospace; margin: 16px'><b>{len(items)} objects in gs://{bucket}"
            f"</b> (the GCS stand-in's JSON API: {html.escape(url)})<pre>{html.escape(rows)}</pre></body></html>")


def rehearsal_pages(shooter: Shooter, urls: dict[str, str]) -> None:
    """The Polyaxon runs list, one run's page, and the bucket's objects on the GCS stand-in."""

    def runs(page: Any) -> None:
        page.get_by_text("batch-inference").first.wait_for()

    shooter.shoot("polyaxon-rehearsal-runs", urls["polyaxon"], runs, height=560)

    def run(page: Any) -> None:
        page.get_by_text("gs://").first.wait_for()

    shooter.shoot("polyaxon-rehearsal-run", urls["run"], run, height=1240)
    listing = bucket_listing(urls["bucket"])
    shooter.shoot("gcs-rehearsal-bucket", urls["bucket"], lambda page: page.set_content(listing), height=720)


def main(argv: list[str] | None = None) -> int:
    """Make every screenshot; return the exit status."""
    args = parse_args(argv)
    if not args.chromium:
        print("No chromium executable: apt-get install chromium (or set CHROMIUM)", file=sys.stderr)
        return 2
    started = time.monotonic()
    scratch = Path(args.scratch or TEMPLATE_DIR / "scratch" / f"screenshots-{time.strftime('%Y%m%d-%H%M%S')}")
    scratch = scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    demo_args = argparse.Namespace(fast=False, data="imdb" if args.imdb_tarball else "sample",
                                   imdb_tarball=args.imdb_tarball, trials=args.trials,
                                   venv=args.venv, cookiecutter=args.cookiecutter)
    demo = run_demo.Demo(demo_args, scratch, scratch / "cache")
    run_demo.STEPS = 9 if args.rehearsal else 8
    try:
        if args.project:
            demo.project = Path(args.project).resolve()
            demo.bin_dir = Path(args.venv).resolve() / "bin"
        else:
            demo.bake()
            demo.install()
            demo.get_data()
            demo.pipeline()
    except run_demo.DemoError as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        return 1
    assert demo.project is not None and demo.bin_dir is not None
    # Installed with the project's dev extra (step 2) when this Python is the project's venv.
    from playwright.sync_api import sync_playwright  # pylint: disable=import-outside-toplevel

    env = demo.env()
    store = json.loads(demo.run("store-query", [str(demo.bin_dir / "python"), "-c", STORE_QUERY],
                                cwd=demo.project, env=env, show="python -c <find the runs to show>"))
    logs = scratch / "logs"
    since = demo.step("Starting the MLflow UI and the API; capturing pages with headless Chromium")
    ui_port, api_port = run_demo.free_port(), run_demo.free_port()
    ui, api = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{api_port}"
    pkg = run_demo.package_name(demo.project)
    mlflow_ui = [str(demo.bin_dir / "mlflow"), "ui", "--backend-store-uri", "sqlite:///mlflow.db",
                 "--host", "127.0.0.1", "--port", str(ui_port), "--workers", "1"]
    gunicorn = [str(demo.bin_dir / "gunicorn"), f"{pkg}_fastapi.main:APP", "-b", f"127.0.0.1:{api_port}",
                "-w", "1", "-k", "uvicorn_worker.UvicornWorker"]
    api_env = {**env, "PRED_MODEL_URI": f"models:/{store['model']}@champion"}
    with server("mlflow-ui", mlflow_ui, demo.project, env, f"{ui}/health", logs), \
            server("api", gunicorn, demo.project / "src", api_env, f"{api}/api/v1/health/ready", logs), \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True)
        shooter = Shooter(browser, out, logs, args.swagger_ui_dist)
        try:
            mlflow_pages(shooter, ui, store)
            api_pages(shooter, api)
            demo.done(since)
            if args.rehearsal:
                since = demo.step("Rehearsing the cluster (Docker); capturing Polyaxon and the bucket")
                with rehearsal(demo, logs, args.polyaxon_venv) as urls:
                    rehearsal_pages(shooter, urls)
                demo.done(since)
        except run_demo.DemoError as error:
            print(f"\nFAILED: {error}", file=sys.stderr)
            return 1
        finally:
            browser.close()
    print("\nScreenshots (embedded in the guide, README.md):")
    for path, size in shooter.made:
        print(f"  {path}  {size / 1000:.0f} KB")
    print(f"Logs: {logs}\nTotal time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The guide's cluster tracking path, on this machine: data and artifacts on GCS.

The GCS emulator (fake-gcs-server) stands in for the bucket and a PostgreSQL database
for the server's store. As in the guide: ``scripts/mlflow-tracking-server.sh`` with
``MLFLOW_ARTIFACTS_DESTINATION=gs://...``, ``python src/train_model.py`` on a ``gs://``
dataset, and the API under gunicorn serving ``models:/<name>/<version>`` from the server.
The server proxies the artifacts: the API runs with no emulator variable at all, so it
can only load the model from the bucket through the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pipeline_testkit import REPO_ROOT, GcsBucket, run_script, stop_process
from serving_support import GUIDE_REQUEST, free_port, wait_until_answering

pytestmark = [pytest.mark.gcs, pytest.mark.postgres, pytest.mark.slow]

BIN = Path(sys.executable).parent
MODEL = "gcs-rehearsal"
#: What points a client at the emulator (pipeline_testkit.gcs_client_env), or at a real bucket.
GCS_VARIABLES = ("STORAGE_EMULATOR_HOST", "NO_GCE_CHECK", "CLOUDSDK_CONFIG",
                 "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "GOOGLE_APPLICATION_CREDENTIALS")


def without_gcs(home: Path, **values: str) -> dict[str, str]:
    """This environment without any GCS setting (and a HOME of its own), plus ``values``."""
    env = {k: v for k, v in os.environ.items() if k not in GCS_VARIABLES}
    env = {k: v for k, v in env.items() if not k.startswith(("PRED_MODEL_", "MLFLOW_TRACKING"))}
    return {**env, "HOME": str(home), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **values}


@contextmanager
def tracking_server(bucket: GcsBucket, store_url: str, folder: Path) -> Iterator[str]:
    """``scripts/mlflow-tracking-server.sh``: store in PostgreSQL, artifacts in the bucket."""
    port = free_port()
    env = {
        **os.environ, "WORKING_DIR": str(folder), "MLFLOW": str(BIN / "mlflow"),
        "MLFLOW_BACKEND_STORE_URI": store_url.replace("postgresql://", "postgresql+psycopg2://", 1),
        "MLFLOW_ARTIFACTS_DESTINATION": bucket.url("mlflow-tracking-server"),
        "MLFLOW_PORT": str(port), "MLFLOW_WORKERS": "1",
    }  # fmt: skip
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [REPO_ROOT / "scripts" / "mlflow-tracking-server.sh"], env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        # A longer wait than the default: on a busy machine it has taken over 90 s.
        wait_until_answering(f"http://127.0.0.1:{port}/health", proc, log, timeout=240)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[str]:
    """The guide's ``cd src && gunicorn <pkg>_fastapi.main:APP ... -k <uvicorn worker>``."""
    port = free_port()
    app = next((REPO_ROOT / "src").glob("*_fastapi")).name + ".main:APP"
    args = [str(BIN / "gunicorn"), app, "-b", f"127.0.0.1:{port}", "-w", "1",
            "-k", "uvicorn_worker.UvicornWorker"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=REPO_ROOT / "src", env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/api/v1/health/ready", proc, log, timeout=240)
        yield url
    finally:
        stop_process(proc)  # SIGTERM: gunicorn stops its workers


def test_train_on_gs_data_track_on_a_server_with_gs_artifacts_and_serve_from_it(
    gcs_bucket: GcsBucket, tiny_dataset: Path, postgres_database: tuple[str, str],
    tmp_path: Path,
) -> None:
    data = gcs_bucket.upload(tiny_dataset, "data/processed/reviews")
    store_url, _ = postgres_database
    with tracking_server(gcs_bucket, store_url, tmp_path) as server:
        train = run_script(
            "train_model.py",
            [f"train.data_path={data}", f"train.mlflow_tracking_uri={server}",
             "train.mlflow_exp_name=gcs-rehearsal", f"train.registered_model_name={MODEL}",
             f"train.local_model_dir={tmp_path}/models/model", "train.model.hash_bits=16",
             "train.val_split=0.2"],
            cwd=tmp_path,
        )  # fmt: skip
        assert train.returncode == 0, train.stderr[-3000:]
        assert f"Registered as models:/{MODEL}/1" in train.stderr
        artifacts = gcs_bucket.objects("mlflow-tracking-server")
        assert [name for name in artifacts if name.endswith("/MLmodel")], artifacts
        assert not (tmp_path / "mlartifacts").exists()  # nothing beside the server

        env = without_gcs(tmp_path, PRED_MODEL_URI=f"models:/{MODEL}/1", MLFLOW_TRACKING_URI=server)
        with gunicorn(env, tmp_path / "gunicorn.log") as api:
            answer = httpx.post(f"{api}/api/v1/model/predict", json=GUIDE_REQUEST, timeout=30)
            version = httpx.get(f"{api}/api/v1/model/version", timeout=10).json()["data"]
    assert answer.status_code == 200, answer.text
    predictions = {item["review_id"]: item["label"] for item in answer.json()["data"]}
    assert set(predictions) == {9176, 71}
    assert predictions[9176] == "negative"  # "boring" is a negative word of the training data
    assert (version["registered_name"], version["version"]) == (MODEL, "1")

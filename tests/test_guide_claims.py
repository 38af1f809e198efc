"""What the guide says about the project is what the project does.

Commands of the generated README that need a cluster, a cloud account or Docker
cannot run here; these tests check each against the file it names: the images
it builds against the CI jobs that build them, the Services it forwards against
the manifests, the secrets it creates against the specs that mount them, the
Hydra keys it overrides against ``conf/base/``, the CLI version it pins against
the one the template validates with, the model-setting order against the code.
They also check the guide's pictures and that the baked project speaks to its
user only (no text about the template's own tests or files).
"""

from __future__ import annotations

import re
import shlex
import struct
from pathlib import Path

import pytest
import yaml

from guide import BASH_BLOCK

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<path>[^)\s]+)\)")
MAX_IMAGE_BYTES = 250_000
#: Services of the platform itself (Polyaxon's chart), not of this project.
PLATFORM_SERVICES = {"polyaxon-polyaxon-gateway"}


@pytest.fixture(scope="module")
def readme(baked_default: Path) -> str:
    return (baked_default / "README.md").read_text(encoding="utf-8")


def commands(readme: str, program: str) -> list[list[str]]:
    """The guide's commands that start with ``program``, continuation lines joined, as words."""
    found = []
    for body in BASH_BLOCK.findall(readme):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith(program + " "):
                found.append(shlex.split(line, comments=True))
    return found


def ci_images(project: Path) -> dict[str, str]:
    """Image name -> Dockerfile, from the build jobs of .gitlab-ci.yml."""
    ci = yaml.safe_load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    return {
        job["variables"]["IMAGE_NAME"]: job["variables"]["DOCKERFILE"]
        for name, job in ci.items()
        if name.startswith("build:") and isinstance(job, dict)
    }


def image_name(reference: str) -> str:
    """``asia.gcr.io/<id>[/<subdir>]/<name>:<tag>`` -> ``<name>``."""
    return reference.rsplit("/", 1)[-1].split(":", 1)[0]


# ------------------------------------------------------------------------------ images


def test_every_docker_build_matches_the_ci_job_of_its_dockerfile(baked_default: Path, readme: str) -> None:
    builds = commands(readme, "docker build")
    assert len(builds) >= 7
    images = ci_images(baked_default)
    problems = []
    for words in builds:
        name = image_name(words[words.index("-t") + 1])
        dockerfile = words[words.index("-f") + 1]
        if not (baked_default / dockerfile).is_file():
            problems.append(f"{dockerfile}: no such Dockerfile")
        elif images.get(name) != Path(dockerfile).name:
            problems.append(f"{name}: CI builds it from {images.get(name)}, the guide from {dockerfile}")
    assert problems == []


def test_every_image_a_job_runs_is_one_ci_builds(baked_default: Path, readme: str) -> None:
    images = ci_images(baked_default)
    used = [
        image_name(word.split("=", 1)[1])
        for words in commands(readme, "polyaxon run")
        for word in words
        if word.startswith("DOCKER_IMAGE=")
    ]
    assert len(used) >= 6
    assert sorted(set(used) - set(images)) == []


# ------------------------------------------------------------------ cluster resources


def _manifests(project: Path) -> list[dict]:
    docs = []
    for path in sorted((project / "aisg-context" / "k8s").rglob("*.yml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def test_forwarded_services_exist_in_the_manifests(baked_default: Path, readme: str) -> None:
    services = {d["metadata"]["name"] for d in _manifests(baked_default) if d["kind"] == "Service"}
    forwarded = {
        word.removeprefix("service/")
        for words in commands(readme, "kubectl port-forward")
        for word in words
        if word.startswith("service/")
    }
    assert {"mlflow-server-svc", "fastapi-server-svc"} <= forwarded
    assert sorted(forwarded - services - PLATFORM_SERVICES) == []
    assert "mlflow-nginx-server-svc" not in readme.split("## Coming from the original template")[0]


def test_created_secrets_are_the_ones_the_specs_use(baked_default: Path, readme: str) -> None:
    created = {
        words[words.index("secret") + 2]
        for words in commands(readme, "kubectl create")
        if "secret" in words
    }
    assert {"gcp-imagepullsecrets", "gcp-sa-credentials", "mlflow-tracking-credentials"} <= created
    specs = "\n".join(
        p.read_text(encoding="utf-8")
        for p in (baked_default / "aisg-context").rglob("*.yml")
    )
    assert sorted(name for name in created if name not in specs) == []


def test_the_data_the_process_job_reads_is_what_get_data_writes(readme: str) -> None:
    """The cluster path puts the raw data where the data preparation job reads it."""
    runs = {words[words.index("-f") + 1].rsplit("/", 1)[-1]: words for words in commands(readme, "polyaxon run")}
    get_data = dict(w.split("=", 1) for w in runs["get-data.yml"] if "=" in w and not w.startswith("-"))
    process = dict(w.split("=", 1) for w in runs["process-data.yml"] if "=" in w and not w.startswith("-"))
    assert yaml.safe_load(process["RAW_DATA_DIRS"]) == [get_data["DEST"]]
    assert readme.index("get-data.yml") < readme.index("process-data.yml")


def test_polyaxon_cli_pin_is_the_validated_version(readme: str) -> None:
    validators = (TEMPLATE_DIR / "requirements" / "validators.txt").read_text(encoding="utf-8")
    (pin,) = re.findall(r"^polyaxon==(\S+)", validators, flags=re.M)
    versions = re.findall(r"pip install polyaxon==([0-9][\w.]*)", readme)
    assert versions, "the guide does not say how to install the Polyaxon CLI"
    assert set(versions) == {pin}
    assert re.findall(r"pip install polyaxon(?!==)", readme) == [], "an unpinned install"


# ------------------------------------------------------------------------ configuration


def _keys(tree: object, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return set()
    found = set()
    for key, value in tree.items():
        found.add(prefix + str(key))
        found |= _keys(value, f"{prefix}{key}.")
    return found


def test_hydra_keys_the_guide_overrides_exist(baked_default: Path, readme: str) -> None:
    conf = baked_default / "conf" / "base"
    keys = _keys(yaml.safe_load((conf / "pipelines.yaml").read_text(encoding="utf-8")))
    tuning_text = (conf / "train-model-hptuning.yaml").read_text(encoding="utf-8")
    keys |= _keys(yaml.safe_load(re.sub(r"\{\{.*?\}\}", "x", tuning_text)))
    options = {path.stem: yaml.safe_load(path.read_text(encoding="utf-8"))
               for path in sorted((baked_default / "conf" / "model").glob("*.yaml"))}  # fmt: skip
    for option in options.values():
        keys |= _keys({key: value for key, value in option.items() if key != "search_space"})
    named = set(re.findall(r"(?<![\w.$-])((?:data_prep|train|inference|hptuning|hydra\.sweeper)\.[a-z_][\w.]*?)=", readme))
    assert len(named) >= 8, sorted(named)
    assert sorted(named - keys) == []
    # The search-space keys the guide names are the default model's, which the sweeper takes.
    assert "${search_space}" in tuning_text
    for key in ("train.model.C", "train.model.ngram_max", "train.model.nb_alpha"):
        assert key in options["nbsvm"]["search_space"] and f"`{key}`" in readme
    # Every model option the guide names exists.
    assert set(re.findall(r"`model=(\w+)`", readme)) == set(options)


def test_configuration_files_the_guide_names_are_yaml(readme: str) -> None:
    before_history = readme.split("## Coming from the original template")[0]
    assert re.findall(r"conf/base/[\w-]+\.yml\b", before_history) == []


# --------------------------------------------------------------------------- serving


def _order(text: str) -> list[str]:
    names = re.findall(r"PRED_MODEL_(URI|PATH|UUID)", text)
    return list(dict.fromkeys(names))


def test_model_setting_order_is_the_codes(baked_default: Path, readme: str) -> None:
    pkg = next(p for p in (baked_default / "src").glob("*_fastapi"))
    config = (pkg / "config.py").read_text(encoding="utf-8")
    code_order = [m[1] for m in sorted(re.findall(r"^(\d)\. ``PRED_MODEL_(URI|PATH|UUID)``", config, flags=re.M))]
    assert code_order == ["URI", "PATH", "UUID"]
    table = readme[readme.index("| setting | example | meaning |"):]
    table = table[: table.index("\n\n")]
    assert _order(table) == code_order
    entrypoint = (baked_default / "scripts" / "api-entrypoint.sh").read_text(encoding="utf-8")
    comment = entrypoint.split("# Inputs")[0]
    assert _order(comment) == code_order


def test_no_cloud_sdk_claim_for_images_without_it(baked_default: Path, readme: str) -> None:
    dockerfiles = "\n".join(p.read_text(encoding="utf-8") for p in (baked_default / "docker").glob("*.Dockerfile"))
    if "google-cloud-sdk" not in dockerfiles and "google-cloud-cli" not in dockerfiles:
        assert "images carry the Cloud SDK" not in readme
        assert "images do not carry the Cloud SDK" in readme


# ----------------------------------------------------------------------- the user only


def test_baked_project_speaks_to_its_user_only(baked_default: Path, readme: str) -> None:
    assert "How this guide is tested" not in readme
    assert "template's own tests" not in readme
    texts = {
        str(p.relative_to(baked_default)): p.read_text(encoding="utf-8")
        for p in (baked_default / "src").rglob("*.py")
        if "tests" not in p.parts
    }
    leaks = sorted(
        name for name, text in texts.items()
        if re.search(r"template root|project template|make bench", text)
    )
    assert leaks == []
    nbsvm = next(t for n, t in texts.items() if n.endswith("modeling/nbsvm.py"))
    assert "CountVectorizer" not in nbsvm and "HashingVectorizer" in nbsvm


def test_gitignore_comments_name_files_that_exist(baked_default: Path) -> None:
    gitignore = (baked_default / ".gitignore").read_text(encoding="utf-8")
    named = re.findall(r"^#.*?\b((?:conf|src|docs|scripts)/[\w./-]+)", gitignore, flags=re.M)
    assert sorted(n for n in named if not (baked_default / n).exists() and not n.endswith("/")) == []
    assert "conf/local/README" not in gitignore


# ------------------------------------------------------------------------------ pictures


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_every_picture_is_shown_exists_and_is_small(baked_default: Path, readme: str) -> None:
    shown = {m["path"]: m["alt"] for m in IMAGE.finditer(readme)}
    assert len(shown) >= 7
    assets = {f"assets/{p.name}" for p in (baked_default / "assets").iterdir() if p.name != ".gitkeep"}
    assert sorted(set(shown) - assets) == [], "pictures the guide shows but assets/ lacks"
    assert sorted(assets - set(shown)) == [], "pictures in assets/ that the guide does not show"
    for path, alt in shown.items():
        assert alt.strip(), f"{path} has no alt text"
        file = baked_default / path
        assert file.stat().st_size < MAX_IMAGE_BYTES, f"{path}: {file.stat().st_size} bytes"
        width, height = _png_size(file)
        assert 400 <= width <= 2000 and 200 <= height <= 2000, (path, width, height)


def test_the_screenshots_the_issue_asks_for_are_there(readme: str) -> None:
    shown = " ".join(m["alt"].lower() for m in IMAGE.finditer(readme))
    for subject in ("runs with their metrics", "confusion matrix", "roc curve", "hptuning_tag",
                    "champion alias", "predict endpoint", "try-the-model page"):
        assert subject in shown, subject

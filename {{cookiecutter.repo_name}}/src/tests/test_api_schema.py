"""Property-based check of the API against its own OpenAPI schema (schemathesis).

Schemathesis generates requests from ``/api/v1/openapi.json``, valid and invalid,
sends them to the app in-process (ASGI) and runs every one of its checks on each
answer: no server error, status codes and bodies as documented, valid data
accepted (ST202 when refused), invalid data refused. Examples are bounded and
derandomized, so the run is repeatable.
"""

from __future__ import annotations

import schemathesis
from hypothesis import settings
from schemathesis.checks import CHECKS, load_all_checks
from serving_support import TINY_LABELS, fit_tiny_model

from {{ cookiecutter.src_package_name }}.modeling.predictor import DecisionRule, ModelInfo, Predictor
from {{ cookiecutter.src_package_name }}_fastapi.config import Settings
from {{ cookiecutter.src_package_name }}_fastapi.main import create_app

APP = create_app(
    Settings(
        PRED_MODEL_URI=None,
        PRED_MODEL_PATH=None,
        PRED_MODEL_UUID=None,
        API_MAX_REVIEWS=20,
        API_MAX_REVIEW_CHARS=500,
    )
)
# What the lifespan does, without MLflow: the model object itself (three labels).
APP.state.predictor = Predictor(
    fit_tiny_model("three"), DecisionRule(TINY_LABELS["three"]), ModelInfo(uri="tiny-test-model")
)
SCHEMA = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)
load_all_checks()
#: Every check schemathesis has (as ``--checks all``), none left out.
ALL_CHECKS = CHECKS.get_all()


def test_all_checks_are_run() -> None:
    names = {check.__name__ for check in ALL_CHECKS}
    assert {"not_a_server_error", "positive_data_acceptance", "negative_data_rejection",
            "response_schema_conformance", "status_code_conformance"} <= names  # fmt: skip


@SCHEMA.parametrize()
@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=ALL_CHECKS)


def test_repeated_review_ids_the_schema_allows_are_accepted() -> None:
    # ST202 before: the schema allowed repeated ids and the API refused them with 422.
    reviews = [{"id": 7, "text": "The team scored a goal."}, {"id": 7, "text": "Shares rose."}]
    case = SCHEMA["/api/v1/model/predict"]["POST"].Case(body={"reviews": reviews},
                                                          media_type="application/json")
    response = case.call_and_validate(checks=ALL_CHECKS)
    assert [d["review_id"] for d in response.json()["data"]] == [7, 7]

"""Run tags and helpers of the MLflow tracking module."""

from __future__ import annotations

import pytest

from {{ cookiecutter.src_package_name }}.modeling.tracking import flatten, run_tags


def test_tags_name_the_polyaxon_run_and_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYAXON_RUN_UUID", raising=False)
    assert run_tags() == {}
    monkeypatch.setenv("POLYAXON_RUN_UUID", "abc")
    assert run_tags("1641159546") == {"polyaxon_run_uuid": "abc", "hptuning_tag": "1641159546"}


def test_flatten_nested_config() -> None:
    assert flatten({"a": 1, "m": {"c": 0.5, "d": {"e": None}}}) == {
        "a": "1", "m.c": "0.5", "m.d.e": "None"
    }


def test_flattened_params_carry_no_password() -> None:
    assert flatten({"uri": "http://u:secret@h:5005"}) == {"uri": "http://u:***@h:5005"}

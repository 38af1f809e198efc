"""The try-the-model page, driven in a real headless browser (Playwright + Chromium).

The page is served by the real app on a real uvicorn server with a tiny real
model and small request limits. The browser is Debian's ``chromium`` package (or
the one ``CHROMIUM`` names); Playwright's own browser download is never used.
Without a browser the tests skip with the reason, except under ``CI=true``, where
they fail: CI must install ``chromium``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_testkit import service_missing
from serving_support import TINY_LABELS, TINY_TEXTS, running_server, save_tiny_model

from {{ cookiecutter.src_package_name }}_fastapi.config import Settings
from {{ cookiecutter.src_package_name }}_fastapi.main import create_app

pytestmark = pytest.mark.slow

LIMITS = {"API_MAX_REVIEWS": 3, "API_MAX_REVIEW_CHARS": 120, "API_MAX_BODY_BYTES": 4096}


def chromium_path() -> str | None:
    """Debian's Chromium, or the executable that ``CHROMIUM`` names."""
    named = os.environ.get("CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _serve(model_dir: Path) -> Any:
    """A real server of the app with a saved model and the small limits."""
    settings = Settings(
        PRED_MODEL_URI=None, PRED_MODEL_UUID=None, PRED_MODEL_PATH=str(model_dir), **LIMITS
    )
    return running_server(create_app(settings))


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with the tiny binary model and small limits, on a real server."""
    with _serve(save_tiny_model(tmp_path_factory.mktemp("model") / "model")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright, closed at the end of the module."""
    try:
        from playwright.sync_api import sync_playwright  # pylint: disable=import-outside-toplevel
    except ImportError:
        service_missing("playwright is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        service_missing("no chromium executable on PATH (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(name="page")
def page_fixture(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh tab on the page."""
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(f"{base_url}/try")
    # The browser applies autofocus after the page has loaded, a moment later on a busy
    # machine: keys typed before it would be lost (seen: the first letter of a review).
    tab.wait_for_function("document.activeElement && document.activeElement.id === 'reviews'")
    yield tab
    context.close()


def test_the_root_sends_browsers_to_the_page(base_url: str) -> None:
    answer = httpx.get(f"{base_url}/", follow_redirects=True, timeout=10)
    assert answer.status_code == 200
    assert answer.url.path == "/try"
    assert "text/html" in answer.headers["content-type"]


def test_page_states_the_limits_and_is_ready_to_type(page: Any) -> None:
    assert page.title().startswith("Try the model")
    # The text area has a label and has the focus: a person can type at once.
    area = page.get_by_label("Reviews, one per line")
    assert area.evaluate("el => el === document.activeElement")
    limits = page.locator("#limits").inner_text()
    assert "Up to 3 reviews per request, 120 characters per review" in limits


def _table(page: Any) -> tuple[list[str], list[list[str]]]:
    """The results table's column names and its rows' cells, once it is shown."""
    rows = page.locator("#predictions tbody tr")
    rows.first.wait_for()
    header = [t.strip() for t in page.locator("#predictions thead th").all_inner_texts()]
    cells = [[t.strip() for t in rows.nth(i).locator("td").all_inner_texts()]
             for i in range(rows.count())]  # fmt: skip
    return header, cells


def _api_answer(url: str, texts: list[str]) -> list[dict[str, Any]]:
    body = {"reviews": [{"id": i, "text": text} for i, text in enumerate(texts, 1)]}
    return httpx.post(f"{url}/api/v1/model/predict", json=body, timeout=10).json()["data"]


def test_typed_reviews_get_a_label_and_its_probability_each(page: Any, base_url: str) -> None:
    texts = ["This movie is quite boring.", "An awesome movie, great acting."]
    page.keyboard.type("\n".join(texts))
    assert page.locator("#count").inner_text().startswith("2 reviews")
    page.keyboard.press("Control+Enter")
    header, cells = _table(page)
    assert header == ["#", "Review", "Label", "Probability"]
    assert [row[0] for row in cells] == ["1", "2"]
    assert cells[0][1] == texts[0]
    assert [row[2] for row in cells] == ["negative", "positive"]
    # The probability of the label shown, as the API gives it, to three decimals.
    answer = _api_answer(base_url, texts)
    assert [row[3] for row in cells] == [f"{item['probability']:.3f}" for item in answer]
    assert page.locator("#error").inner_text() == ""
    # The focus is back in the text area for the next review.
    assert page.locator("#reviews").evaluate("el => el === document.activeElement")


def test_the_page_shows_the_labels_of_any_model(browser: Any, tmp_path: Path) -> None:
    texts = [TINY_TEXTS["three"][label][0] for label in TINY_LABELS["three"]]
    with _serve(save_tiny_model(tmp_path / "model", labels="three")) as url:
        context = browser.new_context()
        try:
            tab = context.new_page()
            tab.set_default_timeout(15_000)
            tab.goto(f"{url}/try")
            tab.get_by_label("Reviews, one per line").fill("\n".join(texts))
            tab.get_by_role("button", name="Classify").click()
            _, cells = _table(tab)
            answer = _api_answer(url, texts)
        finally:
            context.close()
    assert [row[2] for row in cells] == list(TINY_LABELS["three"])
    assert [row[3] for row in cells] == [f"{item['probability']:.3f}" for item in answer]


def test_the_button_submits_too(page: Any) -> None:
    page.get_by_label("Reviews, one per line").fill("I loved it. Brilliant, fun and moving.")
    page.get_by_role("button", name="Classify").click()
    page.locator("#predictions tbody tr").first.wait_for()
    assert page.locator("#predictions td.label").inner_text() == "positive"


def test_a_review_over_the_limit_gets_the_apis_reason(page: Any) -> None:
    page.get_by_label("Reviews, one per line").fill("fine\n" + "long " * 30)
    assert "over the limit" in page.locator("#count").inner_text()
    page.keyboard.press("Control+Enter")
    alert = page.get_by_role("alert")
    alert.locator("li").first.wait_for()
    text = alert.inner_text()
    assert "refused the request (422)" in text
    assert "Review 2: String should have at most 120 characters." in text
    assert page.locator("#predictions").count() == 0


def test_too_many_reviews_get_the_apis_reason(page: Any) -> None:
    page.get_by_label("Reviews, one per line").fill("good\nbad\nfine\ndull")
    page.keyboard.press("Control+Enter")
    alert = page.get_by_role("alert")
    alert.locator("li").first.wait_for()
    assert "Reviews: List should have at most 3 items" in alert.inner_text()


def test_an_empty_submission_asks_for_a_review(page: Any) -> None:
    page.get_by_label("Reviews, one per line").fill("  \n ")
    page.keyboard.press("Control+Enter")
    assert "at least one review" in page.get_by_role("alert").inner_text()

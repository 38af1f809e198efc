"""A page to try the model in a browser, at ``/try``.

A person types or pastes reviews, one per line, and sees each one's sentiment
and probability of being positive. The page calls the API's own
``POST /api/v1/model/predict``, so it shows exactly what a client gets: the
request limits of the settings are stated up front, and a request over them is
answered by the API (422, 413) with a message the page shows in plain words.

The page is one small HTML document with no external resources (no CDN, no
build step); it works behind ``kubectl port-forward`` or a path prefix because
it calls the API by a relative URL.
"""

from __future__ import annotations

import html
import json

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from ...config import Settings

#: The page; ``__TITLE__`` and ``__LIMITS__`` are filled in once, when the router is built.
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Try the model: __TITLE__</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
         color: #1d2430; line-height: 1.45; }
  h1 { font-size: 1.5rem; margin-bottom: 0.25rem; }
  label { display: block; font-weight: 600; margin: 1rem 0 0.25rem; }
  textarea { width: 100%; box-sizing: border-box; font: inherit; padding: 0.5rem; min-height: 9rem;
             border: 1px solid #8a94a6; border-radius: 4px; }
  textarea:focus, button:focus { outline: 3px solid #2f6fde; outline-offset: 1px; }
  .hint, .count { color: #4a5468; font-size: 0.9rem; margin: 0.25rem 0; }
  button { font: inherit; font-weight: 600; padding: 0.45rem 1.2rem; margin-top: 0.5rem; border: 0;
           border-radius: 4px; background: #2f6fde; color: #fff; cursor: pointer; }
  button[disabled] { background: #8a94a6; cursor: wait; }
  .error { color: #a4161a; background: #fdecec; border-left: 4px solid #a4161a;
           padding: 0.5rem 0.75rem; }
  .error:empty { display: none; }
  .error ul { margin: 0.25rem 0 0; padding-left: 1.25rem; }
  table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
  caption { text-align: left; font-weight: 600; margin-bottom: 0.25rem; }
  th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid #d5dae3;
           vertical-align: top; }
  td.text { max-width: 30rem; overflow-wrap: anywhere; }
  .positive { color: #146c2e; font-weight: 600; }
  .negative { color: #a4161a; font-weight: 600; }
  kbd { border: 1px solid #8a94a6; border-radius: 3px; padding: 0 0.25rem; font-size: 0.85rem; }
</style>
</head>
<body>
<main>
<h1>Try the model</h1>
<p class="hint">__TITLE__: the sentiment of movie reviews, from the model this server runs.</p>
<form id="try-form">
  <label for="reviews">Reviews, one per line</label>
  <textarea id="reviews" name="reviews" autofocus aria-describedby="limits count"
            placeholder="This movie is awesome.&#10;This movie is quite boring."></textarea>
  <p class="hint" id="limits"></p>
  <p class="count" id="count" aria-live="polite"></p>
  <button type="submit" id="submit">Classify</button>
  <span class="hint">or press <kbd>Ctrl</kbd>+<kbd>Enter</kbd></span>
</form>
<div id="error" class="error" role="alert"></div>
<div id="results" aria-live="polite"></div>
</main>
<script>
"use strict";
const LIMITS = __LIMITS__;
const form = document.getElementById("try-form");
const area = document.getElementById("reviews");
const button = document.getElementById("submit");
const errorBox = document.getElementById("error");
const results = document.getElementById("results");

document.getElementById("limits").textContent =
  "Up to " + LIMITS.max_reviews + " reviews per request, " + LIMITS.max_review_chars +
  " characters per review, " + LIMITS.max_body_bytes + " bytes per request.";

function reviewsOf(text) {
  return text.split("\\n").map(function (line) { return line.trim(); })
    .filter(function (line) { return line.length > 0; });
}

function updateCount() {
  const reviews = reviewsOf(area.value);
  const longest = reviews.reduce(function (most, r) { return Math.max(most, r.length); }, 0);
  let text = reviews.length + (reviews.length === 1 ? " review" : " reviews");
  if (reviews.length > 0) { text += ", the longest " + longest + " characters"; }
  if (reviews.length > LIMITS.max_reviews || longest > LIMITS.max_review_chars) {
    text += " (over the limit: the server will refuse it)";
  }
  document.getElementById("count").textContent = text;
}

function showError(title, lines) {
  errorBox.replaceChildren();
  const head = document.createElement("strong");
  head.textContent = title;
  errorBox.appendChild(head);
  if (lines.length > 0) {
    const list = document.createElement("ul");
    lines.forEach(function (line) {
      const item = document.createElement("li");
      item.textContent = line;
      list.appendChild(item);
    });
    errorBox.appendChild(list);
  }
}

function describe(error) {
  const loc = error.loc || [];
  if (loc.length >= 4 && loc[1] === "reviews" && loc[3] === "text") {
    return "Review " + (loc[2] + 1) + ": " + error.msg + ".";
  }
  if (loc.length === 2 && loc[1] === "reviews") {
    return "Reviews: " + error.msg + ".";
  }
  return error.msg;
}

function explain(status, body) {
  const detail = body && body.detail;
  if (status === 422 && Array.isArray(detail)) {
    return ["The API refused the request (" + status + ").", detail.map(describe)];
  }
  const message = typeof detail === "string" ? detail : "HTTP " + status;
  if (status === 413) {
    return ["The request is too large (" + status + "): " + message, []];
  }
  return ["The API answered " + status + ": " + message, []];
}

function showResults(reviews, data) {
  const table = document.createElement("table");
  table.id = "predictions";
  const caption = table.createCaption();
  caption.textContent = data.length + (data.length === 1 ? " prediction" : " predictions");
  const head = table.createTHead().insertRow();
  ["#", "Review", "Sentiment", "P(positive)"].forEach(function (name) {
    const cell = document.createElement("th");
    cell.scope = "col";
    cell.textContent = name;
    head.appendChild(cell);
  });
  const body = table.createTBody();
  data.forEach(function (item) {
    const row = body.insertRow();
    row.insertCell().textContent = item.review_id;
    const text = row.insertCell();
    text.className = "text";
    text.textContent = reviews[item.review_id - 1];
    const sentiment = row.insertCell();
    sentiment.className = "sentiment " + item.sentiment;
    sentiment.textContent = item.sentiment;
    const probability = row.insertCell();
    probability.className = "probability";
    probability.textContent = item.probability.toFixed(3);
  });
  results.replaceChildren(table);
}

async function classify(event) {
  event.preventDefault();
  errorBox.replaceChildren();
  const reviews = reviewsOf(area.value);
  if (reviews.length === 0) {
    showError("Type or paste at least one review, one per line.", []);
    area.focus();
    return;
  }
  const payload = {
    reviews: reviews.map(function (text, i) { return { id: i + 1, text: text }; }),
  };
  button.disabled = true;
  try {
    const answer = await fetch("api/v1/model/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(payload),
    });
    let body = null;
    try { body = await answer.json(); } catch (ignored) { body = null; }
    if (answer.ok) {
      showResults(reviews, body.data);
    } else {
      results.replaceChildren();
      const parts = explain(answer.status, body);
      showError(parts[0], parts[1]);
    }
  } catch (failure) {
    showError("The API could not be reached: " + failure.message, []);
  } finally {
    button.disabled = false;
    area.focus();
  }
}

form.addEventListener("submit", classify);
area.addEventListener("input", updateCount);
area.addEventListener("keydown", function (event) {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    form.requestSubmit();
  }
});
updateCount();
</script>
</body>
</html>
"""


def render_page(settings: Settings, title: str) -> str:
    """The page's HTML with the request limits of ``settings``.

    Parameters
    ----------
    settings : Settings
        Gives the limits the page states (reviews, characters, bytes).
    title : str
        Shown in the page's title and heading (HTML-escaped here).

    Returns
    -------
    str
        A complete HTML document.
    """
    limits = {
        "max_reviews": settings.API_MAX_REVIEWS,
        "max_review_chars": settings.API_MAX_REVIEW_CHARS,
        "max_body_bytes": settings.API_MAX_BODY_BYTES,
    }
    return PAGE.replace("__TITLE__", html.escape(title)).replace("__LIMITS__", json.dumps(limits))


def build_router(settings: Settings, title: str) -> APIRouter:
    """Routes of the page: ``GET /try``, and ``GET /`` redirecting to it.

    Parameters
    ----------
    settings : Settings
        Gives the request limits shown on the page.
    title : str
        The application's title, shown on the page.
    """
    router = APIRouter(tags=["page"])
    rendered: list[str] = []  # filled on the first request: building the app does no work

    @router.get("/try", response_class=HTMLResponse, summary="A page to try the model in a browser")
    async def try_the_model() -> HTMLResponse:
        """The page: type or paste reviews and see each one's sentiment."""
        if not rendered:
            rendered.append(render_page(settings, title))
        return HTMLResponse(rendered[0])

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        """Send a browser at the server's root to the page."""
        return RedirectResponse("try")

    return router

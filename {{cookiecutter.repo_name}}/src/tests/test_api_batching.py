"""Micro-batching of the API: requests that arrive while the model is busy share its next call.

The model is the project's real NBSVM; the predictor under it takes 50 ms a call,
as a transformer on the CPU does, and notes the size of every call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from serving_support import TINY_LABELS, fit_tiny_model

from {{ cookiecutter.src_package_name }}.modeling.predictor import (
    DecisionRule,
    ModelInfo,
    Prediction,
    Predictor,
)
from {{ cookiecutter.src_package_name }}_fastapi.batching import MicroBatcher

REVIEWS = ["A wonderful film, great acting.", "Boring and awful.", "Fun story, loved it.",
           "Dull plot, terrible music.", "Brilliant!", "The worst movie ever made.",
           "Great fun for the family.", "A waste of time."]  # fmt: skip


class BusyPredictor(Predictor):
    """The real predictor, 50 ms a call, noting each call's texts; fails on 'boom'."""

    def __init__(self) -> None:
        super().__init__(fit_tiny_model(), DecisionRule(TINY_LABELS["binary"]),
                         ModelInfo("in-memory"))  # fmt: skip
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.calls.append(list(texts))
        time.sleep(0.05)
        if any("boom" in text for text in texts):
            raise RuntimeError("the model failed")
        return super().predict(texts)


def _requests(count: int, size: int) -> list[list[str]]:
    return [[REVIEWS[(i + j) % len(REVIEWS)] + f" #{i}" for j in range(size)]
            for i in range(count)]  # fmt: skip


async def _gather(batcher: MicroBatcher, predictor: Predictor,
                  requests: list[list[str]]) -> list[list[Prediction]]:  # fmt: skip
    return await asyncio.gather(*(batcher.predict(predictor, texts) for texts in requests))


def test_requests_that_arrive_while_the_model_works_share_its_next_call() -> None:
    predictor = BusyPredictor()
    batcher = MicroBatcher(64)
    requests = _requests(6, 2)

    async def scenario() -> list[list[Prediction]]:
        first = asyncio.ensure_future(batcher.predict(predictor, requests[0]))
        await asyncio.sleep(0.01)  # the model is busy with the first request
        return [await first, *await _gather(batcher, predictor, requests[1:])]

    answers = asyncio.run(scenario())
    # The first request is predicted at once, alone; the five that came meanwhile, together.
    assert [len(call) for call in predictor.calls] == [2, 10]
    plain = Predictor(predictor.model, predictor.rule, predictor.info)
    for texts, answer in zip(requests, answers, strict=True):
        assert answer == plain.predict(texts)  # each gets its own predictions, in order


def test_a_lone_request_is_not_held_back() -> None:
    predictor = BusyPredictor()
    started = time.perf_counter()
    [answer] = asyncio.run(_gather(MicroBatcher(64), predictor, [REVIEWS[:3]]))
    assert time.perf_counter() - started < 0.5
    assert len(answer) == 3 and predictor.calls == [REVIEWS[:3]]


def test_a_joined_call_holds_at_most_max_reviews() -> None:
    predictor = BusyPredictor()
    requests = [REVIEWS[:1], *_requests(4, 3), REVIEWS * 2]  # 16 reviews: over the cap, alone
    answers = asyncio.run(_gather(MicroBatcher(7), predictor, requests))  # all waiting at once
    assert [len(call) for call in predictor.calls] == [7, 6, 16]
    assert [len(answer) for answer in answers] == [1, 3, 3, 3, 3, 16]


def test_a_failing_call_fails_its_requests_and_the_next_call_still_runs() -> None:
    predictor = BusyPredictor()
    batcher = MicroBatcher(64)

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(batcher.predict(predictor, ["fine"]))
        await asyncio.sleep(0.01)  # the model is busy with "fine": these two wait, joined
        joined = [asyncio.ensure_future(batcher.predict(predictor, texts))
                  for texts in (["boom"], ["also fine"])]  # fmt: skip
        outcomes = await asyncio.gather(first, *joined, return_exceptions=True)
        later = await batcher.predict(predictor, ["after the failure"])
        return [*outcomes, later]

    first, failed, neighbour, later = asyncio.run(scenario())
    assert isinstance(first, list) and len(first) == 1
    assert isinstance(failed, RuntimeError) and isinstance(neighbour, RuntimeError)
    assert isinstance(later, list) and len(later) == 1
    assert predictor.calls[-1] == ["after the failure"]


def test_a_cancelled_request_is_dropped_and_the_others_are_answered() -> None:
    predictor = BusyPredictor()
    batcher = MicroBatcher(64)

    async def scenario() -> list[list[Prediction]]:
        busy = asyncio.ensure_future(batcher.predict(predictor, ["first"]))
        await asyncio.sleep(0.01)
        gone = asyncio.ensure_future(batcher.predict(predictor, ["client went away"]))
        kept = asyncio.ensure_future(batcher.predict(predictor, ["still here"]))
        await asyncio.sleep(0)
        gone.cancel()
        return [await busy, await kept]

    busy, kept = asyncio.run(scenario())
    assert len(busy) == 1 and len(kept) == 1
    assert predictor.calls == [["first"], ["still here"]]


def test_a_batcher_used_by_an_earlier_event_loop_still_works() -> None:
    """Each test client (or worker) runs its own loop; the router's batcher outlives them."""
    predictor = BusyPredictor()
    batcher = MicroBatcher(64)
    for _ in range(2):
        assert len(asyncio.run(_gather(batcher, predictor, _requests(3, 1)))) == 3

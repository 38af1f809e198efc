"""JSONBodyRoute: FastAPI's contract for JSON endpoints, on a shorter path."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from starlette.responses import PlainTextResponse, Response

from {{ cookiecutter.src_package_name }}_fastapi.routing import JSONBodyRoute


class Item(BaseModel):
    """A request body."""

    name: str
    count: int = 1


class Echo(BaseModel):
    """A response body."""

    name: str
    total: int


async def get_factor(request: Request) -> int:
    """A dependency on the request, as the predictor is."""
    factor: int = request.app.state.factor
    return factor


FactorDep = Annotated[int, Depends(get_factor)]


async def echo(item: Item, factor: FactorDep) -> Echo:
    """Echo the item with its count times the factor."""
    return Echo(name=item.name, total=item.count * factor)


def make_app(route_class: type | None = JSONBodyRoute, **route: Any) -> FastAPI:
    app = FastAPI()
    app.state.factor = 10
    router = APIRouter()
    router.add_api_route(
        "/echo", echo, methods=["POST"], response_model=Echo, route_class_override=route_class,
        **route,
    )  # fmt: skip
    app.include_router(router, prefix="/v1")
    return app


def call(app: FastAPI, **request: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.post("/v1/echo", **request)

    return asyncio.run(send())


def test_openapi_is_the_same_as_with_fastapis_own_route() -> None:
    lean, plain = make_app().openapi(), make_app(route_class=None).openapi()
    assert lean["paths"] == plain["paths"]
    assert lean["components"] == plain["components"]


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"json": {"name": "a", "count": 2}},
        {"json": {"name": "a", "count": "x"}},
        {"json": {"name": "a", "extra": 1, "count": 3}},
        {"json": {"count": 2}},
        {"json": ["a"]},
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ],
)
def test_answers_match_fastapis_own_route(request_kwargs: dict[str, Any]) -> None:
    lean, plain = call(make_app(), **request_kwargs), call(make_app(None), **request_kwargs)
    assert lean.status_code == plain.status_code
    if lean.status_code == 200:
        assert lean.json() == plain.json() == {"name": "a", "total": lean.json()["total"]}
    else:
        assert _fields_in_error(lean) == _fields_in_error(plain)


def _fields_in_error(response: httpx.Response) -> list[tuple[str, ...]]:
    """The named part of each error's location: ("body", "count"), ("body",)..."""
    detail = response.json()["detail"]
    return sorted(tuple(part for part in error["loc"] if isinstance(part, str)) for error in detail)


def test_dependency_overrides_apply() -> None:
    app = make_app()
    app.dependency_overrides[get_factor] = lambda: 3
    assert call(app, json={"name": "a", "count": 2}).json() == {"name": "a", "total": 6}


def test_router_level_dependencies_run_and_can_refuse() -> None:
    async def require_key(request: Request) -> None:
        if request.headers.get("x-key") != "open sesame":
            raise HTTPException(status_code=401, detail="No key.")

    app = FastAPI()
    app.state.factor = 2
    router = APIRouter()
    router.add_api_route(
        "/echo", echo, methods=["POST"], response_model=Echo, route_class_override=JSONBodyRoute
    )
    app.include_router(router, prefix="/v1", dependencies=[Depends(require_key)])
    assert call(app, json={"name": "a"}).status_code == 401
    answer = call(app, json={"name": "a"}, headers={"x-key": "open sesame"})
    assert answer.json() == {"name": "a", "total": 2}


def test_status_code_and_responses_pass_through() -> None:
    assert call(make_app(status_code=201), json={"name": "a"}).status_code == 201

    async def raw(item: Item) -> Response:
        return PlainTextResponse(item.name, status_code=202)

    app = FastAPI()
    app.router.add_api_route("/v1/echo", raw, methods=["POST"], route_class_override=JSONBodyRoute)
    answer = call(app, json={"name": "plain"})
    assert (answer.status_code, answer.text) == (202, "plain")


async def _query(item: Item, limit: int) -> Echo:
    return Echo(name=item.name, total=limit)


async def _two_bodies(item: Item, other: Item) -> Echo:
    return Echo(name=item.name, total=other.count)


def _sync(item: Item) -> Echo:
    return Echo(name=item.name, total=1)


async def _nested(limit: int) -> int:
    return limit


async def _nested_dependency(item: Item, n: Annotated[int, Depends(_nested)]) -> Echo:
    return Echo(name=item.name, total=n)


@pytest.mark.parametrize(
    ("endpoint", "named"),
    [(_query, "limit"), (_two_bodies, "other"), (_sync, "async"), (_nested_dependency, "n")],
)
def test_unsupported_signatures_are_refused_when_the_route_is_built(
    endpoint: Any, named: str
) -> None:
    with pytest.raises(TypeError, match=named):
        JSONBodyRoute("/x", endpoint, methods=["POST"], response_model=Echo)

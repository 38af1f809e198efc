"""A lean route class for JSON endpoints on the hot path.

FastAPI's generic request handler solves the endpoint's parameters one by one,
validates the body from a Python ``dict`` after ``json.loads``, then validates the
returned object a second time against the response model before serialising it.
For the predict endpoint, called for every prediction, that machinery cost more
CPU per request than the model itself (measured against a bare Starlette app
serving the same model).

:class:`JSONBodyRoute` keeps everything FastAPI derives from the endpoint's
signature (the OpenAPI schema, ``/docs``, 422 answers, dependency overrides) and
handles a request in three steps: one pydantic-core call that parses and validates
the JSON body, the endpoint, and one call that serialises the returned model.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


class JSONBodyRoute(APIRoute):
    """An ``APIRoute`` for ``async def endpoint(body: Model, dep: Annotated[T, Depends(f)])``.

    Supported signatures: one body parameter (a pydantic model), any number of
    dependencies whose function takes the ``Request`` or nothing, on the endpoint or
    on the routers that include it (``include_router(..., dependencies=[...])``),
    and a return value of the declared ``response_model`` (or a ``Response``, sent as
    it is). Anything else (query, path, header or cookie parameters, nested
    dependencies, sync endpoints) is refused when the route is built, naming it.

    Requests are answered as FastAPI answers them: 422 for a body that is empty, not
    JSON or not valid (errors located under ``"body"``), and ``app.dependency_overrides``
    replaces a dependency as usual. One difference: a body not sent as JSON gets 415,
    where FastAPI's 422 would only say that the input is not an object.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Build the handler from the route as included (router dependencies added)."""
        route = _effective_route(self)
        plan = _HandlerPlan.of(self.path, route.dependant)
        response_adapter: TypeAdapter[Any] = TypeAdapter(route.response_model)
        status_code = route.status_code or 200

        async def handler(request: Request) -> Response:
            values = {plan.body_name: await _read_body(request, plan.body_model)}
            overrides = request.app.dependency_overrides
            for name, call in plan.dependencies:
                value = await _call_dependency(overrides.get(call, call), request)
                if name:
                    values[name] = value
            result = await plan.endpoint(**values)
            if isinstance(result, Response):
                return result
            return Response(
                response_adapter.dump_json(result),
                status_code=status_code,
                media_type=JSON_MEDIA_TYPE,
            )

        return handler


@dataclass(frozen=True)
class _HandlerPlan:
    """What a JSONBodyRoute handler calls, checked once when the route is built."""

    endpoint: Callable[..., Awaitable[Any]]
    body_name: str
    body_model: type[BaseModel]
    #: (parameter name or None for a router-level dependency, function), in order.
    dependencies: list[tuple[str | None, Callable[..., Any]]]

    @classmethod
    def of(cls, path: str, dependant: Dependant) -> _HandlerPlan:
        """Check that the route's parameters are supported; raise ``TypeError`` if not."""
        unsupported = [
            field.name
            for field in (
                *dependant.path_params,
                *dependant.query_params,
                *dependant.header_params,
                *dependant.cookie_params,
            )
        ]
        unsupported += [
            dep.name or repr(dep.call)
            for dep in dependant.dependencies
            if dep.call is None
            or dep.dependencies
            or dep.path_params
            or dep.query_params
            or dep.header_params
            or dep.cookie_params
            or dep.body_params
        ]
        if unsupported or len(dependant.body_params) != 1:
            raise TypeError(
                f"JSONBodyRoute {path}: the endpoint must take exactly one body model and "
                f"dependencies on the request only; unsupported: "
                f"{unsupported or [field.name for field in dependant.body_params]}"
            )
        if not inspect.iscoroutinefunction(dependant.call):
            raise TypeError(f"JSONBodyRoute {path}: the endpoint must be async")
        body_field = dependant.body_params[0]
        return cls(
            endpoint=dependant.call,
            body_name=body_field.name,
            body_model=body_field.field_info.annotation,
            dependencies=[(dep.name, dep.call) for dep in dependant.dependencies if dep.call],
        )


def _effective_route(route: APIRoute) -> Any:
    """The route as FastAPI sees it where it is included, else the route itself.

    FastAPI 0.165 builds an included route's handler with the including routers'
    settings (their dependencies among them) in a context variable, which its own
    ``get_route_handler`` reads the same way. Versions without that variable copy an
    included route, with the routers' dependencies merged into its own.
    """
    context_var = getattr(fastapi_routing, "_effective_route_context_var", None)
    context = context_var.get() if context_var is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        return context
    return route


async def _read_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The body parsed and validated as ``model``, or the error FastAPI would raise."""
    raw = await request.body()
    if not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required"}
        raise RequestValidationError([missing])
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        raise HTTPException(
            status_code=415,
            detail=f"Send the body as {JSON_MEDIA_TYPE}, not {content_type or 'untyped'}.",
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [
                {**detail, "loc": ("body", *detail["loc"])}
                for detail in error.errors(include_url=False, include_input=False)
            ],
            body=raw,
        ) from None


def _is_json(content_type: str) -> bool:
    """Whether a Content-Type names JSON (``application/json``, ``...+json``)."""
    media_type = content_type.partition(";")[0].strip().lower()
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


@functools.cache
def _takes_request(call: Callable[..., Any]) -> bool:
    return bool(inspect.signature(call).parameters)


async def _call_dependency(call: Callable[..., Any], request: Request) -> Any:
    value = call(request) if _takes_request(call) else call()
    return await value if inspect.isawaitable(value) else value

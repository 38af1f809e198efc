"""A lean route class for JSON endpoints on the hot path.

FastAPI's generic request handler solves the endpoint's parameters one by one,
validates the body from a Python ``dict`` after ``json.loads``, then validates the
returned object a second time against the response model before serialising it.
For the predict endpoint, called for every prediction, that machinery cost more
CPU per request than the model itself (``make bench-serving`` at the template root
measures it against a bare Starlette app).

:class:`JSONBodyRoute` keeps everything FastAPI derives from the endpoint's
signature (the OpenAPI schema, ``/docs``, 422 answers, dependency overrides) and
handles a request in three steps: one pydantic-core call that parses and validates
the JSON body, the endpoint, and one call that serialises the returned model.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


class JSONBodyRoute(APIRoute):
    """An ``APIRoute`` for ``async def endpoint(body: Model, dep: Annotated[T, Depends(f)])``.

    Supported signatures: one body parameter (a pydantic model), any number of
    dependencies whose function takes the ``Request`` or nothing, and a return value
    of the declared ``response_model`` (or a ``Response``, sent as it is). Anything
    else (query, path, header or cookie parameters, nested dependencies, sync
    endpoints) is refused when the route is built, naming the parameter.

    Requests are answered as FastAPI would: 422 for a body that is empty, not JSON or
    not valid (errors located under ``"body"``), 415 for a body that is not sent as
    JSON, and ``app.dependency_overrides`` replaces a dependency as usual.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        dependant = self.dependant
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
                f"{type(self).__name__} {path}: the endpoint must take exactly one body "
                f"model and dependencies on the request only; unsupported: "
                f"{unsupported or [field.name for field in dependant.body_params]}"
            )
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{type(self).__name__} {path}: the endpoint must be async")
        body_field = dependant.body_params[0]
        self.body_name: str = body_field.name
        self.body_model: type[BaseModel] = body_field.field_info.annotation
        self.dependency_calls: list[tuple[str, Callable[..., Any]]] = [
            (dep.name, dep.call) for dep in dependant.dependencies if dep.name and dep.call
        ]
        self.response_adapter: TypeAdapter[Any] = TypeAdapter(self.response_model)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        status_code = self.status_code or 200

        async def handler(request: Request) -> Response:
            values = {self.body_name: await self._read_body(request)}
            overrides = request.app.dependency_overrides
            for name, call in self.dependency_calls:
                values[name] = await _call_dependency(overrides.get(call, call), request)
            result = await endpoint(**values)
            if isinstance(result, Response):
                return result
            return Response(
                self.response_adapter.dump_json(result),
                status_code=status_code,
                media_type=JSON_MEDIA_TYPE,
            )

        return handler

    async def _read_body(self, request: Request) -> BaseModel:
        raw = await request.body()
        if not raw:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
            )
        content_type = request.headers.get("content-type", "")
        if not _is_json(content_type):
            raise HTTPException(
                status_code=415,
                detail=f"Send the body as {JSON_MEDIA_TYPE}, not {content_type or 'untyped'}.",
            )
        try:
            return self.body_model.model_validate_json(raw)
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

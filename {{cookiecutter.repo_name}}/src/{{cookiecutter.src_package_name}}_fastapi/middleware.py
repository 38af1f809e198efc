"""A pure ASGI middleware: body size limit, one log line per request, quiet start-up errors.

Pure ASGI (not ``BaseHTTPMiddleware``) so that it adds microseconds, not a task
and a stream per request.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: One line per request: method, path (no query string), status, milliseconds.
REQUEST_LOGGER = logging.getLogger(__name__.rpartition(".")[0] + ".requests")
#: Characters that end or split a log line (C0 and C1 controls, DEL, U+2028, U+2029);
#: a request path holds them when it is sent percent-encoded (``%0A``).
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def loggable(text: str) -> str:
    r"""``text`` with each line-breaking or control character written as an escape.

    A request path is percent-decoded by the server: logged as it is, ``%0A`` would end
    the line and let the client write the next one.

    Examples
    --------
    >>> loggable("/x\nFORGED 200")
    '/x\\nFORGED 200'
    """
    return _LINE_BREAKING.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class BodyTooLarge(HTTPException):
    """The request body exceeds the configured limit (answered with 413).

    An ``HTTPException`` because FastAPI turns any other error raised while it
    reads the body into a 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body larger than the limit of {limit} bytes.")


class StartupError(RuntimeError):
    """Start-up failed for a reason that is already logged in one line.

    Raised by the lifespan; the middleware then keeps the server from also
    logging the traceback, so the operator sees one clear line.
    """


class RequestGuard:  # pylint: disable=too-few-public-methods
    """Limit request bodies and log one line per request with its duration.

    Parameters
    ----------
    app : ASGIApp
        The wrapped application.
    max_body_bytes : int
        Larger bodies are refused with 413, from ``Content-Length`` before any byte
        is read, or while reading a body sent without it.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def quiet_send(message: Message) -> None:
            # Starlette reports a failed start-up with the formatted traceback, which the
            # server logs. A StartupError has been logged already, in one line.
            if message["type"] == "lifespan.startup.failed" and isinstance(
                sys.exc_info()[1], StartupError
            ):
                message = {**message, "message": ""}
            await send(message)

        await self.app(scope, receive, quiet_send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status: int | None = None  # until the response starts

        async def logging_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        # The server (h11, httptools) answers an invalid Content-Length with 400 itself.
        length = Headers(scope=scope).get("content-length")
        try:
            if length is not None and int(length) > self.max_body_bytes:
                raise BodyTooLarge(self.max_body_bytes)
            # A Content-Length within the limit bounds the body; without one, count it.
            await self.app(scope, receive if length else self._counting(receive), logging_send)
        except BodyTooLarge as error:
            if status is not None:  # the response has started
                raise
            status = 413
            response = JSONResponse({"detail": error.detail}, status,
                                    headers={"connection": "close"})
            await response(scope, receive, send)
        finally:
            # Path only (query strings may carry tokens), with line breaks escaped.
            REQUEST_LOGGER.info("%s %s %d %.2fms", scope["method"], loggable(scope["path"]),
                                status or 500, (time.perf_counter() - start) * 1000.0)

    def _counting(self, receive: Receive) -> Receive:
        """Count body bytes of a request sent without Content-Length."""
        received = 0

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        return counting_receive

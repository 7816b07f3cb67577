"""Refuse request bodies over `RECSYS_MAX_BODY_BYTES` before they are read (413).

A declared `Content-Length` over the limit is answered at once, without calling the app, so not
a byte of the body is read or parsed. A body without one (chunked) is counted as the app reads
it and refused as soon as it passes the limit. Starlette's own `max_body_size` only says
"Content Too Large" and waits for the app to read or answer; this names the limit and the
setting, and closes the connection so the unread rest is never taken as a next request.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SETTING = "RECSYS_MAX_BODY_BYTES"


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the limit. FastAPI lets an
    `HTTPException` from body reading through unchanged, so the route answers 413, not 400."""

    def __init__(self, limit: int, size: str) -> None:
        super().__init__(
            413,
            f"the request body has {size} bytes; at most {limit} are accepted ({SETTING})",
            headers={"Connection": "close"},
        )


class BodyLimit:
    """Pure ASGI middleware enforcing a maximum request body size."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(BodyTooLarge(self.max_bytes, str(declared)), scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes, f"more than {self.max_bytes}")
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as error:  # read outside a route (routes answer it themselves)
            if started:
                raise
            await _refuse(error, scope, receive, send)


async def _refuse(error: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": error.detail}, status_code=413, headers=error.headers)
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before the app sees it
    return None

"""HEAD on every GET route (RFC 9110 9.3.2: the GET's status and headers, no body).

Load balancers and CDNs probe with HEAD, but FastAPI's routes answer only the methods they
declare. This middleware, in front of everything but the metrics, runs a HEAD as a GET (routing,
the fast paths, caching and ETags included, so the headers are exactly the GET's) and drops the
body. The app gets a copy of the scope, so the server still sees the request's own method; the
matched route is copied back for the metrics middleware outside, which counts it as a HEAD.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Answers HEAD requests with the headers of the GET and an empty body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}

        async def send_headers_only(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        try:
            await self.app(as_get, receive, send_headers_only)
        finally:
            if "route" in as_get:
                scope["route"] = as_get["route"]

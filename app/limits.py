"""The request-target limit, and the HTTP server's own errors in the one error shape.

A request target (path and query) is at most MAX_TARGET_BYTES. The API's uvicorn runs with
JsonHttpToolsProtocol (app/cli.py): it refuses a longer target while reading the request
line, and answers requests it cannot parse with JSON instead of uvicorn's plain-text 400.
TargetLimitMiddleware applies the same limit under any other server (or a test client).
deploy/nginx.conf accepts request lines up to twice this size and answers longer ones with
the same JSON 414 itself.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import error_json

MAX_TARGET_BYTES = 16 * 1024


def _too_long(length: int | None = None) -> tuple[int, dict[str, Any]]:
    message = f"The address is longer than the limit of {MAX_TARGET_BYTES} bytes."
    details: dict[str, Any] = {"limit_bytes": MAX_TARGET_BYTES}
    if length is not None:
        details["length_bytes"] = length
    return 414, {"code": "uri_too_long", "message": message, "details": details}


class TargetLimitMiddleware:
    """Refuses a request whose path and query together exceed the limit with a JSON 414."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("raw_path") or scope.get("path", "").encode()
            length = len(path) + len(scope.get("query_string", b""))
            if length > MAX_TARGET_BYTES:
                status, error = _too_long(length)
                response = error_json(status, error["code"], error["message"], error["details"])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TargetTooLong(Exception):
    pass


class JsonHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, but its refusals are JSON in the error shape: a target over
    the limit (a 414, found while the request line is still arriving, before it is buffered),
    and a request it cannot parse (a 400)."""

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_TARGET_BYTES:
            raise _TargetTooLong  # the parser stops; data_received answers with a 400 ...

    def send_400_response(self, msg: str) -> None:  # ... which is a 414 when it was the URL
        if len(getattr(self, "url", b"")) > MAX_TARGET_BYTES:
            status, error = _too_long()
        else:
            status, error = (
                400,
                {"code": "bad_request", "message": "This is not a valid HTTP request."},
            )
        body = json.dumps({"error": error}).encode()
        reason = b"URI Too Long" if status == 414 else b"Bad Request"
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\n")
        head.append(b"content-length: %d\r\n" % len(body))
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()

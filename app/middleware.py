"""Pure ASGI middlewares: request ids and access logs, the error boundary (retries of a
transaction that lost a race, 503 for a database that is away, 500 without losing the
connection), and a cap on request bodies."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import is_conflict, is_timeout, is_unavailable
from app.errors import AppError, DatabaseBusy, DatabaseUnavailable, error_json
from app.logs import request_id_var, user_id_var
from app.ratelimit import replaying

access_log = logging.getLogger("fuze.access")
error_log = logging.getLogger("fuze.errors")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{8,128}$")
_POLLED = frozenset({"/api/health", "/api/health/ready"})


class RequestContextMiddleware:
    """Gives each request an id (a sane incoming X-Request-ID is kept), echoes it, logs the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        if b"%00" in scope.get("query_string", b"").lower() or "\x00" in scope.get("path", ""):
            # No parameter ever needs a NUL; the database could not take it anyway.
            response = error_json(
                400, "invalid_characters", "The address contains a NUL (%00) character."
            )
            response.headers["x-request-id"] = rid
            try:
                await response(scope, receive, send)
            finally:
                request_id_var.reset(token)
            return
        utoken = user_id_var.set(None)
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            client = scope.get("client")
            method, path = scope.get("method"), scope.get("path", "")
            duration_ms = round((time.perf_counter() - start) * 1000, 2)
            # Health checks are polled (by `fuze up` until ready, by orchestrators forever):
            # logged only at debug level, or they would bury everything else.
            access_log.log(
                logging.DEBUG if path in _POLLED else logging.INFO,
                "request",
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "client_ip": client[0] if client else None,
                    "_text": f"{method} {path} {status} {duration_ms:.0f} ms",
                },
            )
            user_id_var.reset(utoken)
            request_id_var.reset(token)


class ErrorBoundaryMiddleware:
    """Where an exception that no handler took ends, before any server layer sees it.

    - A transaction that lost a deadlock or a serialization race (40P01, 40001) rolled back
      whole, so the request runs once more, its body replayed, when nothing of the answer
      has been sent yet; so does a GET or HEAD that lost its database connection (the
      second run gets a fresh one: the pools drop connections a restart has cut), but not
      one that timed out waiting for a connection, which would only wait as long again.
    - What is still a database outage is a 503 with Retry-After; a race lost twice, a 503
      too; anything else a 500; all in the one error shape.
    - Nothing is raised further once the answer is out: Starlette's last handler sends its
      500 and then re-raises, and uvicorn closes the connection on any exception that reaches
      it, which would reset the client's next request on that keep-alive connection.
    """

    def __init__(self, app: ASGIApp, max_replay_bytes: int) -> None:
        self.app = app
        self.max_replay_bytes = max_replay_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorded: list[Message] = []
        replayable = True
        size = 0

        async def recording_receive() -> Message:
            nonlocal replayable, size
            message = await receive()
            if replayable:
                size += len(message.get("body", b""))
                # A client that left, or a body too large to keep, is not run twice.
                replayable = message["type"] == "http.request" and size <= self.max_replay_bytes
                if replayable:
                    recorded.append(message)
                else:
                    recorded.clear()
            return message

        idempotent = scope.get("method") in ("GET", "HEAD")
        this_receive: Receive = recording_receive
        # The scope as it came: a second run starts from it, not from what the first left
        # there (its route, and its user and session: app.db.AUTHENTICATED, REQUEST_SESSION).
        initial = dict(scope)
        for attempt in (1, 2):
            started = complete = False

            async def tracking_send(message: Message) -> None:
                nonlocal started, complete
                if message["type"] == "http.response.start":
                    started = True
                elif message["type"] == "http.response.body":
                    complete = not message.get("more_body", False)
                await send(message)

            replay = replaying.set(attempt == 2)
            try:
                await self.app(
                    scope if attempt == 1 else dict(initial), this_receive, tracking_send
                )
                return
            except Exception as exc:
                if started:
                    error_log.exception("error after the answer began", exc_info=exc)
                    if complete:
                        return
                    raise  # a cut-off answer: only closing the connection tells the client
                conflict, unavailable = is_conflict(exc), is_unavailable(exc)
                again = conflict or (unavailable and idempotent and not is_timeout(exc))
                if attempt == 1 and replayable and again:
                    error_log.info(
                        "retrying the request",
                        extra={"reason": "conflict" if conflict else "database_unavailable"},
                    )
                    this_receive = _replay(list(recorded), receive)
                    continue
                await _error_response(exc, conflict, unavailable)(scope, receive, send)
                return
            finally:
                replaying.reset(replay)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """The messages the first run received, then the client's own."""
    pending = iter(messages)

    async def replay_receive() -> Message:
        message = next(pending, None)
        return message if message is not None else await receive()

    return replay_receive


def _error_response(exc: Exception, conflict: bool, unavailable: bool) -> Response:
    error: AppError | None = None
    if unavailable:
        error = DatabaseUnavailable()
        error_log.warning("database unavailable", exc_info=exc)
    elif conflict:
        error = DatabaseBusy()
        error_log.warning("transaction lost a race twice", exc_info=exc)
    if error is None:
        error_log.exception("unhandled error", exc_info=exc)
        return error_json(500, "internal_error", "Something went wrong on our side.")
    return error_json(error.status_code, error.code, error.message, headers=error.headers)


class BodySizeLimitMiddleware:
    """Refuses bodies over the cap with 413, whether or not the client announced a length."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, overrides: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = overrides or {}

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit or declared < 0:
                    await self._reject(scope, receive, send, limit)
                    return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        response_started = False

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if too_large:  # whatever the app answers to a cut-off body, the client gets a 413
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not response_started:
            await self._reject(scope, receive, send, limit)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_json(
            413,
            "payload_too_large",
            f"The request body is larger than the limit of {limit} bytes.",
            {"limit_bytes": limit},
        )
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass

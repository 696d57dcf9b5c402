"""Errors carry their HTTP status; one set of handlers renders every failure in one shape:

{"error": {"code": "snake_case", "message": "A human sentence.", "details": ...,
           "request_id": ...}}

and the OpenAPI document says so: a route lists its errors with responses(), and every 422
is documented as this shape (validation_errors_documented), FastAPI's own included.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.logs import request_id_var

log = logging.getLogger("fuze.errors")


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    message = "The request could not be processed."
    # True when the changes made before the error must still be committed (e.g. revoking a
    # token family when a spent refresh token is replayed).
    keep_changes = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication is required."

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "This conflicts with something that already exists."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    message = "This content type is not supported."


class Unprocessable(AppError):
    status_code = 422
    code = "validation_error"
    message = "The request is not valid."


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(self, retry_after: int, message: str | None = None, **kw: Any) -> None:
        self.retry_after = max(1, int(retry_after))
        kw["headers"] = {"Retry-After": str(self.retry_after)}
        kw.setdefault("details", {"retry_after": self.retry_after})
        super().__init__(message, **kw)


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "A service Fuze depends on is unavailable."


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached (restarting, failed over, connections cut); reads have
    already been tried once more on a fresh connection."""

    code = "database_unavailable"
    message = "The database is not reachable; try again in a moment."
    retry_after = 2

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(self.retry_after)})
        super().__init__(message, **kw)


class DatabaseBusy(ServiceUnavailable):
    """A transaction lost a deadlock or a serialization race twice in a row."""

    code = "database_busy"
    message = "The database is busy with conflicting changes; try again in a moment."

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": "1"})
        super().__init__(message, **kw)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The one shape of every error answer."""

    error: ErrorBody


def responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route, so the OpenAPI spec (and the generated client) knows its errors."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        out[err.status_code] = {"model": ErrorResponse, "description": err.message}
    return out


_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
_OUR_422 = {
    "description": Unprocessable.message,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
}


def validation_errors_documented(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with each 422 that FastAPI documented in its own shape documented as the one
    error shape, and FastAPI's two schemas for it gone once nothing refers to them."""
    schemas = spec.get("components", {}).get("schemas", {})
    if "ErrorResponse" not in schemas:  # no route declares an error: nothing to point at
        return spec
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.get("responses", {})
            body = answers.get("422", {}).get("content", {}).get("application/json", {})
            if body.get("schema", {}).get("$ref") == _FASTAPI_422:
                answers["422"] = copy.deepcopy(_OUR_422)
    for name in ("HTTPValidationError", "ValidationError"):  # the second is in the first
        if name in schemas and f'"#/components/schemas/{name}"' not in json.dumps(spec):
            del schemas[name]
    return spec


def error_json(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    return JSONResponse({"error": body}, status_code=status, headers=headers)


_STATUS_CODES = {
    400: ("bad_request", "The request could not be processed."),
    401: ("unauthorized", "Authentication is required."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed on this path."),
    406: ("not_acceptable", "No acceptable representation."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "This content type is not supported."),
    429: ("rate_limited", "Too many requests; try again later."),
}


def _clean_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        item = {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        out.append(item)
    return out


async def http_exception_handler(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    code, default_message = _STATUS_CODES.get(exc.status_code, ("http_error", "HTTP error."))
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else default_message
    if exc.status_code == 404 and message == "Not Found":
        message = "There is nothing at this path."
    if exc.status_code == 405 and message == "Method Not Allowed":
        message = default_message
    return error_json(exc.status_code, code, message, headers=getattr(exc, "headers", None))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return error_json(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_validation_errors(list(exc.errors()))
        first = errors[0] if errors else None
        where = ".".join(str(p) for p in first["loc"] if p != "body") if first else ""
        if first is None:
            message = "The request is not valid."
        else:
            detail = first["msg"].removeprefix("Value error, ")
            message = f"Invalid {where}: {detail}." if where else f"Invalid request: {detail}."
        return error_json(422, "validation_error", message, errors)

    app.add_exception_handler(StarletteHTTPException, http_exception_handler)  # type: ignore[arg-type]

    # The document says what _validation answers: FastAPI documents its own 422 body
    # (HTTPValidationError) for every operation that takes input and does not declare one.
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = validation_errors_documented(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(Exception)
    async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_json(500, "internal_error", "Something went wrong on our side.")

"""The one error envelope, its stable codes, request ids, and the middleware that turns failures into it."""
from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psycopg
from aiohttp import web

from fusebox.core import codec
from fusebox.api.dependency_guard import DependencyUnavailable

logger = logging.getLogger("fusebox.api.errors")

REQUEST_ID = web.RequestKey("request_id", str)
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

UNAUTHORIZED = "UNAUTHORIZED"
FORBIDDEN = "FORBIDDEN"
MALFORMED_JSON = "MALFORMED_JSON"
VALIDATION_FAILED = "VALIDATION_FAILED"
UNKNOWN_SERVICE = "UNKNOWN_SERVICE"
NO_SHADOW_CONFIG = "NO_SHADOW_CONFIG"
NOT_FOUND = "NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
RATE_LIMITED = "RATE_LIMITED"
TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
UPGRADE_REQUIRED = "UPGRADE_REQUIRED"
DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
INTERNAL = "INTERNAL"

_STATUS_OF_HTTP_EXCEPTION = {
    400: (VALIDATION_FAILED, "the request is not valid"),
    404: (NOT_FOUND, "no such route"),
    405: (METHOD_NOT_ALLOWED, "method not allowed on this route"),
    413: (PAYLOAD_TOO_LARGE, "the request body is too large"),
}


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    details: list[dict[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def dependency_unavailable(message: str, retry_after_s: float) -> ApiError:
    return ApiError(503, DEPENDENCY_UNAVAILABLE, message, headers={"Retry-After": str(max(1, round(retry_after_s)))})


def request_id_of(request: web.Request) -> str:
    return request.get(REQUEST_ID) or "-"


def envelope(error: ApiError, request_id: str) -> bytes:
    return codec.dumps({"error": {"code": error.code, "message": error.message, "details": error.details,
                                  "requestId": request_id}})


def error_response(error: ApiError, request_id: str) -> web.Response:
    headers = {"X-Request-Id": request_id, **error.headers}
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="fusebox"')
    return web.Response(status=error.status, body=envelope(error, request_id),
                        content_type="application/json", headers=headers)


def json_response(value, status: int = 200, *, body: bytes | None = None) -> web.Response:
    return web.Response(status=status, body=codec.dumps(value) if body is None else body,
                        content_type="application/json")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OnRejected = Callable[[web.Request, ApiError], None]


def make_error_middleware(on_rejected: OnRejected):
    """Assign a request id, and answer every failure with the envelope: ours, aiohttp's 404/405/413, and crashes."""

    @web.middleware
    async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
        request[REQUEST_ID] = request_id
        try:
            response = await handler(request)
        except ApiError as error:
            return _reject(request, error, request_id, on_rejected)
        except DependencyUnavailable as exc:
            return _reject(request, dependency_unavailable(exc.message, exc.retry_after_s), request_id, on_rejected)
        except psycopg.DataError as exc:
            # A value PostgreSQL cannot take (out of range, not encodable) is the request's fault, not ours.
            logger.info("PostgreSQL refused a value of %s %s request_id=%s: %r", request.method, request.path,
                        request_id, exc)
            error = ApiError(400, VALIDATION_FAILED, "the request is not valid",
                             [{"field": "$", "issue": "holds a value PostgreSQL cannot store or compare"}])
            return _reject(request, error, request_id, on_rejected)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code, message = _STATUS_OF_HTTP_EXCEPTION.get(exc.status, (INTERNAL, exc.reason))
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            return _reject(request, ApiError(exc.status, code, message, headers=headers), request_id, on_rejected)
        except Exception:
            logger.exception("unexpected failure on %s %s request_id=%s", request.method, request.path, request_id)
            error = ApiError(500, INTERNAL, "an unexpected error occurred; quote the request id when reporting it")
            return _reject(request, error, request_id, on_rejected)
        if not response.prepared:
            response.headers.setdefault("X-Request-Id", request_id)
        return response

    return error_middleware


def _reject(request: web.Request, error: ApiError, request_id: str, on_rejected: OnRejected) -> web.Response:
    if error.status >= 500:
        logger.warning("%s %s failed: %s request_id=%s", request.method, request.path, error, request_id)
    else:
        logger.info("%s %s rejected: %s request_id=%s", request.method, request.path, error.code, request_id)
    on_rejected(request, error)
    return error_response(error, request_id)

"""JWT admin auth for every `/api/admin/` route (the WebSocket checks its own: see ws_admission.py)."""
from __future__ import annotations

from aiohttp import web

from fusebox.api import errors
from fusebox.api.errors import ApiError, Handler
from fusebox.auth import InvalidToken, NotAdmin, Principal, TokenPolicy, bearer_token, verify_admin

PRINCIPAL = web.RequestKey("principal", Principal)
PROTECTED_PREFIX = "/api/admin/"
WEBSOCKET_PATH = "/api/admin/ws"


def authenticate(policy: TokenPolicy, token: str | None) -> Principal:
    """The admin behind `token`; ApiError 401 for a bad token, 403 for a non-admin."""
    try:
        return verify_admin(policy, token)
    except InvalidToken as exc:
        raise ApiError(401, errors.UNAUTHORIZED, str(exc)) from exc
    except NotAdmin as exc:
        raise ApiError(403, errors.FORBIDDEN, "the admin role is required") from exc


def make_auth_middleware(policy: TokenPolicy):
    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(PROTECTED_PREFIX) and request.path != WEBSOCKET_PATH:
            request[PRINCIPAL] = authenticate(policy, bearer_token(request.headers.get("Authorization")))
        return await handler(request)

    return auth_middleware


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]

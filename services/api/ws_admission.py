"""Who may open the admin WebSocket: its Origin, its credentials (never in the URL), and the connection caps.

A browser cannot set headers on a WebSocket, so it sends the JWT as a subprotocol:
`new WebSocket(url, ["fusebox.v1", "bearer." + jwt])`. The gateway selects `fusebox.v1` and never echoes the
`bearer.` entry. Other clients may send `Authorization: Bearer`. A token in the query string is refused, since
URLs end up in access logs, proxies and browser history.
"""
from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from fusebox.api import errors
from fusebox.api.errors import ApiError
from fusebox.auth import bearer_token

SUBPROTOCOL = "fusebox.v1"
BEARER_PREFIX = "bearer."
TOKEN_QUERY_PARAMETERS = ("access_token", "token")


def offered_protocols(request: web.Request) -> list[str]:
    raw = request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "")
    return [entry.strip() for entry in raw.split(",") if entry.strip()]


def check_offered_protocols(request: web.Request) -> None:
    """A `bearer.` entry must come with `fusebox.v1`, the protocol the gateway selects (400 otherwise)."""
    offered = offered_protocols(request)
    if any(entry.startswith(BEARER_PREFIX) for entry in offered) and SUBPROTOCOL not in offered:
        raise ApiError(400, errors.VALIDATION_FAILED, "the request is not valid",
                       [{"field": "Sec-WebSocket-Protocol",
                         "issue": f"must offer {SUBPROTOCOL} with the bearer entry"}])


def websocket_token(request: web.Request) -> str | None:
    """The JWT of a `bearer.<jwt>` subprotocol entry, else of `Authorization: Bearer`; a token in the URL is refused."""
    if any(name in request.query for name in TOKEN_QUERY_PARAMETERS):
        raise ApiError(401, errors.UNAUTHORIZED, "a token in the URL is not accepted; send it as the"
                       f" '{BEARER_PREFIX}<jwt>' WebSocket subprotocol or in the Authorization header")
    for entry in offered_protocols(request):
        if entry.startswith(BEARER_PREFIX):
            return entry[len(BEARER_PREFIX):] or None
    return bearer_token(request.headers.get(hdrs.AUTHORIZATION))


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def origin_allowed(origin: str | None, host: str, allowed: tuple[str, ...]) -> bool:
    """No Origin (not a browser), the gateway's own host (http or https), or one of `allowed`."""
    if origin is None:
        return True
    normalised = _origin_of(origin.strip().lower())
    if normalised is None:
        return False
    if normalised in {_origin_of(entry) for entry in allowed}:
        return True
    own = host.lower()
    return normalised in (_origin_of(f"http://{own}"), _origin_of(f"https://{own}"))


def check_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    if not origin_allowed(request.headers.get(hdrs.ORIGIN), request.host, allowed):
        raise ApiError(403, errors.FORBIDDEN, "this origin may not open the admin WebSocket",
                       [{"field": "Origin", "issue": "is neither this gateway's origin nor in"
                                                     " FUSEBOX_API_WS_ALLOWED_ORIGINS"}])


class ConnectionSlots:
    """Caps on open sockets, per admin (`sub`) and in total; a slot is taken before the upgrade."""

    def __init__(self, per_admin: int, total: int):
        self.per_admin = per_admin
        self.total = total
        self._by_admin: Counter[str] = Counter()
        self._open = 0

    def take(self, admin_id: str) -> ApiError | None:
        """None when a slot was taken for `admin_id`, else the refusal."""
        if self._open >= self.total:
            return ApiError(503, errors.TOO_MANY_CONNECTIONS,
                            f"the gateway holds its maximum of {self.total} WebSocket connections; try again later")
        if self._by_admin[admin_id] >= self.per_admin:
            return ApiError(429, errors.TOO_MANY_CONNECTIONS,
                            f"at most {self.per_admin} WebSocket connections per admin; close one first")
        self._by_admin[admin_id] += 1
        self._open += 1
        return None

    def give_back(self, admin_id: str) -> None:
        self._open -= 1
        self._by_admin[admin_id] -= 1
        if self._by_admin[admin_id] <= 0:
            del self._by_admin[admin_id]

    def of(self, admin_id: str) -> int:
        return self._by_admin[admin_id]

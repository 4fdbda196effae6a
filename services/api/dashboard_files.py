"""The operator dashboard's static files (`services/api/dashboard/`), served at /dashboard/ by the gateway itself.

The files hold no data, so they are served without auth; every call they make carries the admin token. A GET under
/dashboard/ that names no file answers index.html, so the dashboard's own URLs (/dashboard/services/payments-api)
can be bookmarked and reloaded. Every answer carries a Content-Security-Policy that allows only this origin.
"""
from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"
DASHBOARD_PREFIX = "/dashboard/"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
# A Host header goes into connect-src only when it is plainly a host[:port]; anything else could inject directives.
_PLAIN_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")


def content_security_policy(host: str) -> str:
    # 'self' covers ws:/wss: of the same host in CSP 3; the explicit sources serve browsers that predate it.
    sockets = f" ws://{host} wss://{host}" if _PLAIN_HOST.match(host) else ""
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self';"
            f" connect-src 'self'{sockets}; manifest-src 'self'; base-uri 'none'; form-action 'none';"
            " frame-ancestors 'none'")


def security_headers(host: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(host),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


class DashboardFiles:
    """Answers GET/HEAD under /dashboard/ from one folder; never outside it."""

    def __init__(self, root: Path = DASHBOARD_DIR):
        self.root = root.resolve()

    def resolve(self, tail: str) -> Path:
        """The file `tail` names, or index.html (also for anything outside the folder or hidden)."""
        index = self.root / "index.html"
        if not tail or any(part in ("", ".", "..") or part.startswith(".") for part in tail.split("/")):
            return index
        candidate = (self.root / tail).resolve()
        if candidate.is_relative_to(self.root) and candidate.is_file():
            return candidate
        return index

    async def serve(self, request: web.Request) -> web.StreamResponse:
        path = self.resolve(request.match_info.get("tail", ""))
        if not path.is_file():
            raise web.HTTPNotFound()
        headers = {
            **security_headers(request.host),
            "Content-Type": CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
            # Revalidated on every load (ETag / Last-Modified answer 304), so a new build is never served stale.
            "Cache-Control": "no-cache",
        }
        return web.FileResponse(path, headers=headers)


async def to_dashboard(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(DASHBOARD_PREFIX)


def add_dashboard_routes(app: web.Application, files: DashboardFiles) -> None:
    app.router.add_get("/", to_dashboard)
    app.router.add_get("/dashboard", to_dashboard)
    app.router.add_get("/dashboard/{tail:.*}", files.serve)

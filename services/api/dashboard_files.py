"""The operator dashboard's static files (`services/api/dashboard/`), served at /dashboard/ by the gateway itself.

The files hold no data, so they are served without auth; every call they make carries the admin token. A GET under
/dashboard/ that names no file answers index.html, so the dashboard's own URLs (/dashboard/services/payments-api)
can be bookmarked and reloaded. Every answer carries a Content-Security-Policy that allows only this origin.

Text files are sent gzipped to a browser that accepts it: aiohttp's FileResponse sends `file.js.gz` in place of
`file.js` when the sibling exists. `make setup` writes the siblings (git-ignored); the gateway rewrites one that
is missing or older than its source before it serves the file, so an edited file is never answered stale.
"""
from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import sys
import tempfile
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
COMPRESSED_SUFFIXES = frozenset({".html", ".js", ".mjs", ".css", ".json", ".map", ".svg", ".txt"})
logger = logging.getLogger("fusebox.api.dashboard")

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


def gzip_sibling(path: Path) -> Path | None:
    """`path.gz`, written (atomically) when missing or older than `path`; None for a file not sent compressed."""
    if path.suffix.lower() not in COMPRESSED_SUFFIXES:
        return None
    sibling = path.with_name(path.name + ".gz")
    source = path.stat()
    try:
        if sibling.stat().st_mtime_ns >= source.st_mtime_ns:
            return sibling
    except FileNotFoundError:
        pass
    # mtime=0 in the gzip header: the same source gives the same bytes, whoever compressed it.
    packed = gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".gz")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(packed)
        os.replace(temporary, sibling)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return sibling


def precompress(root: Path = DASHBOARD_DIR) -> list[Path]:
    """The gzip siblings of every text file under `root`, each written if missing or stale."""
    siblings = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
            sibling = gzip_sibling(path)
            if sibling is not None:
                siblings.append(sibling)
    return siblings


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
        if candidate.is_relative_to(self.root) and candidate.is_file() and candidate.suffix != ".gz":
            return candidate
        return index

    async def serve(self, request: web.Request) -> web.StreamResponse:
        path = self.resolve(request.match_info.get("tail", ""))
        if not path.is_file():
            raise web.HTTPNotFound()
        try:
            gzip_sibling(path)
        except OSError as exc:
            # The file is still served, uncompressed: a sibling that could not be refreshed must not stand in for it.
            logger.warning("cannot write the gzip copy of %s: %s", path.name, exc)
            with contextlib.suppress(OSError):
                path.with_name(path.name + ".gz").unlink(missing_ok=True)
        headers = {
            **security_headers(request.host),
            "Content-Type": CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
            # Revalidated on every load (ETag / Last-Modified answer 304), so a new build is never served stale.
            "Cache-Control": "no-cache",
            "Vary": "Accept-Encoding",
        }
        return web.FileResponse(path, headers=headers)


async def to_dashboard(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(DASHBOARD_PREFIX)


def add_dashboard_routes(app: web.Application, files: DashboardFiles) -> None:
    app.router.add_get("/", to_dashboard)
    app.router.add_get("/dashboard", to_dashboard)
    app.router.add_get("/dashboard/{tail:.*}", files.serve)


async def transferred_sizes(root: Path = DASHBOARD_DIR) -> list[tuple[str, int, int, str]]:
    """Each file as a browser gets it from these routes: (path, bytes on the wire, bytes decoded, encoding)."""
    import aiohttp

    app = web.Application()
    add_dashboard_routes(app, DashboardFiles(root))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sizes = []
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            for path in sorted(root.rglob("*")):
                tail = path.relative_to(root).as_posix()
                if not path.is_file() or path.suffix == ".gz" or tail.startswith("."):
                    continue
                async with http.get(f"http://127.0.0.1:{port}{DASHBOARD_PREFIX}{tail}",
                                    headers={"Accept-Encoding": "gzip"}) as response:
                    wire = await response.read()
                encoding = response.headers.get("Content-Encoding", "identity")
                decoded = gzip.decompress(wire) if encoding == "gzip" else wire
                sizes.append((tail, len(wire), len(decoded), encoding))
    finally:
        await runner.cleanup()
    return sizes


def main(argv: list[str]) -> None:
    if argv[:1] == ["--size"]:
        import asyncio

        sizes = asyncio.run(transferred_sizes())
        for tail, wire, decoded, encoding in sizes:
            print(f"{wire:7d}  {decoded:7d}  {encoding:8s}  {tail}")
        detail_only = sum(wire for tail, wire, _, _ in sizes if tail == "vendor/uPlot.esm.js")
        total = sum(wire for _, wire, _, _ in sizes)
        print(f"{total:7d}  {sum(d for _, _, d, _ in sizes):7d}  in all, bytes on the wire and decoded; "
              f"the fleet view {total - detail_only}, a service page adds uPlot's {detail_only}")
        return
    # `make setup`: write the gzip siblings once, so the first page load does not pay for them.
    print(f"{len(precompress())} dashboard files gzipped")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The dashboard's static files, served by the gateway: redirect, files, the SPA fallback, headers, no auth."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from fusebox.api.dashboard_files import DASHBOARD_DIR, precompress
from tests.integration.api.support import running_gateway

INDEX = b"<!doctype html><title>dashboard under test</title>"
SCRIPT = b"export const answer = 42;\n"
STYLE = b"body { color: black; }\n"


@pytest.fixture
def dashboard(tmp_path: Path) -> Path:
    root = tmp_path / "dashboard"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "app.js").write_bytes(SCRIPT)
    (root / "assets" / "style.css").write_bytes(STYLE)
    (root / ".hidden").write_bytes(b"not for the browser")
    (tmp_path / "secret.txt").write_bytes(b"outside the dashboard")
    return root


@pytest.fixture
async def site(api_settings, dashboard):
    async with running_gateway(api_settings, dashboard_dir=dashboard) as running:
        yield running


def assert_security_headers(response, host: str) -> None:
    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == f"'self' ws://{host} wss://{host}"
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_the_root_redirects_to_the_dashboard(site, http):
    for path in ("/", "/dashboard"):
        async with http.get(site.url + path, allow_redirects=False) as response:
            assert response.status == 302, path
            assert response.headers["Location"] == "/dashboard/"


async def test_files_are_served_without_a_token_with_their_content_types_and_headers(site, http):
    host = f"{site.server.host}:{site.server.port}"
    cases = [("/dashboard/", INDEX, "text/html"), ("/dashboard/index.html", INDEX, "text/html"),
             ("/dashboard/app.js", SCRIPT, "text/javascript"), ("/dashboard/assets/style.css", STYLE, "text/css")]
    for path, body, content_type in cases:
        async with http.get(site.url + path) as response:
            assert response.status == 200, path
            assert await response.read() == body, path
            assert response.headers["Content-Type"].split(";")[0] == content_type, path
            assert response.headers["Cache-Control"] == "no-cache"
            assert_security_headers(response, host)
            etag = response.headers["ETag"]
        # A reload revalidates and costs a 304, still with the headers
        async with http.get(site.url + path, headers={"If-None-Match": etag}) as response:
            assert response.status == 304, path
            assert_security_headers(response, host)


async def test_any_other_path_under_the_dashboard_answers_index_html(site, http):
    host = f"{site.server.host}:{site.server.port}"
    for path in ("/dashboard/services/payments-api", "/dashboard/services/a/b?state=open", "/dashboard/missing.js",
                 "/dashboard/.hidden", "/dashboard/%2e%2e/secret.txt", "/dashboard/assets/../../secret.txt"):
        async with http.get(URL(site.url + path, encoded=True)) as response:
            assert response.status == 200, path
            assert await response.read() == INDEX, path
            assert response.headers["Content-Type"].startswith("text/html"), path
            assert_security_headers(response, host)


async def test_the_gateway_serves_the_dashboard_folder_of_the_package(gateway, http):
    assert DASHBOARD_DIR.name == "dashboard" and DASHBOARD_DIR.parent.name == "api"
    async with http.get(gateway.url + "/dashboard/") as response:
        assert response.status == 200
        assert await response.read() == (DASHBOARD_DIR / "index.html").read_bytes()


async def test_a_host_header_cannot_inject_policy_directives(site, http):
    async with http.get(site.url + "/dashboard/", headers={"Host": "evil;script-src *"}) as response:
        assert response.status == 200
        policy = response.headers["Content-Security-Policy"]
    assert "*" not in policy and "evil" not in policy
    assert "connect-src 'self';" in policy


async def fetch_raw(url: str, accept_encoding: str | None) -> tuple[int, dict, bytes]:
    headers = {"Accept-Encoding": accept_encoding} if accept_encoding else {"Accept-Encoding": "identity"}
    async with aiohttp.ClientSession(auto_decompress=False) as raw:
        async with raw.get(url, headers=headers) as response:
            return response.status, dict(response.headers), await response.read()


async def test_a_browser_accepting_gzip_gets_the_same_bytes_gzipped(site):
    host = f"{site.server.host}:{site.server.port}"
    for path, body, content_type in [("/dashboard/app.js", SCRIPT, "text/javascript"),
                                     ("/dashboard/assets/style.css", STYLE, "text/css"),
                                     ("/dashboard/services/payments-api", INDEX, "text/html")]:
        status, headers, wire = await fetch_raw(site.url + path, "gzip, deflate, br")
        assert status == 200, path
        assert headers["Content-Encoding"] == "gzip", path
        assert headers["Content-Type"].split(";")[0] == content_type, path
        assert "Accept-Encoding" in headers["Vary"], path
        assert gzip.decompress(wire) == body, path
        assert int(headers["Content-Length"]) == len(wire)
        # The compressed answer carries the same headers as the plain one
        assert headers["Content-Security-Policy"].startswith("default-src 'none'") and host in headers[
            "Content-Security-Policy"]
        # A client that does not accept gzip gets the file as it is
        status, headers, plain = await fetch_raw(site.url + path, None)
        assert status == 200 and "Content-Encoding" not in headers and plain == body, path


async def test_an_edited_file_is_never_answered_from_a_stale_gzip_copy(site, dashboard):
    status, _, wire = await fetch_raw(site.url + "/dashboard/app.js", "gzip")
    assert gzip.decompress(wire) == SCRIPT
    edited = b"export const answer = 43;\n"
    script = dashboard / "app.js"
    script.write_bytes(edited)
    # An mtime after the gzip copy's, as an editor saving a second later gives it
    later = (dashboard / "app.js.gz").stat().st_mtime_ns + 1_000_000_000
    os.utime(script, ns=(later, later))
    status, headers, wire = await fetch_raw(site.url + "/dashboard/app.js", "gzip")
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(wire) == edited


async def test_a_gzip_copy_is_not_served_under_its_own_name(site):
    await fetch_raw(site.url + "/dashboard/app.js", "gzip")
    status, headers, body = await fetch_raw(site.url + "/dashboard/app.js.gz", None)
    assert status == 200 and body == INDEX and headers["Content-Type"].startswith("text/html")


def test_make_setup_precompresses_every_text_file_and_skips_the_rest(dashboard):
    (dashboard / "logo.png").write_bytes(b"\x89PNG not text")
    written = precompress(dashboard)
    assert {p.relative_to(dashboard).as_posix() for p in written} == {"index.html.gz", "app.js.gz",
                                                                        "assets/style.css.gz"}
    assert gzip.decompress((dashboard / "app.js.gz").read_bytes()) == SCRIPT
    # The same source gives the same bytes
    first = (dashboard / "app.js.gz").read_bytes()
    (dashboard / "app.js.gz").unlink()
    precompress(dashboard)
    assert (dashboard / "app.js.gz").read_bytes() == first

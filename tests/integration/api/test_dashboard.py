"""The dashboard's static files, served by the gateway: redirect, files, the SPA fallback, headers, no auth."""
from __future__ import annotations

from pathlib import Path

import pytest
from yarl import URL

from fusebox.api.dashboard_files import DASHBOARD_DIR
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

"""`/_dashboard`: the built page and its assets, served by the app itself;
`[server] dashboard = false` turns it off; in dev mode the admin key is put
in the page only for a person on this machine opening it, never for another
host, a proxied request, a rebound DNS name or another site's script."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from server.app import LivesyncApp
from server.config import Config, DatabaseConfig, FunctionsConfig, ServerConfig
from server.dashboard.routes import STATIC_DIR
from tests.helpers.asgi_server import serve_asgi
from tests.helpers.timeouts import REPLY

FUNCTIONS = Path(__file__).resolve().parents[1] / "admin" / "dashboard_functions"
KEY = "livesync-admin-test-key-0123456789"
META = re.compile(r'<meta name="livesync-admin-key" content="([^"]*)">')


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, *, dev: bool, dashboard: bool = True
) -> AsyncIterator[tuple[LivesyncApp, httpx.AsyncClient]]:
    config = Config(
        server=replace(ServerConfig(), admin_key=KEY, dashboard=dashboard),
        functions=FunctionsConfig(FUNCTIONS),
        database=DatabaseConfig(f"sqlite:///{tmp_path / 'dashboard.db'}"),
    )
    app = LivesyncApp(config, dev=dev)
    async with (
        serve_asgi(app, lifespan="on") as url,
        httpx.AsyncClient(base_url=url, timeout=REPLY) as http,
    ):
        yield app, http


def key_in(page: str) -> str | None:
    found = META.search(page)
    return found.group(1) if found else None


async def test_the_page_and_its_assets_are_served_from_the_package(tmp_path: Path) -> None:
    async with serving(tmp_path, dev=False) as (_, http):
        bare = await http.get("/_dashboard")
        assert (bare.status_code, bare.headers["location"]) == (308, "/_dashboard/")
        page = await http.get("/_dashboard/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        assert "<title>livesync dashboard</title>" in page.text
        assert key_in(page.text) is None  # not dev: the page asks for the key
        assets = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', page.text)
        assert {Path(a).suffix for a in assets} == {".js", ".css"}
        for asset in assets:
            reply = await http.get(f"/_dashboard/{asset}")
            assert reply.status_code == 200
            assert reply.content == (STATIC_DIR / asset).read_bytes()
            assert "immutable" in reply.headers["cache-control"]


async def test_nothing_outside_the_built_folder_is_reachable(tmp_path: Path) -> None:
    async with serving(tmp_path, dev=False) as (_, http):
        for path in (
            "/_dashboard/../dashboard/routes.py",
            "/_dashboard/assets/..%2F..%2Froutes.py",
            "/_dashboard/%2e%2e/routes.py",
            "/_dashboard/assets/missing.js",
        ):
            reply = await http.get(path)
            assert reply.status_code == 404, path
        refused = await http.post("/_dashboard/", content=b"x")
        assert refused.status_code == 405


async def test_dashboard_false_serves_no_page_but_the_api_still_answers(tmp_path: Path) -> None:
    async with serving(tmp_path, dev=True, dashboard=False) as (_, http):
        reply = await http.get("/_dashboard/")
        assert reply.status_code == 404
        assert "[server] dashboard = false" in reply.text
        assert KEY not in reply.text
        health = await http.post(
            "/api/query",
            json={"path": "_system/dashboard:health", "args": {}},
            headers={"authorization": f"Convex {KEY}"},
        )
        assert health.json()["value"]["storeBackend"] == "sqlite"


async def test_dev_mode_opens_signed_in_for_a_visit_from_this_machine(tmp_path: Path) -> None:
    async with serving(tmp_path, dev=True) as (_, http):
        page = await http.get("/_dashboard/", headers={"sec-fetch-site": "none"})
        assert key_in(page.text) == KEY
        localhost = await http.get(
            "/_dashboard/", headers={"host": f"localhost:{http.base_url.port}"}
        )
        assert key_in(localhost.text) == KEY


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "rebound.example.com"},  # DNS rebinding: a site's name pointed at 127.0.0.1
        {"x-forwarded-for": "203.0.113.9"},  # a proxy on this machine passing on a visitor
        {"forwarded": "for=203.0.113.9"},
        {"origin": "http://evil.example.com"},  # another page's fetch()
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-origin"},  # opened by a page the app serves (a file, say)
    ],
    ids=["other-host-name", "x-forwarded-for", "forwarded", "origin", "cross-site", "same-origin"],
)
async def test_dev_mode_never_puts_the_key_in_a_page_someone_else_asked_for(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    async with serving(tmp_path, dev=True) as (_, http):
        page = await http.get("/_dashboard/", headers=headers)
        assert page.status_code == 200
        assert key_in(page.text) is None
        assert KEY not in page.text
        # No CORS grant either: another origin cannot read the page at all.
        assert "access-control-allow-origin" not in page.headers


async def test_dev_mode_never_puts_the_key_in_a_page_for_another_host(tmp_path: Path) -> None:
    async with serving(tmp_path, dev=True) as (app, _):
        remote = httpx.ASGITransport(app=app, client=("198.51.100.4", 50000))
        async with httpx.AsyncClient(transport=remote, base_url="http://127.0.0.1") as http:
            page = await http.get("/_dashboard/")
        assert page.status_code == 200
        assert KEY not in page.text


async def test_outside_dev_mode_no_visit_gets_the_key(tmp_path: Path) -> None:
    async with serving(tmp_path, dev=False) as (_, http):
        page = await http.get("/_dashboard/", headers={"sec-fetch-site": "none"})
        assert KEY not in page.text

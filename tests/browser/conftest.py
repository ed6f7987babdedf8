"""Fixtures for the browser tests: the built react-chat app, a static server
for it, a `livesync dev` server, and the Node + Chromium toolchain.

The app is built once per session into a temporary folder (never into the
checkout's dist/), with `npm ci` first when node_modules is missing or older
than the lockfile.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.ci import skip_or_fail
from tests.helpers.npm import installed_modules, run_npm
from tests.helpers.server import REPO_ROOT, DevServer
from tests.helpers.timeouts import REPLY

__all__ = [
    "APP_DIR",
    "CHAT_FUNCTIONS",
    "DASHBOARD_UI",
    "DevServer",
    "app_dist",
    "app_modules",
    "app_url",
    "dashboard_modules",
    "browser_ready",
    "dev_server",
    "node_tools",
    "require",
]

APP_DIR = REPO_ROOT / "examples" / "react-chat"
DASHBOARD_UI = REPO_ROOT / "server" / "dashboard" / "ui"
CHAT_FUNCTIONS = REPO_ROOT / "examples" / "chat" / "functions"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))


def require(missing: list[str]) -> None:
    """Skip (locally) or fail (under CI) when something the browser tests need is missing."""
    if not missing:
        return
    skip_or_fail("the browser tests cannot run: " + "; ".join(missing))


@pytest.fixture(scope="session")
def node_tools() -> None:
    """Node and npm, which building the app needs."""
    require([f"{tool} is not on PATH" for tool in ("node", "npm") if shutil.which(tool) is None])


@pytest.fixture(scope="session")
def browser_ready(node_tools: None) -> None:
    """Node plus Debian's Chromium (examples/react-chat/install-browser.sh installs it)."""
    if not CHROMIUM.exists():
        require([f"{CHROMIUM} is missing (run examples/react-chat/install-browser.sh)"])


@pytest.fixture(scope="session")
def app_modules(node_tools: None) -> Path:
    """examples/react-chat/node_modules, installed from the lockfile if stale."""
    return installed_modules(APP_DIR)


@pytest.fixture(scope="session")
def dashboard_modules(node_tools: None) -> Path:
    """server/dashboard/ui/node_modules (the dashboard's driver needs them)."""
    return installed_modules(DASHBOARD_UI)


@pytest.fixture(scope="session")
def app_dist(app_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app built by Vite in dev-auth mode (no Clerk key), in a temporary folder."""
    out = tmp_path_factory.mktemp("react-chat") / "dist"
    # A Clerk key (inherited, or from a .env file: the process env wins over those)
    # would build the Clerk variant, which cannot sign in offline.
    run_npm(
        ["npx", "vite", "build", "--outDir", str(out), "--emptyOutDir"],
        APP_DIR,
        env={"VITE_CLERK_PUBLISHABLE_KEY": ""},
    )
    if not (out / "index.html").is_file():
        raise AssertionError(f"vite build wrote no index.html into {out}")
    return out


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per asset request would drown the test output


@pytest.fixture(scope="session")
def app_url(app_dist: Path) -> Iterator[str]:
    """The built app, served over HTTP on 127.0.0.1 (another origin than the server's)."""
    handler = functools.partial(_QuietHandler, directory=str(app_dist))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=REPLY)


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    """A fresh `livesync dev` serving the chat example, stopped at teardown."""
    server = DevServer(CHAT_FUNCTIONS, tmp_path / "livesync")
    server.start()
    yield server
    server.stop()

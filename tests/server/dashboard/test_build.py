"""The dashboard ships built: server/dashboard/static must be what building
server/dashboard/ui produces now (run `npm run build` there after changing
it), and the wheel takes the build but not the source or its packages."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from server.dashboard.routes import STATIC_DIR
from tests.helpers.ci import skip_or_fail
from tests.helpers.npm import installed_modules, run_npm
from tests.helpers.server import REPO_ROOT

UI = REPO_ROOT / "server" / "dashboard" / "ui"


def files(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.timeout(300)
def test_the_committed_build_is_what_the_ui_source_builds_to(tmp_path: Path) -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        skip_or_fail(f"the dashboard cannot be built: {', '.join(missing)} not on PATH")
    installed_modules(UI)
    out = tmp_path / "static"
    run_npm(["npx", "tsc", "--noEmit"], UI)
    run_npm(["npx", "vite", "build", "--outDir", str(out), "--emptyOutDir"], UI)
    built, committed = files(out), files(STATIC_DIR)
    assert sorted(built) == sorted(committed), (
        "server/dashboard/static is stale: run `npm run build` in server/dashboard/ui"
    )
    for name, content in built.items():
        assert committed[name] == content, f"{name} is stale: run `npm run build` in the ui"


def test_the_wheel_ships_the_build_and_leaves_the_source_out() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "server" in wheel["packages"]  # static/ is inside it
    assert "server/dashboard/ui" in wheel["exclude"]
    assert (STATIC_DIR / "index.html").is_file()
    assert STATIC_DIR.is_relative_to(REPO_ROOT / "server")

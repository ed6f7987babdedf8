"""Package-wide rules for protocol/: no I/O imports, and explicit exports."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import protocol

PROTOCOL_DIR = Path(protocol.__file__).parent
MODULES = sorted(PROTOCOL_DIR.glob("*.py"))
FORBIDDEN = {
    "asyncio",
    "websockets",
    "sqlite3",
    "aiosqlite",
    "asyncpg",
    "jwt",
    "httpx",
    "uvicorn",
    "socket",
    "server",
    "client",
}


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_import_checker_sees_every_import_form() -> None:
    source = "import asyncio.events\nfrom jwt import decode\nif True:\n    import socket as s\n"
    assert imported_roots(source) == {"asyncio", "jwt", "socket"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_protocol_modules_import_nothing_that_does_io(path: Path) -> None:
    assert imported_roots(path.read_text()) & FORBIDDEN == set()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_protocol_module_declares_all_and_it_resolves(path: Path) -> None:
    module = importlib.import_module(
        f"protocol.{path.stem}" if path.stem != "__init__" else "protocol"
    )
    exported = module.__all__
    assert len(exported) == len(set(exported))
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []


def test_the_package_re_exports_the_core_api() -> None:
    for name in (
        "ServerSession",
        "Transition",
        "encode",
        "decode_args",
        "RawJSON",
        "MISSING",
        "StateVersion",
    ):
        assert name in protocol.__all__

"""A fresh PostgreSQL database per test, on the server named by an env var.

`LIVESYNC_TEST_POSTGRES_URL` (e.g.
`postgresql://livesync:livesync@127.0.0.1:5432/postgres`) names a server and
a role allowed to create databases; `.ci/run` starts one and sets it. Unset,
PostgreSQL tests skip, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests.helpers.ci import skip_or_fail

__all__ = ["POSTGRES_URL_ENV", "fresh_database", "server_url", "with_database"]

POSTGRES_URL_ENV = "LIVESYNC_TEST_POSTGRES_URL"


def server_url() -> str:
    """The test server's URL; skips the test (fails it under CI) when unset."""
    url = os.environ.get(POSTGRES_URL_ENV, "")
    if not url:
        skip_or_fail(f"{POSTGRES_URL_ENV} is not set, so there is no PostgreSQL to test against")
    return url


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead of its own."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """Create an empty database with a unique name, yield its URL, drop it."""
    base = server_url()
    name = f"livesync_test_{uuid.uuid4().hex[:16]}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(base, name)
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()

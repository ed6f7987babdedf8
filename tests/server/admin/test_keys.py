"""The admin key: made once at the first start (printed once, kept 0600
beside the database), shown and rotated by `livesync admin-key`, a
rotation in force for the running server at once, and `[server] admin_key`
taking precedence for nodes that share one."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from server.admin.keys import KEY_PREFIX, AdminKey, admin_grant
from server.errors import TokenInvalid
from tests.helpers.cli import livesync
from tests.helpers.server import StartServer
from tests.helpers.timeouts import REPLY

FUNCTIONS = Path(__file__).parents[2] / "compat" / "functions"


def test_a_key_is_made_once_kept_private_and_rotated(tmp_path: Path) -> None:
    keys = AdminKey(tmp_path / "data" / "admin-key")
    assert keys.current() is None and not keys.matches("")
    made = keys.ensure()
    assert made is not None and made.startswith(KEY_PREFIX) and len(made) > 40
    assert keys.ensure() is None  # already there
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert keys.matches(made) and not keys.matches(made + "x") and not keys.matches("")
    new = AdminKey(keys.path).rotate()  # another process rotates it
    assert keys.current() == new and not keys.matches(made)


def test_a_configured_key_wins_and_no_file_is_made(tmp_path: Path) -> None:
    keys = AdminKey(tmp_path / "admin-key", configured="shared-by-nodes")
    assert keys.ensure() is None and not keys.path.exists()
    assert keys.matches("shared-by-nodes")


def test_a_grant_acts_as_an_identity_or_refuses(tmp_path: Path) -> None:
    keys = AdminKey(tmp_path / "admin-key")
    key = keys.rotate()
    assert admin_grant(keys, key, None).identity is None
    alice = admin_grant(keys, key, {"subject": "alice", "issuer": "https://i", "email": "a@x"})
    assert alice.identity is not None and alice.identity.token_identifier == "https://i|alice"
    assert alice.identity.email == "a@x"
    for bad_key, acting in ((key + "x", None), (key, "alice"), (key, {"subject": "alice"})):
        with pytest.raises(TokenInvalid):
            admin_grant(keys, bad_key, acting)
    with pytest.raises(TokenInvalid):
        admin_grant(None, key, None)


def test_the_first_start_prints_the_key_once_and_the_command_shows_and_rotates_it(
    start_server: StartServer,
) -> None:
    server = start_server(FUNCTIONS)
    printed = [line for line in server.stdout_lines() if "admin key" in line]
    assert len(printed) == 1
    key = printed[0].rsplit(": ", 1)[1].strip()
    config = ["--config", str(server.config_path)]
    shown = livesync("admin-key", *config)
    assert shown.returncode == 0 and shown.stdout.strip() == key
    assert key not in server.stderr_text()  # never in the log

    def whoami(admin_key: str) -> int:
        reply = httpx.post(
            f"{server.url}/api/query",
            json={"path": "secrets:whoami", "args": {}},
            headers={"authorization": f"Convex {admin_key}"},
            timeout=REPLY,
        )
        return reply.status_code

    assert whoami(key) == 200
    rotated = livesync("admin-key", "--rotate", *config).stdout.strip()
    assert rotated != key and whoami(rotated) == 200 and whoami(key) == 401
    server.restart()
    assert not [line for line in server.stdout_lines() if "admin key" in line][1:]

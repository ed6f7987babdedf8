"""Auth through the official convex npm client (1.48.0): `ConvexClient.setAuth(fetchToken, onChange)`.

Each test runs a real dev issuer (in a thread), a real server trusting it as an
OIDC provider, and one Node script whose fetchToken asks that issuer for tokens
over HTTP, exactly as a browser app would ask Clerk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.issuer import ThreadedIssuer, running_issuer
from tests.helpers.node import NodeResult, run_node_script
from tests.helpers.node_dialog import run_node_dialog
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import NODE_SCENARIO

pytestmark = [pytest.mark.compat, pytest.mark.usefixtures("node_ready")]

COMPAT_DIR = Path(__file__).resolve().parent
FUNCTIONS_DIR = COMPAT_DIR / "functions"
CHAT_FUNCTIONS = COMPAT_DIR.parents[1] / "examples" / "chat" / "functions"
JS_DIR = COMPAT_DIR / "js"


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[ThreadedIssuer]:
    with running_issuer(tmp_path / "issuer-keys") as running:
        yield running


def _serve(start_server: StartServer, issuer: ThreadedIssuer, functions: Path) -> LivesyncServer:
    return start_server(functions, config_extra=issuer.provider_config())


def _run(server: LivesyncServer, issuer: ThreadedIssuer, script: str) -> NodeResult:
    result = run_node_script(JS_DIR / script, [server.url, issuer.url], timeout=NODE_SCENARIO)
    assert result.named("passed"), str(result)
    return result


def test_short_token_is_refreshed_on_the_live_socket_while_updates_keep_arriving(
    start_server: StartServer, issuer: ThreadedIssuer
) -> None:
    server = _serve(start_server, issuer, FUNCTIONS_DIR)
    result = _run(server, issuer, "auth_refresh.mjs")
    assert result.one("authenticated")["values"][0] is True
    done = result.one("done")
    assert all(done["onChange"]), done  # never false: no refresh was refused
    scheduled = done["calls"][2:]
    assert len(scheduled) >= 2, done
    assert done["connectionCount"] == 1  # every refresh went over the first socket
    assert done["now"] > done["firstTokenExp"]  # the session outlived its first token
    assert set(done["whoamiValues"]) == {"user_1"} and done["whoamiErrors"] == []
    assert done["notes"] == ["after refresh 1", "after refresh 2"]
    assert [e["poster"] for e in result.named("refreshed")] == ["user_1", "user_1"]


def test_refused_token_ends_in_on_change_false_and_the_client_carries_on_signed_out(
    start_server: StartServer, issuer: ThreadedIssuer, tmp_path: Path
) -> None:
    server = _serve(start_server, issuer, FUNCTIONS_DIR)
    with running_issuer(tmp_path / "stranger-keys") as stranger:
        result = run_node_script(
            JS_DIR / "auth_rejected.mjs",
            [server.url, issuer.url, stranger.url],
            timeout=NODE_SCENARIO,
        )
    assert result.named("passed"), str(result)
    done = result.one("done")
    assert done["onChange"] == [False]
    assert done["whoami"] is None
    assert done["fetches"] >= 2  # the client asked for a fresh token before giving up
    assert "No auth provider found" in server.stderr_text()


def test_get_for_current_user_shows_each_user_only_their_own_and_refuses_the_signed_out(
    start_server: StartServer, issuer: ThreadedIssuer
) -> None:
    server = _serve(start_server, issuer, CHAT_FUNCTIONS)
    result = _run(server, issuer, "auth_per_user.mjs")
    refused = result.one("anonymous")
    assert refused["isConvexError"] and refused["data"] == "Not authenticated", refused
    seen = result.one("seen")
    assert seen["alice"] == seen["aliceNow"] == ["from alice 1", "from alice 2"]
    assert seen["bob"] == seen["bobNow"] == ["from bob"]
    assert seen["authors"] == ["alice@example.com", "bob@example.com"]
    # No intermediate result ever showed someone else's message.
    assert all(body.startswith("from alice") for rows in seen["aliceUpdates"] for body in rows)
    assert all(body == "from bob" for rows in seen["bobUpdates"] for body in rows)


def _rotation(
    start_server: StartServer, issuer: ThreadedIssuer, ttl: int, leeway: int
) -> dict[str, Any]:
    server = _serve(start_server, issuer, FUNCTIONS_DIR)
    rotated: list[str] = []

    def rotate(_event: dict[str, Any]) -> str:
        rotated.append(issuer.rotate())
        return "rotated"

    result = run_node_dialog(
        JS_DIR / "auth_rotation.mjs",
        [server.url, issuer.url, str(ttl), str(leeway)],
        wait_for="confirmed",
        act=rotate,
        timeout=NODE_SCENARIO,
    )
    assert result.named("passed"), str(result)
    done = result.one("done")
    assert done["newKid"] == rotated[0] != done["oldKid"]
    return done


def test_key_rotation_at_the_issuer_is_picked_up_without_dropping_the_session(
    start_server: StartServer, issuer: ThreadedIssuer
) -> None:
    # The refresh comes 12 s after the fresh token, so the new kid reaches the
    # server after its 10 s unknown-kid refetch cooldown (KeyCachePolicy) has run out.
    done = _rotation(start_server, issuer, ttl=15, leeway=3)
    assert all(done["onChange"]), done  # the new-key token was accepted
    assert done["connectionCount"] == 1, done  # on the same socket
    assert done["poster"] == "user_1"


def test_key_rotated_right_after_a_key_fetch_is_picked_up_without_dropping_the_session(
    start_server: StartServer, issuer: ThreadedIssuer
) -> None:
    done = _rotation(start_server, issuer, ttl=10, leeway=5)  # refresh 5 s after the fetch
    assert all(done["onChange"]), done
    assert done["connectionCount"] == 1, done

"""A connection's auth states over a raw WebSocket against a real server and a real issuer.

Authenticate puts the connection in `loading` until the token is checked; the
identity bump then rides on the next Transition. These tests send exact frames
and read exact answers, including the AuthError and close of a refused or
expired token, and the `/metrics` gauges that follow the states.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.helpers.issuer import ThreadedIssuer, custom_jwt_provider_config, running_issuer
from tests.helpers.raw_sync import RawSyncSocket, add_query, identity_version
from tests.helpers.server import LivesyncServer, StartServer
from tests.helpers.timeouts import REPLY

FUNCTIONS = Path(__file__).resolve().parents[2] / "compat" / "functions"
EXPIRED = "Convex token identity expired"


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[ThreadedIssuer]:
    with running_issuer(tmp_path / "issuer-keys") as running:
        yield running


@pytest.fixture
def server(start_server: StartServer, issuer: ThreadedIssuer) -> LivesyncServer:
    # Custom JWT, because its 5 s exp leeway lets a just-expired token in (see the
    # mutation-after-exp test); DEBUG so every log line the server has is checked for tokens.
    return start_server(
        FUNCTIONS,
        config_extra=custom_jwt_provider_config(issuer.url),
        env={"LIVESYNC_LOG_LEVEL": "DEBUG"},
    )


async def _socket(server: LivesyncServer) -> RawSyncSocket:
    return await RawSyncSocket(server.ws_url).open()


def _metrics(server: LivesyncServer) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", timeout=REPLY).text
    found = {}
    for line in text.splitlines():
        match = re.match(
            r"^(livesync_(?:connections\{[^}]*\}|auth_transitions_total\{[^}]*\}"
            r"|inline_transitions_total)) (\S+)$",
            line,
        )
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def _gauge(metrics: dict[str, float], state: str) -> float:
    return metrics.get(f'livesync_connections{{state="{state}"}}', 0.0)


def _entered(metrics: dict[str, float], state: str) -> float:
    return metrics.get(f'livesync_auth_transitions_total{{to="{state}"}}', 0.0)


def _updates(transition: dict[str, object]) -> dict[int, object]:
    mods = transition["modifications"]
    assert isinstance(mods, list)
    return {m["queryId"]: m.get("value") for m in mods if m["type"] == "QueryUpdated"}


async def test_modify_query_set_right_after_authenticate_runs_under_the_new_identity(
    server: LivesyncServer, issuer: ThreadedIssuer
) -> None:
    sock = await _socket(server)
    # Both frames leave before the server can answer: loading must hold the second back.
    await sock.authenticate(issuer.token("user_1"))
    await sock.modify(add_query(0, "auth_probe:whoami"))

    transitions = []
    while not transitions or 0 not in _updates(transitions[-1]):
        transitions.append(await sock.next_of("Transition"))
    for t in transitions:
        assert t["endVersion"]["identity"] == 1, transitions  # never answered as identity 0
    assert _updates(transitions[-1])[0] == "user_1"
    await sock.close()


async def test_refresh_with_the_same_identity_bumps_identity_and_resends_nothing(
    server: LivesyncServer, issuer: ThreadedIssuer
) -> None:
    sock = await _socket(server)
    await sock.authenticate(issuer.token("user_1"))
    await sock.modify(add_query(0, "auth_probe:whoami"), add_query(1, "auth_probe:notes"))
    first = await sock.next_of("Transition")
    while set(_updates(first)) != {0, 1}:
        first = await sock.next_of("Transition")

    inline = _metrics(server).get("livesync_inline_transitions_total", 0.0)
    await sock.authenticate(issuer.token("user_1"))  # a fresh token for the same user
    refreshed = await sock.next_of("Transition")
    assert identity_version(refreshed) == (1, 2)
    assert refreshed["modifications"] == []
    assert refreshed["startVersion"] == first["endVersion"] | {
        "ts": refreshed["startVersion"]["ts"]
    }
    # Keys cached and nothing to re-run: the reader accepted the token and
    # wrote this Transition itself, without waking the connection's loop.
    assert _metrics(server)["livesync_inline_transitions_total"] == inline + 1
    await sock.close()


async def test_token_expiring_mid_session_gets_auth_error_at_exp_and_a_close(
    server: LivesyncServer, issuer: ThreadedIssuer
) -> None:
    token = issuer.token("user_1", ttl=2)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    sock = await _socket(server)
    await sock.authenticate(token)
    await sock.modify(add_query(0, "auth_probe:whoami"))
    accepted = await sock.next_of("Transition")
    assert accepted["endVersion"]["identity"] == 1

    error = await sock.next_of("AuthError")  # nothing is sent by the client meanwhile
    assert time.time() >= exp - 0.05  # not before exp (allowing for clock granularity)
    assert error == {
        "type": "AuthError",
        "error": EXPIRED,
        "baseVersion": 1,
        "authUpdateAttempted": False,
    }
    code, _ = await sock.closed()
    assert code is not None


async def test_a_refresh_moves_the_expiry_to_the_new_tokens_exp(
    server: LivesyncServer, issuer: ThreadedIssuer
) -> None:
    first, second = issuer.token("user_1", ttl=2), issuer.token("user_1", ttl=4)
    exp = jwt.decode(second, options={"verify_signature": False})["exp"]
    sock = await _socket(server)
    await sock.authenticate(first)
    assert (await sock.next_of("Transition"))["endVersion"]["identity"] == 1
    await sock.authenticate(second)
    assert (await sock.next_of("Transition"))["endVersion"]["identity"] == 2

    # The first token's timer fires at its exp, finds the second in force and
    # re-arms; the error comes at the second token's exp.
    error = await sock.next_of("AuthError")
    assert time.time() >= exp - 0.05
    assert error["baseVersion"] == 2 and error["authUpdateAttempted"] is False
    await sock.close()


async def test_mutation_after_exp_gets_auth_error_and_never_runs(
    server: LivesyncServer, issuer: ThreadedIssuer
) -> None:
    now = int(time.time())
    # Two seconds past exp: inside the custom-JWT validation leeway, already past for the session.
    late = issuer.sign("user_1", iat=now - 60, exp=now - 2)
    sock = await _socket(server)
    await sock.authenticate(late)
    await sock.mutation("auth_probe:post", {"body": "after exp"})

    code, seen = await sock.closed()
    assert "MutationResponse" not in seen
    error = next(m for m in sock.received if m["type"] == "AuthError")
    assert error["error"] == EXPIRED
    assert error["authUpdateAttempted"] is False
    assert code is not None

    check = await _socket(server)
    await check.modify(add_query(0, "auth_probe:notes"))
    assert _updates(await check.next_of("Transition"))[0] == []  # the mutation never ran
    await check.close()


async def test_token_type_none_returns_to_unauthenticated_and_metrics_follow(
    server: LivesyncServer, issuer: ThreadedIssuer
) -> None:
    sock = await _socket(server)
    await sock.modify(add_query(0, "auth_probe:whoami"))
    assert _updates(await sock.next_of("Transition"))[0] is None
    before = _metrics(server)
    assert _gauge(before, "unauthenticated") == 1

    await sock.authenticate(issuer.token("user_1"))
    signed_in = await sock.next_of("Transition")
    assert identity_version(signed_in) == (0, 1)
    assert _updates(signed_in)[0] == "user_1"
    during = _metrics(server)
    assert _gauge(during, "authenticated") == 1
    assert _gauge(during, "unauthenticated") == 0
    assert _entered(during, "loading") == _entered(before, "loading") + 1
    assert _entered(during, "authenticated") == _entered(before, "authenticated") + 1

    await sock.authenticate(None)
    signed_out = await sock.next_of("Transition")
    assert identity_version(signed_out) == (1, 2)
    assert _updates(signed_out)[0] is None
    after = _metrics(server)
    assert _gauge(after, "authenticated") == 0
    assert _gauge(after, "unauthenticated") == 1
    assert _entered(after, "unauthenticated") == _entered(during, "unauthenticated") + 1
    await sock.close()


async def test_bad_token_gets_auth_error_with_its_message_and_a_close_and_is_never_logged(
    server: LivesyncServer, issuer: ThreadedIssuer, tmp_path: Path
) -> None:
    good = issuer.token("user_1")
    with running_issuer(tmp_path / "stranger-keys") as stranger:
        bad = stranger.token("mallory")  # well formed, signed, but from an issuer nobody trusts

    ok = await _socket(server)
    await ok.authenticate(good)
    assert (await ok.next_of("Transition"))["endVersion"]["identity"] == 1

    sock = await _socket(server)
    await sock.authenticate(bad)
    code, seen = await sock.closed()
    assert seen == ["AuthError"]
    error = sock.received[0]
    assert error["authUpdateAttempted"] is True
    assert error["baseVersion"] == 0
    assert "No auth provider found" in error["error"]
    assert code is not None
    await ok.close()

    logs = server.stderr_text()
    assert "token refused" in logs  # the refusal itself is logged...
    for token in (good, bad):
        for part in token.split("."):
            assert part not in logs  # ...but no token, nor any piece of one

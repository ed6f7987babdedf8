"""Auth through the official convex PyPI client (0.8.1): `ConvexClient.set_auth(token)`.

A real dev issuer (in its own process: this client holds the GIL while it
blocks, which would starve an issuer thread in the test process) mints the tokens; the server trusts it as an
OIDC provider and serves the example chat app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from convex import ConvexClient, ConvexError

from tests.helpers.issuer import ProcessIssuer, running_issuer_process
from tests.helpers.server import REPO_ROOT, LivesyncServer, StartServer

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

CHAT_FUNCTIONS = REPO_ROOT / "examples" / "chat" / "functions"


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[ProcessIssuer]:
    with running_issuer_process(tmp_path / "issuer-keys") as running:
        yield running


def _signed_in(server: LivesyncServer, issuer: ProcessIssuer, name: str) -> ConvexClient:
    client = ConvexClient(server.url)
    client.set_auth(issuer.token(f"user_{name}", email=f"{name}@example.com", ttl=600))
    return client


def test_each_signed_in_user_reads_only_their_own_messages(
    start_server: StartServer, issuer: ProcessIssuer
) -> None:
    server = start_server(CHAT_FUNCTIONS, config_extra=issuer.provider_config())
    alice = _signed_in(server, issuer, "alice")
    bob = _signed_in(server, issuer, "bob")
    alice.mutation("messages:send", {"channel": "general", "body": "alice 1"})
    bob.mutation("messages:send", {"channel": "general", "body": "bob 1"})
    alice.mutation("messages:send", {"channel": "general", "body": "alice 2"})

    assert sorted(m["body"] for m in alice.query("messages:getForCurrentUser")) == [
        "alice 1",
        "alice 2",
    ]
    assert [m["body"] for m in bob.query("messages:getForCurrentUser")] == ["bob 1"]
    authors = {m["body"]: m["author"] for m in bob.query("messages:list", {"channel": "general"})}
    assert authors == {
        "alice 1": "alice@example.com",
        "alice 2": "alice@example.com",
        "bob 1": "bob@example.com",
    }


def test_clear_auth_signs_the_client_out(start_server: StartServer, issuer: ProcessIssuer) -> None:
    server = start_server(CHAT_FUNCTIONS, config_extra=issuer.provider_config())
    alice = _signed_in(server, issuer, "alice")
    alice.mutation("messages:send", {"channel": "general", "body": "hello"})
    assert [m["body"] for m in alice.query("messages:getForCurrentUser")] == ["hello"]

    alice.clear_auth()
    with pytest.raises(ConvexError) as raised:
        alice.query("messages:getForCurrentUser")
    assert raised.value.data == "Not authenticated"

"""Authentication against a real server trusting a real dev issuer."""

from __future__ import annotations

import asyncio

import pytest

import protocol
from client import AuthState, Client
from server.dev_issuer import arequest_token
from tests.client.conftest import FUNCTIONS, fast_backoff, provider_config
from tests.helpers.timeouts import CLIENT, READ


@pytest.fixture
async def auth_server(start_server, issuer_url):
    # Starting blocks until the server listens; keep the issuer's loop running meanwhile.
    return await asyncio.to_thread(
        start_server, FUNCTIONS, config_extra=provider_config(issuer_url)
    )


class CountingFetcher:
    """fetch_token that asks the dev issuer for short tokens and records each call."""

    def __init__(self, issuer_url: str, ttl: float) -> None:
        self.issuer_url = issuer_url
        self.ttl = ttl
        self.calls: list[bool] = []
        self._changed = asyncio.Event()

    async def __call__(self, force_refresh: bool) -> str:
        self.calls.append(force_refresh)
        token = await arequest_token(self.issuer_url, "user_1", ttl=self.ttl)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return token

    async def wait_calls(self, count: int) -> None:
        while len(self.calls) < count:
            await self._changed.wait()


def test_client_auth_states_are_the_protocols_with_the_public_strings():
    assert AuthState is protocol.AuthState
    assert {s.value for s in AuthState} == {"loading", "authenticated", "unauthenticated"}
    assert AuthState.LOADING == "loading"


async def test_token_is_confirmed_and_identity_reaches_queries(auth_server, issuer_url):
    fetcher = CountingFetcher(issuer_url, ttl=600)
    async with Client(auth_server.url, auth=fetcher) as c:
        assert c.auth_state == AuthState.LOADING
        async with asyncio.timeout(CLIENT):
            assert await c.wait_for_auth_state("authenticated") == "authenticated"
        assert await c.query("notes:whoami") == "user_1"


async def test_five_second_token_is_refreshed_several_times_while_subscribed(
    auth_server, issuer_url
):
    fetcher = CountingFetcher(issuer_url, ttl=5)
    async with Client(auth_server.url, auth=fetcher, backoff=fast_backoff) as c:
        sub = c.subscribe("notes:whoami")
        async with asyncio.timeout(CLIENT):
            assert await sub.next() == "user_1"
        # Three refreshes of a 5 s token take 15 s of token time, whatever the machine.
        async with asyncio.timeout(15.0 + READ):
            await fetcher.wait_calls(4)  # the first fetch plus three refreshes
        assert fetcher.calls[1:] == [True, True, True]
        assert c.auth_state == AuthState.AUTHENTICATED
        assert c.connection_count == 1  # refreshed on the live socket, never kicked off
        await c.mutation("notes:add", {"body": "still here"})
        assert sub.latest == "user_1"


async def test_rejected_token_is_refetched_once_then_client_runs_unauthenticated(auth_server):
    calls: list[bool] = []

    async def fetch_token(force_refresh: bool) -> str:
        calls.append(force_refresh)
        return "not-a-valid-token"

    async with Client(auth_server.url, auth=fetch_token, backoff=fast_backoff) as c:
        async with asyncio.timeout(CLIENT):
            await c.wait_for_auth_state(AuthState.UNAUTHENTICATED)
            assert await c.query("notes:whoami") is None
        assert calls == [False, True]


async def test_client_without_auth_is_unauthenticated_from_the_start(server):
    async with Client(server.url) as c:
        assert c.auth_state == AuthState.UNAUTHENTICATED
        assert await c.query("notes:whoami") is None

from __future__ import annotations

import base64
import json
import threading

import pytest

from client.tokens import (
    TokenLifetime,
    as_token_fetcher,
    read_lifetime,
    refresh_delay,
)


def unsigned_jwt(payload: object) -> str:
    def part(data: object) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(payload)}.c2ln"


def test_lifetime_is_read_without_verification():
    token = unsigned_jwt({"sub": "u", "iat": 1000, "exp": 1005})
    assert read_lifetime(token) == TokenLifetime(1000.0, 1005.0)


@pytest.mark.parametrize(
    "token",
    [
        "opaque",
        "a.b.c",
        unsigned_jwt({"iat": 1}),
        unsigned_jwt([1, 2]),
        unsigned_jwt({"iat": True, "exp": 3}),
    ],
)
def test_tokens_without_usable_claims_have_no_lifetime(token):
    assert read_lifetime(token) is None


def test_refresh_comes_ahead_of_expiry_by_the_leeway():
    assert refresh_delay(TokenLifetime(0, 3600), leeway=10) == 3590


def test_short_tokens_refresh_at_three_quarters_of_their_lifetime():
    assert refresh_delay(TokenLifetime(0, 5), leeway=10) == pytest.approx(3.75)


def test_tokens_shorter_than_a_second_are_not_refreshed():
    assert refresh_delay(TokenLifetime(0, 0.5)) is None


async def test_string_auth_becomes_a_fetcher_returning_it():
    fetch = as_token_fetcher("tok")
    assert fetch is not None
    assert await fetch(True) == "tok"
    assert as_token_fetcher(None) is None


async def test_async_fetcher_receives_the_force_flag():
    seen = []

    async def fetch_token(force_refresh: bool) -> str:
        seen.append(force_refresh)
        return "t"

    fetch = as_token_fetcher(fetch_token)
    assert fetch is not None
    assert await fetch(False) == "t" and await fetch(True) == "t"
    assert seen == [False, True]


async def test_blocking_fetcher_runs_off_the_event_loop_thread():
    threads = []

    def fetch_token(force_refresh: bool) -> str:
        threads.append(threading.get_ident())
        return "t"

    fetch = as_token_fetcher(fetch_token)
    assert fetch is not None
    assert await fetch(False) == "t"
    assert threads != [threading.get_ident()]


async def test_fetcher_returning_a_non_string_is_refused():
    fetch = as_token_fetcher(lambda force: 42)
    assert fetch is not None
    with pytest.raises(TypeError):
        await fetch(False)
    with pytest.raises(TypeError):
        as_token_fetcher(42)  # type: ignore[arg-type]

"""KeyCachePolicy: how long a fetched key set stays fresh."""

from __future__ import annotations

import httpx
import pytest

from server.auth.jwks import KeyCachePolicy

POLICY = KeyCachePolicy(min_ttl=60, max_ttl=3600, default_ttl=300)


@pytest.mark.parametrize(
    ("headers", "ttl"),
    [
        ({"cache-control": "public, max-age=120"}, 120),
        ({"cache-control": "max-age=120", "age": "100"}, 60),
        ({"cache-control": "max-age=5"}, 60),
        ({"cache-control": "max-age=999999"}, 3600),
        ({"cache-control": "no-store"}, 60),
        ({"cache-control": "no-cache, s-maxage=9"}, 60),
        ({}, 300),
    ],
)
def test_ttl_follows_max_age_within_floor_and_ceiling(headers: dict[str, str], ttl: float) -> None:
    assert POLICY.ttl(httpx.Headers(headers)) == ttl

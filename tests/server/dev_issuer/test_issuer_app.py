"""The dev issuer over real HTTP, mounted under a prefix, and its CLI helpers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import jwt
import pytest

from server.dev_issuer import DevIssuer, arequest_token, request_token, rotate_keys
from server.errors import ConfigError, IssuerUnavailable
from tests.server.auth.harness import StartIssuer


async def test_discovery_document_names_the_issuer_and_its_jwks(start_issuer: StartIssuer) -> None:
    issuer = await start_issuer(jwks_max_age=120)
    async with httpx.AsyncClient() as client:
        doc = await client.get(f"{issuer.url}/.well-known/openid-configuration")
        jwks = await client.get(doc.json()["jwks_uri"])
    assert doc.json()["issuer"] == issuer.url
    assert doc.json()["id_token_signing_alg_values_supported"] == ["RS256"]
    assert jwks.headers["cache-control"] == "public, max-age=120"
    assert jwks.headers["content-type"] == "application/json"
    assert [k["kid"] for k in jwks.json()["keys"]] == [issuer.keys.signing_key().kid]


async def test_token_endpoint_mints_a_clerk_shaped_token(start_issuer: StartIssuer) -> None:
    issuer = await start_issuer()
    token = await arequest_token(
        issuer.url, "user_9", email="e@x.dev", name="Eve", ttl=60, extra={"org_id": "o", "iat": 1}
    )
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": issuer.keys.signing_key().kid, "typ": "JWT"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == issuer.url and claims["aud"] == "convex"
    assert (claims["sub"], claims["email"], claims["name"], claims["org_id"]) == (
        "user_9",
        "e@x.dev",
        "Eve",
        "o",
    )
    assert claims["exp"] - claims["iat"] == 60 and claims["iat"] != 1  # iat is not overridable
    assert claims["nbf"] == claims["iat"] - 5 and claims["jti"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "sub: required"),
        ({"sub": "u", "ttl": -1}, "ttl: must be"),
        ({"sub": "u", "ttl": 10**9}, "ttl: must be"),
        ([1], "body: must be a JSON object"),
    ],
)
async def test_bad_token_requests_get_400_with_a_reason(
    start_issuer: StartIssuer, body: object, error: str
) -> None:
    issuer = await start_issuer()
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{issuer.url}/token", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


async def test_request_token_reports_refusals_and_unreachable_issuers(
    start_issuer: StartIssuer,
) -> None:
    issuer = await start_issuer()
    with pytest.raises(ConfigError, match="ttl: must be"):
        await arequest_token(issuer.url, "u", ttl=-5)
    # The blocking helper the CLI uses, run off the loop that serves the issuer.
    token = await asyncio.to_thread(request_token, issuer.url, "cli-user")
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "cli-user"
    await issuer.stop()
    with pytest.raises(IssuerUnavailable):
        await arequest_token(issuer.url, "u")


async def test_a_running_issuer_serves_keys_rotated_by_another_process(
    start_issuer: StartIssuer,
) -> None:
    issuer = await start_issuer()
    old = issuer.keys.signing_key().kid
    new = rotate_keys(issuer.keys_dir)  # what `livesync` rotation would call
    async with httpx.AsyncClient() as client:
        jwks = (await client.get(f"{issuer.url}/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [old, new]
    token = await arequest_token(issuer.url, "u")
    assert jwt.get_unverified_header(token)["kid"] == new


async def test_mounted_under_a_prefix_it_serves_paths_below_the_prefix(tmp_path: Path) -> None:
    app = DevIssuer(tmp_path, "http://127.0.0.1:3210/dev-issuer")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:3210") as client:
        doc = (await client.get("/dev-issuer/.well-known/openid-configuration")).json()
        token = (await client.post("/dev-issuer/token", json={"sub": "u"})).json()["token"]
        missing = await client.get("/dev-issuer/nope")
    assert doc["jwks_uri"] == "http://127.0.0.1:3210/dev-issuer/.well-known/jwks.json"
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == doc["issuer"]
    assert missing.status_code == 404

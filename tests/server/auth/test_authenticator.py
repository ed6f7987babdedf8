"""Authenticator end to end: real dev issuers over HTTP, real keys, a set clock."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from server.auth.authenticator import Authenticator
from server.auth.providers import CustomJwtProvider, OidcProvider, Provider
from server.auth.validation import (
    BAD_CLAIMS,
    MALFORMED,
    MISSING_ISS,
    OIDC_PARSE,
    OIDC_VERIFY,
    unknown_kid,
)
from server.dev_issuer import arequest_token, rotate_keys
from server.errors import IssuerUnavailable, TokenExpired, TokenInvalid
from tests.server.auth.harness import Clock, CountingHttp, RunningIssuer, StartIssuer

NO_PROVIDER = "No auth provider found matching the given token. Check that your JWT's"
DISCOVERY = ["/.well-known/openid-configuration", "/.well-known/jwks.json"]
JWKS = ["/.well-known/jwks.json"]


@dataclass
class Setup:
    """An OIDC issuer (aud "convex") and a custom-JWT issuer (aud "my-app"), same kid."""

    oidc: RunningIssuer
    custom: RunningIssuer
    auth: Authenticator
    http: CountingHttp
    clock: Clock

    def custom_claims(self, **overrides: object) -> dict[str, object]:
        return self.custom.claims(aud="my-app", **overrides)


@pytest.fixture
async def setup(
    start_issuer: StartIssuer, http: CountingHttp, clock: Clock
) -> AsyncIterator[Setup]:
    oidc = await start_issuer(kid="shared")
    custom = await start_issuer(kid="shared")
    providers: list[Provider] = [
        OidcProvider(domain=oidc.url, application_id="convex"),
        CustomJwtProvider(
            issuer=custom.url,
            jwks=f"{custom.url}/.well-known/jwks.json",
            algorithm="RS256",
            application_id="my-app",
        ),
    ]
    auth = Authenticator(providers, http=http.client, clock=clock)
    yield Setup(oidc, custom, auth, http, clock)
    await auth.aclose()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _public_pem(issuer: RunningIssuer) -> bytes:
    return (
        issuer.keys.signing_key()
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# --- happy paths and identity -------------------------------------------------


async def test_oidc_token_from_the_dev_issuer_yields_identity_and_expiry(setup: Setup) -> None:
    token = await arequest_token(setup.oidc.url, "user_42", email="a@example.com", name="Ada")
    result = await setup.auth.authenticate(token)
    assert result.identity.token_identifier == f"{setup.oidc.url}|user_42"
    assert result.identity.email == "a@example.com"
    assert result.identity.name == "Ada"
    assert result.expires_at == jwt.decode(token, options={"verify_signature": False})["exp"]


async def test_oidc_identity_json_is_camel_case_with_custom_claims(setup: Setup) -> None:
    token = setup.oidc.sign(
        setup.oidc.claims(
            given_name="Ada",
            email_verified=True,
            picture="https://img.example/a.png",
            azp="http://localhost:5173",
            org_id="org_1",
            o={"id": "org_1", "rol": "admin"},
            fva=[1, 2],
            jti="j",
        )
    )
    identity = (await setup.auth.authenticate(token)).identity
    data = identity.to_json()
    assert data["givenName"] == "Ada"
    assert data["emailVerified"] is True
    assert data["pictureUrl"] == "https://img.example/a.png"
    assert data["org_id"] == "org_1" and data["o"] == {"id": "org_1", "rol": "admin"}
    assert not {"azp", "fva", "jti", "iat", "exp", "aud", "given_name"} & data.keys()
    assert identity["org_id"] == "org_1"


async def test_custom_jwt_identity_flattens_claims_without_typed_fields(setup: Setup) -> None:
    token = setup.custom.sign(setup.custom_claims(email="b@example.com", props={"tier": "pro"}))
    identity = (await setup.auth.authenticate(token)).identity
    assert identity.email is None
    assert identity.to_json()["email"] == "b@example.com"
    assert identity.get("props.tier") == "pro"
    assert identity.subject == "user_1"


async def test_es256_custom_jwt_verifies_against_a_data_url_jwks(clock: Clock) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "ec1"}
    data_url = (
        "data:application/json;base64,"
        + base64.b64encode(json.dumps({"keys": [jwk]}).encode()).decode()
    )
    provider = CustomJwtProvider(issuer="https://ec.example", jwks=data_url, algorithm="ES256")
    auth = Authenticator([provider], clock=clock)
    claims = {"iss": "https://ec.example", "sub": "u", "iat": int(clock.now), "exp": clock.now + 60}
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "ec1"})
    try:
        assert (await auth.authenticate(token)).identity.issuer == "https://ec.example"
    finally:
        await auth.aclose()


async def test_expiry_is_the_tokens_exp_without_the_validation_leeway(setup: Setup) -> None:
    # Mid-session a token expires at exp exactly (Convex's rule): the
    # connection's timer fires at `expires_at`, so it carries no leeway.
    exp = int(setup.clock.now) + 30
    result = await setup.auth.authenticate(setup.custom.sign(setup.custom_claims(exp=exp)))
    assert result.expires_at == exp


# --- fetching and caching -----------------------------------------------------


async def test_oidc_keys_are_discovered_once_then_served_from_cache(setup: Setup) -> None:
    token = setup.oidc.sign(setup.oidc.claims())
    await setup.auth.authenticate(token)
    assert setup.http.take() == DISCOVERY
    await asyncio.gather(*(setup.auth.authenticate(token) for _ in range(5)))
    assert setup.http.take() == []


async def test_authenticate_now_answers_only_from_fresh_cached_keys(setup: Setup) -> None:
    token = setup.oidc.sign(setup.oidc.claims(sub="now"))
    assert setup.auth.authenticate_now(token) is None  # nothing cached: no fetch either
    assert setup.http.take() == []
    await setup.auth.authenticate(token)
    setup.http.take()
    result = setup.auth.authenticate_now(token)
    assert result is not None
    assert result.identity.subject == "now"
    expired = setup.oidc.sign(setup.oidc.claims(exp=int(setup.clock.now) - 60))
    assert setup.auth.authenticate_now(expired) is None  # refused: left to authenticate()
    other = jwt.encode(setup.oidc.claims(), _other_key(), algorithm="RS256", headers={"kid": "x"})
    assert setup.auth.authenticate_now(other) is None  # unknown kid: only a fetch can tell
    setup.clock.advance(3601)  # past the cache's ceiling: stale keys need a fetch
    assert setup.auth.authenticate_now(setup.oidc.sign(setup.oidc.claims())) is None
    assert setup.http.take() == []


async def test_concurrent_first_tokens_share_one_fetch(setup: Setup) -> None:
    token = setup.custom.sign(setup.custom_claims())
    await asyncio.gather(*(setup.auth.authenticate(token) for _ in range(5)))
    assert setup.http.take() == JWKS


@pytest.mark.parametrize(
    ("max_age", "fresh_at", "stale_at"),
    [(120, 119, 121), (0, 59, 61), (100_000, 3599, 3601)],
    ids=["max-age-honoured", "floor", "ceiling"],
)
async def test_cache_control_max_age_is_honoured_within_floor_and_ceiling(
    start_issuer: StartIssuer,
    http: CountingHttp,
    clock: Clock,
    max_age: int,
    fresh_at: float,
    stale_at: float,
) -> None:
    issuer = await start_issuer(jwks_max_age=max_age)
    auth = Authenticator([OidcProvider(issuer.url, "convex")], http=http.client, clock=clock)
    token = issuer.sign(issuer.claims())
    start = clock.now
    await auth.authenticate(token)
    assert http.take() == DISCOVERY
    clock.now = start + fresh_at
    await auth.authenticate(token)
    assert http.take() == []
    clock.now = start + stale_at
    await auth.authenticate(token)
    assert http.take() == DISCOVERY
    await auth.aclose()


async def test_rotation_is_picked_up_and_unknown_kids_refetch_once_per_cooldown(
    setup: Setup,
) -> None:
    old = setup.oidc.sign(setup.oidc.claims())
    await setup.auth.authenticate(old)
    setup.http.take()

    # A separate KeyStore, as the CLI would use, rotates the running issuer's keys.
    new_kid = rotate_keys(setup.oidc.keys_dir)
    new = await arequest_token(setup.oidc.url, "user_2")
    assert jwt.get_unverified_header(new)["kid"] == new_kid

    # Rotated a second after the routine fetch: the unknown kid refetches at once.
    setup.clock.advance(1)
    assert (await setup.auth.authenticate(new)).identity.subject == "user_2"
    assert setup.http.take() == DISCOVERY
    assert (await setup.auth.authenticate(old)).identity.subject == "user_1"  # grace period

    junk = jwt.encode(setup.oidc.claims(), _other_key(), algorithm="RS256", headers={"kid": "junk"})
    for _ in range(3):
        with pytest.raises(TokenInvalid) as refused:
            await setup.auth.authenticate(junk)
        assert refused.value.message == OIDC_VERIFY
    assert setup.http.take() == []  # the last unknown-kid refetch was under 10 s ago
    setup.clock.advance(10)
    for _ in range(3):
        with pytest.raises(TokenInvalid):
            await setup.auth.authenticate(junk)
    assert setup.http.take() == DISCOVERY


async def test_cached_keys_keep_working_while_the_issuer_is_down(setup: Setup) -> None:
    oidc_token = setup.oidc.sign(setup.oidc.claims())
    custom_token = setup.custom.sign(setup.custom_claims())
    await setup.auth.authenticate(oidc_token)
    await setup.auth.authenticate(custom_token)
    setup.http.take()
    await setup.oidc.stop()
    await setup.custom.stop()
    setup.clock.advance(4000)  # past every cache lifetime: a refresh is attempted and fails
    assert (await setup.auth.authenticate(oidc_token)).identity.subject == "user_1"
    assert (await setup.auth.authenticate(custom_token)).identity.subject == "user_1"
    assert setup.http.take() == ["/.well-known/openid-configuration", *JWKS]


async def test_issuer_down_without_cached_keys_is_issuer_unavailable(setup: Setup) -> None:
    oidc_token = setup.oidc.sign(setup.oidc.claims())
    custom_token = setup.custom.sign(setup.custom_claims())
    await setup.oidc.stop()
    await setup.custom.stop()
    with pytest.raises(IssuerUnavailable) as oidc_error:
        await setup.auth.authenticate(oidc_token)
    assert oidc_error.value.message.startswith(
        f"Auth provider discovery of {setup.oidc.url} failed"
    )
    with pytest.raises(IssuerUnavailable) as custom_error:
        await setup.auth.authenticate(custom_token)
    assert custom_error.value.message.startswith(
        f"Could not fetch JWKS from URL '{setup.custom.url}/.well-known/jwks.json'"
    )
    assert setup.http.take() == ["/.well-known/openid-configuration", *JWKS]
    with pytest.raises(IssuerUnavailable):  # retried only after the cooldown
        await setup.auth.authenticate(oidc_token)
    assert setup.http.take() == []


# --- attack battery -----------------------------------------------------------


async def _refused(auth: Authenticator, token: str) -> TokenInvalid:
    with pytest.raises(TokenInvalid) as caught:
        await auth.authenticate(token)
    return caught.value


async def test_alg_none_is_refused(setup: Setup) -> None:
    oidc = _unsigned({"alg": "none", "typ": "JWT", "kid": "shared"}, setup.oidc.claims()) + "."
    custom = _unsigned({"alg": "none", "kid": "shared"}, setup.custom_claims()) + "."
    assert (await _refused(setup.auth, oidc)).message == OIDC_VERIFY
    assert (await _refused(setup.auth, custom)).message == unknown_kid("shared")


async def test_hs256_keyed_with_the_rsa_public_key_is_refused(setup: Setup) -> None:
    for issuer, claims, expected in [
        (setup.oidc, setup.oidc.claims(), OIDC_VERIFY),
        (setup.custom, setup.custom_claims(), unknown_kid("shared")),
    ]:
        signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": "shared"}, claims)
        mac = hmac.new(_public_pem(issuer), signing_input.encode(), hashlib.sha256).digest()
        assert (await _refused(setup.auth, f"{signing_input}.{_b64(mac)}")).message == expected


async def test_wrong_audience_finds_no_provider(setup: Setup) -> None:
    for token in [
        setup.oidc.sign(setup.oidc.claims(aud="other")),
        setup.oidc.sign(setup.oidc.claims(aud=["convex", "extra"])),
        setup.custom.sign(setup.custom.claims(aud="convex")),
    ]:
        error = await _refused(setup.auth, token)
        if "extra" in jwt.decode(token, options={"verify_signature": False})["aud"]:
            assert error.message == OIDC_VERIFY  # routed, then refused for the extra audience
        else:
            assert error.message.startswith(NO_PROVIDER)
            assert f"OIDC(domain={setup.oidc.url}, app_id=convex)" in error.message


async def test_unconfigured_issuer_finds_no_provider(setup: Setup) -> None:
    token = setup.oidc.sign(setup.oidc.claims(iss="https://evil.example"))
    assert (await _refused(setup.auth, token)).message.startswith(NO_PROVIDER)
    assert setup.http.take() == []  # routing happens before any network I/O


async def test_missing_issuer_is_refused(setup: Setup) -> None:
    token = setup.oidc.sign({"sub": "u", "exp": 2_000_000_000, "iat": 1})
    assert (await _refused(setup.auth, token)).message == MISSING_ISS


async def test_expired_tokens_raise_token_expired(setup: Setup) -> None:
    now = int(setup.clock.now)
    with pytest.raises(TokenExpired) as oidc:
        await setup.auth.authenticate(setup.oidc.sign(setup.oidc.claims(exp=now)))
    assert oidc.value.message == OIDC_VERIFY
    with pytest.raises(TokenExpired) as custom:
        await setup.auth.authenticate(setup.custom.sign(setup.custom_claims(exp=now - 10)))
    assert custom.value.message == "Could not validate token: Token expired 10 seconds ago"
    # Custom JWTs get Convex's 5 s of leeway.
    assert await setup.auth.authenticate(setup.custom.sign(setup.custom_claims(exp=now - 4)))


async def test_custom_jwt_from_the_future_is_refused(setup: Setup) -> None:
    token = setup.custom.sign(setup.custom_claims(iat=int(setup.clock.now) + 60))
    error = await _refused(setup.auth, token)
    assert error.message == "Could not validate token: Token will be valid in 60 seconds"


@pytest.mark.parametrize("claim", ["sub", "exp", "iat"])
async def test_missing_required_claim_is_refused(setup: Setup, claim: str) -> None:
    oidc = setup.oidc.sign(setup.oidc.claims(**{claim: None}))
    custom = setup.custom.sign(setup.custom_claims(**{claim: None}))
    assert (await _refused(setup.auth, oidc)).message == OIDC_PARSE
    assert (await _refused(setup.auth, custom)).message == BAD_CLAIMS


async def test_unknown_kid_is_refused(setup: Setup) -> None:
    key = _other_key()
    oidc = jwt.encode(setup.oidc.claims(), key, algorithm="RS256", headers={"kid": "nope"})
    custom = jwt.encode(setup.custom_claims(), key, algorithm="RS256", headers={"kid": "nope"})
    assert (await _refused(setup.auth, oidc)).message == OIDC_VERIFY
    assert (await _refused(setup.auth, custom)).message == unknown_kid("nope")


async def test_custom_jwt_without_kid_is_refused(setup: Setup) -> None:
    key = setup.custom.keys.signing_key().private_key
    token = jwt.encode(setup.custom_claims(), key, algorithm="RS256")
    assert (await _refused(setup.auth, token)).message == (
        "Could not decode token. JWT may be missing a 'kid' (key ID) header."
    )


async def test_tampered_payload_is_refused(setup: Setup) -> None:
    for issuer, claims, expected in [
        (setup.oidc, setup.oidc.claims(), OIDC_VERIFY),
        (setup.custom, setup.custom_claims(), unknown_kid("shared")),
    ]:
        header, _, signature = issuer.sign(claims).split(".")
        forged = _b64(json.dumps({**claims, "sub": "admin"}).encode())
        assert (await _refused(setup.auth, f"{header}.{forged}.{signature}")).message == expected


async def test_signature_by_another_key_under_a_known_kid_is_refused(setup: Setup) -> None:
    key = _other_key()
    oidc = jwt.encode(setup.oidc.claims(), key, algorithm="RS256", headers={"kid": "shared"})
    custom = jwt.encode(setup.custom_claims(), key, algorithm="RS256", headers={"kid": "shared"})
    assert (await _refused(setup.auth, oidc)).message == OIDC_VERIFY
    assert (await _refused(setup.auth, custom)).message == unknown_kid("shared")


async def test_a_kid_shared_by_two_issuers_verifies_only_its_own_issuers_tokens(
    setup: Setup,
) -> None:
    # Fill both caches: both issuers publish a key under kid "shared".
    assert await setup.auth.authenticate(setup.oidc.sign(setup.oidc.claims()))
    assert await setup.auth.authenticate(setup.custom.sign(setup.custom_claims()))
    # Each issuer's key, presented as the other issuer's token.
    as_oidc = setup.custom.sign(setup.oidc.claims())
    as_custom = setup.oidc.sign(setup.custom_claims())
    assert (await _refused(setup.auth, as_oidc)).message == OIDC_VERIFY
    assert (await _refused(setup.auth, as_custom)).message == unknown_kid("shared")


async def test_oversized_token_is_refused_before_parsing(setup: Setup) -> None:
    token = setup.oidc.sign(setup.oidc.claims(padding="x" * 20_000))
    error = await _refused(setup.auth, token)
    assert error.message.startswith("Token is too large:")
    assert "(the limit is 16384)" in error.message


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "eyJ.eyJ.x", "a.b.c.d.e"])
async def test_garbage_is_refused_as_malformed(setup: Setup, garbage: str) -> None:
    assert (await _refused(setup.auth, garbage)).message == MALFORMED


async def test_a_non_string_token_is_refused_as_malformed(setup: Setup) -> None:
    not_a_token: Any = {"alg": "none"}
    assert (await _refused(setup.auth, not_a_token)).message == MALFORMED


async def test_azp_must_be_an_authorized_party_when_configured(
    start_issuer: StartIssuer, http: CountingHttp, clock: Clock
) -> None:
    issuer = await start_issuer()
    providers = [OidcProvider(issuer.url, "convex", authorized_parties=("http://localhost:5173",))]
    auth = Authenticator(providers, http=http.client, clock=clock)
    good = issuer.sign(issuer.claims(azp="http://localhost:5173"))
    assert (await auth.authenticate(good)).identity.subject == "user_1"
    for azp in ["https://evil.example", None]:
        error = await _refused(auth, issuer.sign(issuer.claims(azp=azp)))
        assert error.message == (
            f"Invalid authorized party claim ('azp'): {azp!r} is not one of "
            "['http://localhost:5173']"
        )
    await auth.aclose()

"""Pure validation rules, with keys handed in directly (no HTTP)."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from server.auth.jwks import CachedKey
from server.auth.providers import OidcProvider
from server.auth.validation import (
    MALFORMED,
    OIDC_PARSE,
    OIDC_VERIFY,
    check_oidc_shape,
    read_unverified,
    verify_oidc,
)
from server.errors import TokenExpired, TokenInvalid

PROVIDER = OidcProvider("https://idp.example.com", "convex")
NOW = 1_800_000_000.0
CLAIMS = {
    "iss": "https://idp.example.com",
    "sub": "u",
    "aud": "convex",
    "iat": NOW,
    "exp": NOW + 60,
}


def _cached(
    public_key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey, kid: str
) -> CachedKey:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        data = jwt.algorithms.OKPAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(public_key, as_dict=True)
    jwk = jwt.PyJWK({**data, "kid": kid})
    return CachedKey(jwk=jwk, kid=kid, kty=data["kty"], alg=None, use=None)


def _verify(token: str, keys: list[CachedKey]) -> dict[str, object]:
    unverified = read_unverified(token, 16384)
    check_oidc_shape(unverified)
    return verify_oidc(unverified, PROVIDER, keys, NOW)


def test_oidc_accepts_eddsa() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    token = jwt.encode(CLAIMS, key, algorithm="EdDSA", headers={"kid": "ed"})
    assert _verify(token, [_cached(key.public_key(), "ed")])["sub"] == "u"


def test_oidc_refuses_es256_even_with_a_matching_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(CLAIMS, key, algorithm="ES256", headers={"kid": "ec"})
    with pytest.raises(TokenInvalid) as caught:
        _verify(token, [_cached(key.public_key(), "ec")])
    assert caught.value.message == OIDC_VERIFY


def test_oidc_refuses_two_candidate_keys_as_ambiguous() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    token = jwt.encode(CLAIMS, key, algorithm="EdDSA")  # no kid: every key is a candidate
    keys = [
        _cached(key.public_key(), "a"),
        _cached(ed25519.Ed25519PrivateKey.generate().public_key(), "b"),
    ]
    with pytest.raises(TokenInvalid) as caught:
        _verify(token, keys)
    assert caught.value.message == OIDC_VERIFY


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"typ": "at+jwt"}, OIDC_VERIFY),
        ({"cty": "JWT"}, OIDC_VERIFY),
        ({"crit": ["exp"]}, MALFORMED),  # PyJWT refuses unknown critical extensions on read
    ],
    ids=["typ", "cty", "crit"],
)
def test_oidc_refuses_unusual_headers(headers: dict[str, object], message: str) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    token = jwt.encode(CLAIMS, key, algorithm="EdDSA", headers={"kid": "ed", **headers})
    with pytest.raises(TokenInvalid) as caught:
        _verify(token, [_cached(key.public_key(), "ed")])
    assert caught.value.message == message


@pytest.mark.parametrize(
    "bad",
    [{"email_verified": "true"}, {"address": "street"}, {"updated_at": "yesterday"}, {"sub": 7}],
)
def test_oidc_refuses_mistyped_standard_claims_as_unparseable(bad: dict[str, object]) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    token = jwt.encode({**CLAIMS, **bad}, key, algorithm="EdDSA", headers={"kid": "ed"})
    with pytest.raises(TokenInvalid) as caught:
        _verify(token, [_cached(key.public_key(), "ed")])
    assert caught.value.message == OIDC_PARSE


def test_oidc_exp_has_no_leeway() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    keys = [_cached(key.public_key(), "ed")]
    alive = jwt.encode({**CLAIMS, "exp": NOW + 1}, key, algorithm="EdDSA", headers={"kid": "ed"})
    assert _verify(alive, keys)["sub"] == "u"
    dead = jwt.encode({**CLAIMS, "exp": NOW}, key, algorithm="EdDSA", headers={"kid": "ed"})
    with pytest.raises(TokenExpired):
        _verify(dead, keys)


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: object, payload: object, signature: bytes = b"sig") -> str:
    import json

    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)]
    )


@pytest.mark.parametrize(
    "token",
    [
        "a.b",  # two segments
        _compact({"alg": "RS256"}, {"iss": "x"}) + ".extra",  # four
        "e30.e30.c!g",  # not base64url
        "e31.e30.c2ln",  # "{}" with stray bits in the last character: not canonical
        _compact(["not", "an", "object"], {"iss": "x"}),
        _compact({"alg": "RS256"}, "payload"),
        _compact({"alg": "RS256", "kid": 7}, {"iss": "x"}),
        _compact({"alg": "RS256", "crit": ["exp"]}, {"iss": "x"}),
        _compact({"alg": "RS256", "b64": False}, {"iss": "x"}),
    ],
)
def test_malformed_compact_tokens_are_refused_before_any_key_lookup(token: str) -> None:
    with pytest.raises(TokenInvalid) as refused:
        read_unverified(token, 16384)
    assert refused.value.message == MALFORMED


def test_padded_segments_are_read_like_unpadded_ones() -> None:
    token = _compact({"alg": "RS256", "kid": "k"}, {"iss": "https://i.example", "aud": "convex"})
    head, payload, sig = token.split(".")
    padded = ".".join(s + "=" * (-len(s) % 4) for s in (head, payload, sig))
    for candidate in (token, padded):
        read = read_unverified(candidate, 16384)
        assert read.kid == "k" and read.iss == "https://i.example" and read.aud == ("convex",)
        assert read.signature == b"sig"

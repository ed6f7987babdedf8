"""UserIdentity: claim mapping and the Convex JSON shape."""

from __future__ import annotations

from protocol.values import dumps, encode
from server.auth.identity import IdentityCache, UserIdentity
from server.auth.providers import CustomJwtProvider, OidcProvider

OIDC = OidcProvider("https://clerk.example.com", "convex")
CUSTOM = CustomJwtProvider("https://issuer.example.com", "https://issuer.example.com/j", "RS256")
BASE = {"iss": "https://clerk.example.com", "sub": "user_1", "aud": "convex", "exp": 2, "iat": 1}


def test_token_identifier_joins_raw_issuer_and_subject() -> None:
    identity = UserIdentity.from_claims({**BASE, "iss": "https://clerk.example.com/"}, OIDC)
    assert identity.token_identifier == "https://clerk.example.com/|user_1"
    assert identity.to_json() == {
        "tokenIdentifier": "https://clerk.example.com/|user_1",
        "subject": "user_1",
        "issuer": "https://clerk.example.com/",
    }


def test_oidc_standard_claims_map_to_typed_fields() -> None:
    claims = {
        **BASE,
        "family_name": "Lovelace",
        "profile": "https://p.example",
        "website": "https://w.example",
        "birthdate": "1815-12-10",
        "birthday": "dropped",
        "zoneinfo": "Europe/London",
        "locale": "en-GB",
        "phone_number_verified": False,
        "address": {"formatted": "12 St James's Square", "country": "UK"},
        "updated_at": 1714564800,
        "nickname": None,
    }
    identity = UserIdentity.from_claims(claims, OIDC)
    assert identity.family_name == "Lovelace"
    assert identity.address == "12 St James's Square"
    data = identity.to_json()
    assert data["profileUrl"] == "https://p.example"
    assert data["websiteUrl"] == "https://w.example"
    assert data["birthday"] == "1815-12-10"
    assert data["timezone"] == "Europe/London"
    assert data["language"] == "en-GB"
    assert data["phoneNumberVerified"] is False
    assert data["updatedAt"] == "2024-05-01T12:00:00+00:00"
    assert "nickname" not in data  # null claims are omitted
    assert data["birthday"] != "dropped" and "birthdate" not in data


def test_oidc_custom_claims_keep_name_and_type_and_drop_volatile_ones() -> None:
    claims = {
        **BASE,
        "sid": "s",
        "o": {"id": "org"},
        "pla": ["a"],
        "jti": "j",
        "nbf": 1,
        "fva": [0],
    }
    data = UserIdentity.from_claims(claims, OIDC).to_json()
    assert {k: data[k] for k in ("sid", "o", "pla")} == {
        "sid": "s",
        "o": {"id": "org"},
        "pla": ["a"],
    }
    assert not {"jti", "nbf", "fva", "exp", "iat", "aud"} & data.keys()


def test_custom_jwt_claims_are_flattened_and_not_typed() -> None:
    claims = {
        **BASE,
        "given_name": "Ada",
        "properties": {"email": "a@x", "deep": {"n": 1}},
        "nbf": 1,
    }
    identity = UserIdentity.from_claims(claims, CUSTOM)
    assert identity.given_name is None
    assert identity.custom_claims == {
        "given_name": "Ada",
        "properties.email": "a@x",
        "properties.deep.n": 1,
    }
    assert identity["properties.email"] == "a@x"
    assert identity.get("missing", 7) == 7


def test_identities_compare_and_hash_by_value_and_json_is_a_copy() -> None:
    a = UserIdentity.from_claims({**BASE, "o": {"id": "org"}}, OIDC)
    b = UserIdentity.from_claims({**BASE, "o": {"id": "org"}}, OIDC)
    c = UserIdentity.from_claims({**BASE, "o": {"id": "other"}}, OIDC)
    assert a == b and hash(a) == hash(b) and a != c
    a.to_json()["o"]["id"] = "mutated"
    assert a.get("o") == {"id": "org"}
    assert "org" not in repr(a)


def test_the_cache_returns_one_identity_for_a_users_refreshed_tokens() -> None:
    cache = IdentityCache()
    first = cache.identity({**BASE, "email": "a@example.com", "jti": "1"}, OIDC)
    refreshed = {**BASE, "email": "a@example.com", "exp": 62, "iat": 61, "jti": "2"}
    assert cache.identity(refreshed, OIDC) is first
    assert first == UserIdentity.from_claims(refreshed, OIDC)
    assert cache.identity({**BASE, "email": "b@example.com"}, OIDC).email == "b@example.com"
    assert cache.identity({**BASE, "sub": "user_2"}, OIDC).subject == "user_2"


def test_the_cache_keeps_providers_and_json_types_apart() -> None:
    cache = IdentityCache()
    claims = {**BASE, "iss": "https://issuer.example.com", "email": "a@example.com"}
    assert cache.identity(claims, OIDC).email == "a@example.com"  # typed under OIDC...
    assert cache.identity(claims, CUSTOM).email is None  # ...a custom claim otherwise
    # True == 1 in Python, but not in JSON: values that are not strings are never cached.
    as_bool = cache.identity({**claims, "admin": True}, CUSTOM)
    as_number = cache.identity({**claims, "admin": 1}, CUSTOM)
    assert as_bool.custom_claims["admin"] is True
    assert as_number.custom_claims["admin"] == 1 and as_number.custom_claims["admin"] is not True
    roles = cache.identity({**claims, "roles": ["a"]}, CUSTOM)
    assert roles is not cache.identity({**claims, "roles": ["a"]}, CUSTOM)  # no shared lists


def test_the_cache_is_bounded() -> None:
    cache = IdentityCache(limit=2)
    kept = cache.identity({**BASE, "sub": "u0"}, OIDC)
    cache.identity({**BASE, "sub": "u1"}, OIDC)
    cache.identity({**BASE, "sub": "u2"}, OIDC)  # full: cleared, then this one kept
    assert cache.identity({**BASE, "sub": "u0"}, OIDC) is not kept
    assert len(cache) <= 2


def test_integer_claims_are_float64_numbers_as_js_reads_them() -> None:
    claims = {**BASE, "age": 42, "big": 2**60, "nested": {"ids": [1, 2**54 + 1]}}
    data = UserIdentity.from_claims(claims, OIDC).to_json()
    assert encode(data["age"]) == 42  # a number on the wire, not {"$integer": ...}
    assert type(data["big"]) is float and data["big"] == float(2**60)
    assert data["nested"] == {"ids": [1, float(2**54)]}
    assert dumps(encode(data))  # every claim has a wire form

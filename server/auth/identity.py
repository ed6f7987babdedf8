"""The authenticated user as functions see it: `ctx.auth.get_user_identity()`.

Mirrors Convex's `UserIdentity`: `token_identifier` is "{iss}|{sub}" with the
raw `iss`; OIDC providers get the standard claims as typed attributes, while
custom-JWT providers get none of them and expose every non-registered claim,
nested objects flattened to dot-joined keys, as custom claims. `to_json()` is
the camelCase dict the JS client would see, and doubles as the per-user cache
key, which is why time-varying claims (exp, iat, nbf, jti, fva) are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from protocol.values import MAX_SAFE_INTEGER
from server.auth.providers import CustomJwtProvider, Provider

__all__ = ["STANDARD_CLAIMS", "IdentityCache", "UserIdentity", "rfc3339"]

# JWT claim name -> (attribute name, camelCase JSON name), per Convex's mapping.
STANDARD_CLAIMS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "email": ("email", "email"),
        "email_verified": ("email_verified", "emailVerified"),
        "name": ("name", "name"),
        "given_name": ("given_name", "givenName"),
        "family_name": ("family_name", "familyName"),
        "nickname": ("nickname", "nickname"),
        "preferred_username": ("preferred_username", "preferredUsername"),
        "profile": ("profile_url", "profileUrl"),
        "picture": ("picture_url", "pictureUrl"),
        "website": ("website_url", "websiteUrl"),
        "gender": ("gender", "gender"),
        "birthdate": ("birthday", "birthday"),
        "zoneinfo": ("timezone", "timezone"),
        "locale": ("language", "language"),
        "phone_number": ("phone_number", "phoneNumber"),
        "phone_number_verified": ("phone_number_verified", "phoneNumberVerified"),
        "address": ("address", "address"),
        "updated_at": ("updated_at", "updatedAt"),
    }
)

# Consumed by the ID-token envelope, parsed but never surfaced, or dropped on
# purpose because they change on every refresh and would bust query caches.
_OIDC_HIDDEN = frozenset(
    {
        "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr",
        "azp", "at_hash", "c_hash", "jti", "nbf", "fva", "middle_name", "birthday",
    }
)  # fmt: skip
_CUSTOM_HIDDEN = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "fva"})


@dataclass(frozen=True, slots=True)
class UserIdentity:
    """Who is calling. Attributes are None when the token did not say."""

    token_identifier: str
    subject: str
    issuer: str
    email: str | None = None
    email_verified: bool | None = None
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    nickname: str | None = None
    preferred_username: str | None = None
    profile_url: str | None = None
    picture_url: str | None = None
    website_url: str | None = None
    gender: str | None = None
    birthday: str | None = None
    timezone: str | None = None
    language: str | None = None
    phone_number: str | None = None
    phone_number_verified: bool | None = None
    address: str | None = None
    updated_at: str | None = None
    # Excluded from the hash (a mapping is unhashable) but still compared.
    custom_claims: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], provider: Provider) -> UserIdentity:
        """Build the identity from verified claims, as the provider type dictates."""
        issuer = str(claims["iss"])
        subject = str(claims["sub"])
        base: dict[str, Any] = {
            "token_identifier": f"{issuer}|{subject}",
            "subject": subject,
            "issuer": issuer,
        }
        if isinstance(provider, CustomJwtProvider):
            custom = _flatten({k: v for k, v in claims.items() if k not in _CUSTOM_HIDDEN})
            return cls(**base, custom_claims=MappingProxyType(custom))
        typed = _typed_standard_claims(claims)
        custom = {
            k: _copied(v)
            for k, v in claims.items()
            if k not in _OIDC_HIDDEN and k not in STANDARD_CLAIMS
        }
        return cls(**base, **typed, custom_claims=MappingProxyType(custom))

    @classmethod
    def from_json(cls, attributes: Mapping[str, Any]) -> UserIdentity:
        """The identity `to_json` describes (an admin's `impersonating`):
        `subject` and `issuer` required, `tokenIdentifier` derived when
        absent, other keys standard claims by their JSON names or custom.
        Raises ValueError on anything else."""
        subject, issuer = attributes.get("subject"), attributes.get("issuer")
        if not isinstance(subject, str) or not isinstance(issuer, str):
            raise ValueError("an identity needs a string subject and issuer")
        token_identifier = attributes.get("tokenIdentifier", f"{issuer}|{subject}")
        if not isinstance(token_identifier, str):
            raise ValueError("tokenIdentifier must be a string")
        by_json = {json_name: attribute for attribute, json_name in STANDARD_CLAIMS.values()}
        typed: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for key, value in attributes.items():
            if key in ("subject", "issuer", "tokenIdentifier"):
                continue
            if key in by_json:
                typed[by_json[key]] = value
            else:
                custom[key] = _copied(value)
        return cls(
            token_identifier=token_identifier,
            subject=subject,
            issuer=issuer,
            **typed,
            custom_claims=MappingProxyType(custom),
        )

    def to_json(self) -> dict[str, Any]:
        """The camelCase dict Convex serializes: absent fields omitted, custom claims flat."""
        out: dict[str, Any] = {
            "tokenIdentifier": self.token_identifier,
            "subject": self.subject,
            "issuer": self.issuer,
        }
        for attribute, json_name in STANDARD_CLAIMS.values():
            value = getattr(self, attribute)
            if value is not None:
                out[json_name] = value
        for key, value in self.custom_claims.items():
            out[key] = _copied(value)
        return out

    def __getitem__(self, key: str) -> Any:
        """Look a key up in the JSON view, so `identity["org_id"]` reads a custom claim."""
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __repr__(self) -> str:
        # Short on purpose: identities end up in logs, claims may be personal data.
        return f"UserIdentity(token_identifier={self.token_identifier!r})"


class IdentityCache:
    """Identities by provider and visible claims, so a user who refreshes
    every minute gets the same object back: building one takes a call per
    field, and comparing two equal ones is then `is`. Only claims sets whose
    visible values are all strings are kept (no mutable values shared, and
    no `True == 1` confusion); at most `limit`, cleared when full."""

    __slots__ = ("_by_claims", "_limit")

    def __init__(self, limit: int = 4096) -> None:
        self._by_claims: dict[tuple[Any, ...], UserIdentity] = {}
        self._limit = limit

    def __len__(self) -> int:
        return len(self._by_claims)

    def identity(self, claims: Mapping[str, Any], provider: Provider) -> UserIdentity:
        """The identity `claims` (already verified) give under `provider`."""
        hidden = _CUSTOM_HIDDEN if isinstance(provider, CustomJwtProvider) else _OIDC_HIDDEN
        # The provider by id: the cache belongs to the authenticator holding it.
        key: list[Any] = [id(provider), claims["iss"], claims["sub"]]
        for name, value in claims.items():
            if name not in hidden:
                if type(value) is not str:
                    return UserIdentity.from_claims(claims, provider)
                key += (name, value)
        frozen = tuple(key)
        found = self._by_claims.get(frozen)
        if found is None:
            if len(self._by_claims) >= self._limit:
                self._by_claims.clear()
            found = self._by_claims[frozen] = UserIdentity.from_claims(claims, provider)
        return found


def _typed_standard_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Map present standard claims to attribute values (claim types already checked)."""
    typed: dict[str, Any] = {}
    for claim, value in claims.items():
        names = STANDARD_CLAIMS.get(claim)
        if names is None or value is None:
            continue
        attribute = names[0]
        if claim == "address":
            value = value.get("formatted") if isinstance(value, Mapping) else None
        elif claim == "updated_at":
            value = rfc3339(value)
        if value is not None:
            typed[attribute] = value
    return typed


def rfc3339(value: Any) -> str | None:
    """`updated_at` as an RFC 3339 string (seconds since epoch or an RFC 3339 input)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).isoformat()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return parsed.isoformat()
    return None


def _flatten(claims: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects become dot-joined keys; arrays and scalars keep their JSON type."""
    flat: dict[str, Any] = {}
    for key, value in claims.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = _copied(value)
    return flat


def _copied(value: Any) -> Any:
    """A fresh copy of a claim's JSON value. A JSON number is a float64 (as
    JS reads the token), so an int beyond 2**53 becomes the float it rounds
    to; within that range a plain int already is one."""
    if type(value) is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(value)
    if isinstance(value, list):
        return [_copied(item) for item in value]
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    return value

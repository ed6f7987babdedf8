"""Pure token checks: no I/O, the clock passed in, keys handed over by the caller.

The rules and client-visible messages follow Convex (see docs/auth.md §3):
OIDC tokens accept RS256/EdDSA, zero exp leeway, exactly the configured
audience; custom JWTs need a `kid`, the configured alg (RS256/ES256), 5 s of
leeway on exp/nbf/iat. Unlike Convex, OIDC tokens also have nbf and iat
checked, with the same leeway (`[auth] clock_leeway`), as Clerk's own
verifier does; and both kinds may be held to a maximum lifetime. `none` and every HS* are refused before any key is
touched, so an RSA public key can never be used as an HMAC secret. The
token's parts are read and its signature checked in `server.auth.jws`; the
time checks are ours, against the injected clock (PyJWT's read the wall
clock).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jwt

from server.auth import jws
from server.auth.identity import rfc3339
from server.auth.jwks import CachedKey
from server.auth.providers import CustomJwtProvider, OidcProvider
from server.errors import TokenExpired, TokenInvalid

__all__ = [
    "CUSTOM_JWT_LEEWAY",
    "OIDC_ALGORITHMS",
    "UnverifiedToken",
    "check_custom_header",
    "check_oidc_shape",
    "read_unverified",
    "verify_custom",
    "verify_oidc",
]

OIDC_ALGORITHMS = ("RS256", "EdDSA")
CUSTOM_JWT_LEEWAY = 5.0
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
_TYPS = frozenset({"application/jwt", "application/jose"})

MALFORMED = (
    "Could not parse JWT payload. Check that the token is a valid JWT format "
    "with three base64-encoded parts separated by dots."
)
MISSING_ISS = (
    "Missing issuer claim ('iss') in JWT payload. The JWT must include an 'iss' "
    "claim that matches one of your configured auth providers."
)
OIDC_PARSE = "Could not parse as OIDC ID token. Token might not be an OIDC-compliant JWT."
OIDC_VERIFY = (
    "Could not verify OIDC token claim. Check that the token signature is valid "
    "and the token hasn't expired."
)
NO_KID = "Could not decode token. JWT may be missing a 'kid' (key ID) header."
BAD_CLAIMS = (
    "Could not verify token claim. Check that the JWT contains valid claims and "
    "matches your auth provider configuration."
)
MISSING_AUD = (
    "Missing audience claim ('aud') in JWT payload. The JWT must include an 'aud' "
    "claim that matches your configured application ID."
)


def unknown_kid(kid: str) -> str:
    return (
        f"Could not decode token. The JWT's 'kid' (key ID) header is '{kid}', "
        "does this key match any key in the provider's JWKS?"
    )


class UnverifiedToken(NamedTuple):
    """Header and payload read without checking anything but their syntax.

    A named tuple rather than a frozen dataclass: one is built per token,
    and a tuple is built in one step instead of a call per field."""

    header: Mapping[str, Any]
    payload: Mapping[str, Any]
    iss: str
    aud: tuple[str, ...]
    signing_input: bytes = b""  # "header.payload" as sent, what the signature covers
    signature: bytes = b""

    @property
    def alg(self) -> str:
        return str(self.header.get("alg", ""))

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def read_unverified(
    token: str, max_bytes: int, headers: jws.HeaderCache | None = None
) -> UnverifiedToken:
    """Decode without verifying, only to route the token to a provider;
    `headers` may remember decoded headers (see `jws.HeaderCache`)."""
    if not isinstance(token, str):  # straight from client JSON, so check
        raise TokenInvalid(MALFORMED)
    size = len(token) if token.isascii() else len(token.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise TokenInvalid(f"Token is too large: {size} bytes (the limit is {max_bytes}).")
    try:
        header, payload, signature = jws.read_compact(token, headers)
    except (ValueError, RecursionError) as error:
        raise TokenInvalid(MALFORMED) from error
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise TokenInvalid(MISSING_ISS)
    return UnverifiedToken(
        header,
        payload,
        iss,
        _audiences(payload),
        token.rpartition(".")[0].encode("utf-8"),
        signature,
    )


def _audiences(payload: Mapping[str, Any]) -> tuple[str, ...]:
    aud = payload.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list):
        return tuple(a for a in aud if isinstance(a, str))
    return ()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- OIDC -------------------------------------------------------------------


def check_oidc_shape(token: UnverifiedToken) -> None:
    """Convex parses an ID token into typed claims before verifying it; so do we."""
    claims = token.payload
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenInvalid(OIDC_PARSE)
    if not (_is_number(claims.get("exp")) and _is_number(claims.get("iat"))):
        raise TokenInvalid(OIDC_PARSE)
    aud = claims.get("aud")
    if aud is not None and not isinstance(aud, str | list):
        raise TokenInvalid(OIDC_PARSE)
    for claim in ("email_verified", "phone_number_verified"):
        if claims.get(claim) is not None and not isinstance(claims[claim], bool):
            raise TokenInvalid(OIDC_PARSE)
    if claims.get("address") is not None and not isinstance(claims["address"], dict):
        raise TokenInvalid(OIDC_PARSE)
    if claims.get("updated_at") is not None and rfc3339(claims["updated_at"]) is None:
        raise TokenInvalid(OIDC_PARSE)
    _check_oidc_header(token.header)


def _check_oidc_header(header: Mapping[str, Any]) -> None:
    if header.get("alg") not in OIDC_ALGORITHMS:
        raise TokenInvalid(OIDC_VERIFY)  # none, HS*, ES*, anything else
    typ = header.get("typ")
    if typ is not None:
        normal = str(typ).lower()
        normal = normal if "/" in normal else f"application/{normal}"
        if normal not in _TYPS:
            raise TokenInvalid(OIDC_VERIFY)
    if "cty" in header or "crit" in header:
        raise TokenInvalid(OIDC_VERIFY)


def verify_oidc(
    token: UnverifiedToken,
    provider: OidcProvider,
    keys: Sequence[CachedKey],
    now: float,
    leeway: float = CUSTOM_JWT_LEEWAY,
    max_lifetime: float = 0.0,
) -> dict[str, Any]:
    """Signature, audience, exp (no leeway), nbf and iat (`leeway` seconds
    early at most), lifetime (`max_lifetime`, 0 for none) and azp; keys
    already filtered by kid."""
    key = _single_key(keys, token.alg)
    if key is None:
        raise TokenInvalid(OIDC_VERIFY)  # no key, or an ambiguous choice
    claims = _verify_signature(token, key, token.alg, OIDC_VERIFY)
    if any(a != provider.application_id for a in token.aud):
        raise TokenInvalid(OIDC_VERIFY)  # extra audiences are refused, as Convex does
    if math.floor(now) >= claims["exp"]:
        raise TokenExpired(OIDC_VERIFY)
    _check_not_before(claims, now, leeway)
    _check_lifetime(claims, max_lifetime)
    _check_azp(claims, provider.authorized_parties)
    return claims


def _single_key(keys: Sequence[CachedKey], alg: str) -> CachedKey | None:
    usable = [
        k
        for k in keys
        if k.use in (None, "sig") and k.kty == _KEY_TYPES.get(alg) and k.alg in (None, alg)
    ]
    return usable[0] if len(usable) == 1 else None


# --- custom JWT ---------------------------------------------------------------


def check_custom_header(token: UnverifiedToken, provider: CustomJwtProvider) -> str:
    """The token's kid, once the header passes; raises before any key lookup."""
    kid = token.kid
    if not kid:
        raise TokenInvalid(NO_KID)
    if token.alg != provider.algorithm:
        raise TokenInvalid(unknown_kid(kid))
    return kid


def verify_custom(
    token: UnverifiedToken,
    kid: str,
    provider: CustomJwtProvider,
    keys: Sequence[CachedKey],
    now: float,
    leeway: float = CUSTOM_JWT_LEEWAY,
    max_lifetime: float = 0.0,
) -> dict[str, Any]:
    """Signature, claims, issuer, audience, exp/nbf/iat (`leeway` seconds),
    lifetime and azp; `kid` is what `check_custom_header` returned for
    `token` (that check is not repeated) and `keys` are already filtered by it."""
    usable = [
        k for k in keys if k.kty == _KEY_TYPES[provider.algorithm] and k.alg in (None, token.alg)
    ]
    if not usable:
        raise TokenInvalid(unknown_kid(kid))
    claims = _verify_signature(token, usable[0], provider.algorithm, unknown_kid(kid))
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenInvalid(BAD_CLAIMS)
    if not (_is_number(claims.get("exp")) and _is_number(claims.get("iat"))):
        raise TokenInvalid(BAD_CLAIMS)
    if claims["iss"].rstrip("/") != provider.issuer.rstrip("/"):
        raise TokenInvalid(f"Invalid issuer: {claims['iss']} != {provider.issuer}")
    _check_custom_audience(claims, provider.application_id)
    _check_custom_expiry(claims, now, leeway)
    _check_not_before(claims, now, leeway)
    _check_lifetime(claims, max_lifetime)
    _check_azp(claims, provider.authorized_parties)
    return claims


def _check_custom_audience(claims: Mapping[str, Any], application_id: str | None) -> None:
    if application_id is None:
        return
    if claims.get("aud") is None:
        raise TokenInvalid(MISSING_AUD)
    audiences = _audiences(claims)
    if application_id not in audiences:
        raise TokenInvalid(f"Invalid audience: {application_id} not in {list(audiences)}")


def _check_custom_expiry(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    # Convex's epsilon: a custom JWT may be up to 5 s past exp. Like Convex,
    # the clock is truncated to whole seconds first.
    late = math.floor(now) - claims["exp"]
    if late > leeway:
        raise TokenExpired(f"Could not validate token: Token expired {int(late)} seconds ago")


# --- shared -----------------------------------------------------------------


def _check_not_before(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    """nbf and iat may be at most `leeway` seconds ahead of the (whole-second)
    clock: a token from the future is forged or from a badly skewed issuer."""
    now = math.floor(now)
    for claim in ("nbf", "iat"):
        value = claims.get(claim)
        if value is None:
            continue
        if not _is_number(value):
            raise TokenInvalid(BAD_CLAIMS)
        early = value - now
        if early > leeway:
            raise TokenInvalid(
                f"Could not validate token: Token will be valid in {int(early)} seconds"
            )


def _check_lifetime(claims: Mapping[str, Any], max_lifetime: float) -> None:
    # iat and exp are numbers here: both verifiers checked them first.
    if max_lifetime <= 0:
        return
    lifetime = claims["exp"] - claims["iat"]
    if lifetime > max_lifetime:
        raise TokenInvalid(
            f"Could not validate token: its lifetime (exp - iat) is {int(lifetime)} seconds, "
            f"more than the {int(max_lifetime)} allowed"
        )


def _verify_signature(
    token: UnverifiedToken, key: CachedKey, alg: str, message: str
) -> dict[str, Any]:
    """Only the signature, over the segments `read_unverified` already split."""
    try:
        valid = jws.verify(alg, key.jwk.key, token.signing_input, token.signature)
    except (jwt.PyJWTError, NotImplementedError, ValueError, TypeError) as error:
        raise TokenInvalid(message) from error
    if not valid:
        raise TokenInvalid(message)
    return dict(token.payload)


def _check_azp(claims: Mapping[str, Any], authorized_parties: tuple[str, ...]) -> None:
    """Clerk puts the browser origin in azp; checked only when parties are configured."""
    if not authorized_parties:
        return
    azp = claims.get("azp")
    if azp not in authorized_parties:
        raise TokenInvalid(
            f"Invalid authorized party claim ('azp'): {azp!r} is not one of {list(authorized_parties)}"
        )

"""Compact JWS: reading a token's three parts, and checking its signature.

The one place that stands in for PyJWT's token reader, and the one place
that calls PyJWT's algorithm objects. What it relies on, each checked by
`tests/server/auth/test_jws.py`:

- `read_compact` accepts and refuses what PyJWT's reader (`PyJWS`, 2.x)
  does and yields the same header, payload and signature, except that it
  is stricter on purpose in three ways: the header and payload must be
  UTF-8 (PyJWT's `json.loads` of bytes also takes UTF-16 and UTF-32), and
  `crit` and unencoded payloads (`b64: false`) are refused, since no
  provider issues them and nothing here would honour them. It is ours
  because PyJWT's reader checks each character of the token in Python,
  which cost about as much as the RS256 check itself: `authenticate_now`
  took ~49 us a token through PyJWT's reader and ~26 us through this one
  (figures in the commit message that added this module).
- `verify` checks RS256 through `cryptography`'s public
  `RSAPublicKey.verify`, as PyJWT's `RSAAlgorithm.verify` does but without
  its two objects a call (~15.3 us against ~16.0 us), and every other
  algorithm through PyJWT's public algorithm objects: `get_algorithm_by_name`,
  `prepare_key` taking the key object of a `PyJWK`, and `verify` answering
  False (not raising) for a signature that does not match.

`HeaderCache` keeps decoded headers by their segment text: an issuer signs
every token with one of a few headers, and it saves ~2 us of ~26 a token.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import AllowedPublicKeys

__all__ = ["HeaderCache", "read_compact", "verify"]


class HeaderCache:
    """Decoded JWS headers by segment text; at most `limit`, cleared when
    full, so junk sent to fill it only costs a decode each."""

    __slots__ = ("_headers", "_limit")

    def __init__(self, limit: int = 256) -> None:
        self._headers: dict[str, Mapping[str, Any]] = {}
        self._limit = limit

    def __len__(self) -> int:
        return len(self._headers)

    def header(self, segment: str) -> Mapping[str, Any]:
        header = self._headers.get(segment)
        if header is None:
            header = _header(segment)
            if len(self._headers) >= self._limit:
                self._headers.clear()
            self._headers[segment] = header
        return header


def read_compact(
    token: str, headers: HeaderCache | None = None
) -> tuple[Mapping[str, Any], dict[str, Any], bytes]:
    """Header, payload and signature of a compact JWS, strictly decoded;
    nothing else is checked. `headers` may remember decoded headers.

    Raises:
        ValueError: not three canonical base64url segments, a header or
            payload that is not a UTF-8 JSON object, a `kid` that is not a
            string, or a `crit` or `b64` header.
        RecursionError: JSON nested too deep.
    """
    segments = token.split(".")
    if len(segments) != 3:
        raise ValueError("a JWS has three segments")
    header = _header(segments[0]) if headers is None else headers.header(segments[0])
    # RFC 7519 payloads are UTF-8; a strict decode refuses anything else.
    payload = json.loads(_b64url(segments[1]).decode("utf-8"))
    signature = _b64url(segments[2])
    if not isinstance(payload, dict):
        raise ValueError("header and payload must be JSON objects")
    return header, payload, signature


def _header(segment: str) -> Mapping[str, Any]:
    decoded = json.loads(_b64url(segment).decode("utf-8"))
    if not isinstance(decoded, dict):
        raise ValueError("header and payload must be JSON objects")
    if "kid" in decoded and not isinstance(decoded["kid"], str):
        raise ValueError("kid must be a string")
    if "crit" in decoded or decoded.get("b64", True) is not True:
        raise ValueError("unsupported JWS extension")
    return MappingProxyType(decoded)


# In a base64url text of length 4n+2 or 4n+3 the last character carries 4 or
# 2 unused bits; a canonical encoding leaves them zero. These are the
# characters that do.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = ("", "", "==", "=")  # by the unpadded length mod 4 (1 is never valid)


def _b64url(segment: str) -> bytes:
    """Base64url with optional padding, refusing what a canonical encoder
    would not write. '+' and '/' are refused before translating, so the
    strict decoder's alphabet check covers the rest."""
    stripped = segment.rstrip("=")
    rest = len(stripped) % 4
    if (
        rest == 1
        or (stripped != segment and (len(segment) % 4 or len(segment) - len(stripped) > 2))
        or (rest and stripped[-1] not in _CANONICAL_LAST[rest])
        or "+" in stripped
        or "/" in stripped
        or not stripped.isascii()
    ):
        raise ValueError("not base64url")
    text = (stripped + _PADDING[rest]).encode("ascii").translate(_TO_STANDARD)
    return binascii.a2b_base64(text, strict_mode=True)


def verify(alg: str, key: AllowedPublicKeys, signing_input: bytes, signature: bytes) -> bool:
    """Whether `signature` is `alg`'s signature of `signing_input` under `key`
    (a `PyJWK`'s key object). Call only with an algorithm the caller allows.

    Raises:
        jwt.PyJWTError, NotImplementedError, ValueError, TypeError: `alg` is
            unknown or `key` does not suit it.
    """
    if alg == "RS256" and isinstance(key, RSAPublicKey):
        # What PyJWT's RSAAlgorithm.verify does, minus its per-call objects.
        try:
            key.verify(signature, signing_input, _PKCS1V15, _SHA256)
        except InvalidSignature:
            return False
        return True
    algorithm = jwt.get_algorithm_by_name(alg)
    return algorithm.verify(signing_input, algorithm.prepare_key(key), signature)


_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()

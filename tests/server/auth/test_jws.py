"""What `server.auth.jws` relies on: PyJWT's reader and algorithm objects.

If a test here fails after a PyJWT or cryptography upgrade, `jws` must
follow the library (see its module docstring), not this test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from server.auth.jws import HeaderCache, read_compact, verify


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: object, payload: object, signature: bytes = b"sig") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)]
    )


GOOD = _compact({"alg": "RS256", "kid": "k"}, {"iss": "https://i.example", "aud": "convex"})
HEAD, BODY, SIG = GOOD.split(".")

# Tokens PyJWT's reader and ours must agree on, valid or not.
AGREED = {
    "valid": GOOD,
    "padded": ".".join(s + "=" * (-len(s) % 4) for s in (HEAD, BODY, SIG)),
    "empty signature": f"{HEAD}.{BODY}.",
    "two segments": f"{HEAD}.{BODY}",
    "four segments": f"{GOOD}.{SIG}",
    "bad character": f"{HEAD}.{BODY}.c!g",
    "standard alphabet": f"{HEAD}.{BODY}.a+/a",
    "non-ascii": f"{HEAD}.{BODY}.sïg",
    "length 1 mod 4": f"{HEAD}.{BODY}.abcde",
    "stray bits": "e31.e30.c2ln",  # "{}" with a non-zero unused bit
    "three pads": f"{HEAD}.{BODY}.c2lnc2k===",
    "pad without length 0 mod 4": f"{HEAD}.{BODY}.c2lnc2k==",
    "header not an object": _compact(["a"], {"iss": "x"}),
    "payload not an object": _compact({"alg": "RS256"}, "payload"),
    "header not json": f"{_b64(b'{nope')}.{BODY}.{SIG}",
    "kid not a string": _compact({"alg": "RS256", "kid": 7}, {"iss": "x"}),
}

# Where ours is stricter on purpose: PyJWT may accept these, we refuse.
STRICTER = {
    "crit": _compact({"alg": "RS256", "crit": ["b64"], "b64": True}, {"iss": "x"}),
    "unencoded payload": f"{_b64(json.dumps({'alg': 'RS256', 'b64': False}).encode())}..{SIG}",
    "utf-16 payload": f"{HEAD}.{_b64(json.dumps({'iss': 'x'}).encode('utf-16'))}.{SIG}",
}


def _pyjwt_read(token: str) -> tuple[Mapping[str, Any], Any, bytes] | None:
    try:
        decoded = jwt.PyJWS().decode_complete(token, options={"verify_signature": False})
        payload = json.loads(decoded["payload"])
    except (jwt.PyJWTError, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    return decoded["header"], payload, decoded["signature"]


def _our_read(token: str) -> tuple[Mapping[str, Any], Any, bytes] | None:
    try:
        return read_compact(token)
    except ValueError:
        return None


@pytest.mark.parametrize("token", AGREED.values(), ids=AGREED.keys())
def test_the_reader_agrees_with_pyjwts(token: str) -> None:
    ours, theirs = _our_read(token), _pyjwt_read(token)
    assert (ours is None) is (theirs is None)
    if ours is not None and theirs is not None:
        assert (dict(ours[0]), ours[1], ours[2]) == theirs


@pytest.mark.parametrize("token", STRICTER.values(), ids=STRICTER.keys())
def test_the_reader_refuses_what_it_does_not_honour(token: str) -> None:
    assert _our_read(token) is None


def test_the_header_cache_is_bounded_and_hands_out_read_only_headers() -> None:
    cache = HeaderCache(limit=2)
    first = read_compact(GOOD, cache)[0]
    assert read_compact(GOOD, cache)[0] is first
    with pytest.raises(TypeError):
        first["alg"] = "none"  # type: ignore[index]
    for n in range(5):
        read_compact(_compact({"alg": "RS256", "kid": str(n)}, {"iss": "x"}), cache)
        assert len(cache) <= 2
    with pytest.raises(ValueError):
        read_compact(AGREED["kid not a string"], cache)


def _sign(alg: str, private: Any) -> tuple[bytes, bytes]:
    token = jwt.encode({"sub": "u"}, private, algorithm=alg)
    signing_input, _, signature = token.rpartition(".")
    return signing_input.encode(), base64.urlsafe_b64decode(signature + "==")


@pytest.mark.parametrize(
    ("alg", "private"),
    [
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate()),
    ],
)
def test_signatures_verify_and_tampered_ones_answer_false(alg: str, private: Any) -> None:
    signed, signature = _sign(alg, private)
    public = jwt.PyJWK(jwt.get_algorithm_by_name(alg).to_jwk(private.public_key(), as_dict=True))
    assert verify(alg, public.key, signed, signature)
    assert not verify(alg, public.key, signed + b"x", signature)
    assert not verify(alg, public.key, signed, bytes(len(signature)))


def test_a_key_that_does_not_suit_the_algorithm_raises() -> None:
    rsa_public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    ed_public = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises((jwt.PyJWTError, ValueError, TypeError)):
        verify("EdDSA", rsa_public, b"x", b"y")
    with pytest.raises((jwt.PyJWTError, ValueError, TypeError)):
        verify("RS256", ed_public, b"x", b"y")
    with pytest.raises((jwt.PyJWTError, NotImplementedError)):
        verify("nonsense", rsa_public, b"x", b"y")

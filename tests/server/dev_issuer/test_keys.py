"""The dev issuer's key folder: creation, rotation, grace period, cross-process reload."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt

from server.dev_issuer import KeyStore
from tests.server.auth.harness import Clock


def _kids(store: KeyStore) -> list[str]:
    return [key["kid"] for key in store.jwks()["keys"]]


def test_first_use_creates_a_private_pem_and_a_manifest(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    kid = store.signing_key().kid
    pem = tmp_path / "keys" / f"{kid}.pem"
    assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert (tmp_path / "keys" / "keys.json").exists()
    # A second store over the same folder loads the same key instead of making one.
    assert KeyStore(tmp_path / "keys").signing_key().kid == kid


def test_jwks_publishes_public_rsa_keys_that_verify_signed_tokens(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    token = store.sign({"sub": "u"})
    (published,) = store.jwks()["keys"]
    assert published["kty"] == "RSA" and published["alg"] == "RS256" and "d" not in published
    assert jwt.get_unverified_header(token) == {
        "alg": "RS256",
        "kid": published["kid"],
        "typ": "JWT",
    }
    assert jwt.decode(token, jwt.PyJWK(published).key, algorithms=["RS256"]) == {"sub": "u"}


def test_rotation_signs_with_the_new_key_and_publishes_the_old_until_grace_ends(
    tmp_path: Path,
) -> None:
    clock = Clock(now=1000.0)
    store = KeyStore(tmp_path, grace_seconds=100, clock=clock)
    old = store.signing_key().kid
    new = store.rotate()
    assert store.signing_key().kid == new
    assert _kids(store) == [old, new]
    clock.advance(99)
    assert _kids(store) == [old, new]
    clock.advance(1)
    assert _kids(store) == [new]
    newest = store.rotate()  # rotation also deletes keys past their grace period
    assert not (tmp_path / f"{old}.pem").exists()
    assert _kids(store) == [new, newest]


def test_a_rotation_by_another_store_is_seen_on_the_next_read(tmp_path: Path) -> None:
    running = KeyStore(tmp_path)
    first = running.signing_key().kid
    second = KeyStore(tmp_path).rotate("second")
    assert second == "second"
    assert running.signing_key().kid == "second"
    assert _kids(running) == [first, "second"]

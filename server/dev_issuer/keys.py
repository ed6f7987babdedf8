"""The dev issuer's RSA signing keys, kept as PEM files in a folder.

Layout: `<kid>.pem` (PKCS#8, mode 0600) per key and `keys.json`, the manifest
naming the signing key and when each older key was retired. Rotation adds a key
and makes it the signing key; a retired key stays published for a grace period
so sessions holding tokens it signed keep working, then it is deleted. A running
issuer notices a rotation made by another process (the CLI) because `refresh()`
re-reads the manifest whenever its inode or mtime changes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from server.errors import ConfigError

__all__ = ["DEFAULT_GRACE_SECONDS", "KeyStore", "SigningKey"]

logger = logging.getLogger("livesync.dev_issuer")

DEFAULT_GRACE_SECONDS = 86400.0
_MANIFEST = "keys.json"
_KID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    created: float
    retired: float | None = None


class KeyStore:
    """Loads, creates and rotates the keys in one folder."""

    def __init__(
        self,
        directory: Path,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._stamp: tuple[int, int] | None = None
        self._signing: str = ""
        self._keys: dict[str, SigningKey] = {}

    def refresh(self) -> None:
        """Re-read the folder if it changed; create the first key if it is empty."""
        stamp = self._manifest_stamp()
        if stamp is None:
            self.rotate()
            return
        if stamp != self._stamp:
            self._load()

    def signing_key(self) -> SigningKey:
        self.refresh()
        return self._keys[self._signing]

    def published(self) -> tuple[SigningKey, ...]:
        """The signing key plus retired keys still inside their grace period."""
        self.refresh()
        now = self._clock()
        return tuple(
            k
            for k in self._keys.values()
            if k.retired is None or now - k.retired < self.grace_seconds
        )

    def jwks(self) -> dict[str, Any]:
        keys = []
        for key in self.published():
            jwk = RSAAlgorithm.to_jwk(key.private_key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": key.kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        key = self.signing_key()
        all_headers = {"kid": key.kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(dict(claims), key.private_key, algorithm="RS256", headers=all_headers)

    def rotate(self, kid: str | None = None) -> str:
        """Add a key and sign with it from now on; returns its kid."""
        self._load_if_present()
        kid = kid or f"dev-{secrets.token_hex(8)}"
        if not _KID.match(kid) or kid in self._keys:
            raise ConfigError(f"dev issuer key id {kid!r} is invalid or already used")
        now = self._clock()
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_private(self.directory / f"{kid}.pem", private_key)
        keys = {
            k: SigningKey(
                v.kid, v.private_key, v.created, v.retired if v.retired is not None else now
            )
            for k, v in self._keys.items()
        }
        keys[kid] = SigningKey(kid, private_key, now)
        expired = [
            k
            for k, v in keys.items()
            if v.retired is not None and now - v.retired >= self.grace_seconds
        ]
        self._keys = {k: v for k, v in keys.items() if k not in expired}
        self._signing = kid
        self._write_manifest()
        # Delete only once the manifest no longer names them, so readers never miss a file.
        for old in expired:
            (self.directory / f"{old}.pem").unlink(missing_ok=True)
        logger.info("dev issuer signing key is now %s (keys in %s)", kid, self.directory)
        return kid

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.directory / _MANIFEST).stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns)

    def _load_if_present(self) -> None:
        if self._manifest_stamp() is not None:
            self._load()

    def _load(self) -> None:
        stamp = self._manifest_stamp()
        try:
            manifest = json.loads((self.directory / _MANIFEST).read_text())
            keys = {}
            for entry in manifest["keys"]:
                kid = entry["kid"]
                private_key = _read_private(self.directory / f"{kid}.pem")
                keys[kid] = SigningKey(
                    kid, private_key, float(entry["created"]), entry.get("retired")
                )
            signing = manifest["signing"]
            if signing not in keys:
                raise KeyError(signing)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigError(
                f"dev issuer keys in {self.directory} are unreadable: {error}"
            ) from error
        self._keys, self._signing, self._stamp = keys, signing, stamp

    def _write_manifest(self) -> None:
        manifest = {
            "signing": self._signing,
            "keys": [
                {"kid": k.kid, "created": k.created, "retired": k.retired}
                for k in self._keys.values()
            ],
        }
        # Write-then-rename: a reader in another process never sees half a file,
        # and the new inode makes the change visible even within one mtime tick.
        tmp = self.directory / f".{_MANIFEST}.{secrets.token_hex(4)}"
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, self.directory / _MANIFEST)
        self._stamp = self._manifest_stamp()


def _write_private(path: Path, key: rsa.RSAPrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _read_private(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path.name} is not an RSA private key")
    return key

"""The admin key: one secret per deployment that makes a connection (or an
HTTP call) the deployment's administrator, as Convex's deploy keys do: it
may call internal functions, act as any user, and reach the dashboard's
functions. An app user's token never can.

The key lives in a file beside the database (`admin-key`, mode 0600),
made at the first start, or comes from `[server] admin_key` (nodes that
share a PostgreSQL database share it that way). The file is read again
when it changes, so `livesync admin-key --rotate` takes effect at once for
new connections.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from server.auth.identity import UserIdentity
from server.config import Config
from server.errors import TokenInvalid

__all__ = ["KEY_PREFIX", "AdminGrant", "AdminKey", "admin_grant", "admin_key_path"]

KEY_PREFIX = "livesync-admin-"


def admin_key_path(config: Config) -> Path:
    """`admin-key` beside a SQLite database, else under the config's `data/`."""
    return config.data_dir / "admin-key"


class AdminKey:
    """Checks presented keys against the configured one or the file's."""

    def __init__(self, path: Path, configured: str = "") -> None:
        self.path = path
        self._configured = configured
        self._cached: tuple[float, str] | None = None  # (file mtime, key)

    def ensure(self) -> str | None:
        """Make the key file if there is none (and no configured key); the
        new key, to be shown once, or None when one existed already."""
        if self._configured or self.path.exists():
            return None
        return self.rotate()

    def rotate(self) -> str:
        """A new key in the file; the old one stops working."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part = self.path.with_name(self.path.name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
        os.replace(part, self.path)
        return key

    def current(self) -> str | None:
        """The key in force: the configured one, else the file's."""
        if self._configured:
            return self._configured
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        if self._cached is None or self._cached[0] != mtime:
            self._cached = (mtime, self.path.read_text().strip())
        return self._cached[1]

    def matches(self, presented: str) -> bool:
        key = self.current()
        if not key:
            return False
        # Compared in constant time: the key is a password.
        return hmac.compare_digest(presented.encode(), key.encode())


@dataclass(frozen=True, slots=True)
class AdminGrant:
    """An accepted admin key: the caller is the administrator, acting as
    `identity` (None: as no user). It never expires."""

    identity: UserIdentity | None


def admin_grant(keys: AdminKey | None, key: str, acting_as: object) -> AdminGrant:
    """The grant of an admin `key` acting as the identity attributes
    `acting_as` (None: no user); raises `TokenInvalid` otherwise."""
    if keys is None or not keys.matches(key):
        raise TokenInvalid("The admin key is not valid for this deployment")
    if acting_as is None:
        return AdminGrant(None)
    if not isinstance(acting_as, dict):
        raise TokenInvalid("impersonating must be an object of identity attributes")
    try:
        return AdminGrant(UserIdentity.from_json(acting_as))
    except ValueError as exc:
        raise TokenInvalid(f"impersonating: {exc}") from None

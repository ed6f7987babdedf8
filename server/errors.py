"""Every exception the server raises on purpose.

    LivesyncError
    ├── ConfigError                 config.toml or CLI values are unusable
    ├── AppError                    raised by app code; `.data` reaches the client
    ├── FunctionError               a call failed for a reason the caller may see
    │   ├── FunctionNotFound        no function answers to that path (or wrong kind)
    │   ├── ArgumentError           arguments fail the function's validators
    │   ├── ReturnValueError        the result fails the `returns` validator
    │   ├── SchemaError             a write breaks the schema
    │   ├── DocumentNotFound        patch/replace/delete of a missing id
    │   ├── LimitExceeded           a read, write or size limit was hit
    │   └── FileStoreUnavailable    the bucket of stored files is out of reach now
    ├── SnapshotError               an export or import cannot go on (foreign or corrupt
    │                               ZIP, a document the deployment refuses, tables in use)
    ├── StoreError                  the storage backend failed (not the caller's fault)
    │   ├── DatabaseInUse           another server holds the SQLite file (one node per file)
    │   └── StoreUnavailable        the database cannot be reached now; retry later
    └── AuthError                   a token was refused; `.message` is sent to the client
        ├── TokenInvalid            malformed, bad signature, wrong claims
        ├── TokenExpired            exp has passed
        └── IssuerUnavailable       keys could not be fetched; retry later (close 1013)

Messages of FunctionError and AuthError are meant for clients; StoreError and
any unexpected exception become a generic message, with details only in the
server log.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DatabaseInUse",
    "AppError",
    "ArgumentError",
    "AuthError",
    "ConfigError",
    "DocumentNotFound",
    "FileStoreUnavailable",
    "FunctionError",
    "FunctionNotFound",
    "IssuerUnavailable",
    "LimitExceeded",
    "LivesyncError",
    "ReturnValueError",
    "SchemaError",
    "SnapshotError",
    "StoreError",
    "StoreUnavailable",
    "TokenExpired",
    "TokenInvalid",
]


class LivesyncError(Exception):
    """Base class of every livesync server exception."""


class ConfigError(LivesyncError):
    """The configuration is unusable. The message names the key at fault."""


class AppError(LivesyncError):
    """Raise from a function to fail it with data the client receives.

    `AppError("Not found")` or `AppError({"code": 404})`: the JS client raises
    `ConvexError` whose `.data` is this value; the Python clients raise their
    error type carrying `.data`.
    """

    def __init__(self, data: Any = None) -> None:
        self.data = data
        super().__init__(data if isinstance(data, str) else repr(data))


class FunctionError(LivesyncError):
    """A function call failed in a way whose message the caller may see."""


class FunctionNotFound(FunctionError):
    pass


class ArgumentError(FunctionError):
    pass


class ReturnValueError(FunctionError):
    pass


class SchemaError(FunctionError):
    pass


class DocumentNotFound(FunctionError):
    pass


class LimitExceeded(FunctionError):
    pass


class FileStoreUnavailable(FunctionError):
    """The stored files' backend (an S3 bucket) cannot be reached; the
    message names no secret, so callers may see it."""


class SnapshotError(LivesyncError):
    """`livesync export` or `import` cannot go on; the message says why, in
    one line, and what was written (nothing, wherever that can be ensured)."""


class StoreError(LivesyncError):
    """The storage backend failed; the message is for the server log only."""


class DatabaseInUse(StoreError):
    """Another server holds the SQLite database: SQLite serves one node."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (connection lost, server restarting):
    nothing was written, and the same call may succeed later."""


class AuthError(LivesyncError):
    """A token was refused. `message` is the text sent in the AuthError frame."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class TokenInvalid(AuthError):
    pass


class TokenExpired(AuthError):
    pass


class IssuerUnavailable(AuthError):
    """The issuer's keys could not be fetched; the client should retry."""

"""The dev issuer: a local stand-in for Clerk's Frontend API (DESIGN.md, "The dev issuer").

A web server of its own (`app`), mounted at `/dev-issuer` by `livesync dev` or
run alone by `livesync dev-issuer`; its signing keys (`keys`); and the HTTP
call that asks it for a token (`token_client`, for `livesync token` and tests).
The server's token validation (`server.auth`) knows nothing of it: it reaches
the dev issuer through OIDC discovery like any other issuer.
"""

from __future__ import annotations

from server.dev_issuer.app import (
    DEFAULT_KEYS_DIR,
    DEFAULT_PORT,
    DEFAULT_TTL,
    MAX_TTL,
    DevIssuer,
    bind_socket,
    issuer_url_for,
    rotate_keys,
    run_dev_issuer,
)
from server.dev_issuer.keys import DEFAULT_GRACE_SECONDS, KeyStore, SigningKey
from server.dev_issuer.token_client import arequest_token, request_token

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_KEYS_DIR",
    "DEFAULT_PORT",
    "DEFAULT_TTL",
    "MAX_TTL",
    "DevIssuer",
    "KeyStore",
    "SigningKey",
    "arequest_token",
    "bind_socket",
    "issuer_url_for",
    "request_token",
    "rotate_keys",
    "run_dev_issuer",
]

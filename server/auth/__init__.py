"""Token authentication: providers, JWKS cache, validation, identity.

The dev issuer that mints tokens for local use is `server.dev_issuer`.
"""

from __future__ import annotations

from server.auth.authenticator import Authenticator, AuthResult
from server.auth.identity import UserIdentity
from server.auth.jwks import KeyCachePolicy
from server.auth.providers import CustomJwtProvider, OidcProvider, Provider, parse_providers

__all__ = [
    "AuthResult",
    "Authenticator",
    "CustomJwtProvider",
    "KeyCachePolicy",
    "OidcProvider",
    "Provider",
    "UserIdentity",
    "parse_providers",
]

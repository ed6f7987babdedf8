"""Token authentication: providers, JWKS cache, validation, identity, dev issuer."""

from __future__ import annotations

from server.auth.authenticator import Authenticator, AuthResult
from server.auth.dev_issuer import DevIssuer, request_token, rotate_keys, run_dev_issuer
from server.auth.identity import UserIdentity
from server.auth.jwks import KeyCachePolicy
from server.auth.providers import CustomJwtProvider, OidcProvider, Provider, parse_providers

__all__ = [
    "AuthResult",
    "Authenticator",
    "CustomJwtProvider",
    "DevIssuer",
    "KeyCachePolicy",
    "OidcProvider",
    "Provider",
    "UserIdentity",
    "parse_providers",
    "request_token",
    "rotate_keys",
    "run_dev_issuer",
]

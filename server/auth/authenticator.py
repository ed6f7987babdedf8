"""Turn a bearer token into a UserIdentity, or a client-visible AuthError.

The one entry point the sync and HTTP layers call. It routes the token to a
provider by its unverified iss/aud, gets that issuer's keys from the cache,
verifies, and builds the identity. Tokens are never logged; only the issuer
and the outcome are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import httpx

from server.auth.identity import IdentityCache, UserIdentity
from server.auth.jwks import CachedKey, KeyCache, KeyCachePolicy, KeySource
from server.auth.jws import HeaderCache
from server.auth.providers import (
    CustomJwtProvider,
    OidcProvider,
    Provider,
    describe_providers,
    find_provider,
)
from server.auth.validation import (
    CUSTOM_JWT_LEEWAY,
    UnverifiedToken,
    check_custom_header,
    check_oidc_shape,
    read_unverified,
    verify_custom,
    verify_oidc,
)
from server.errors import AuthError, TokenInvalid

__all__ = ["DEFAULT_MAX_TOKEN_BYTES", "AuthResult", "Authenticator"]

logger = logging.getLogger("livesync.auth")

DEFAULT_MAX_TOKEN_BYTES = 16384


@dataclass(frozen=True, slots=True)
class AuthResult:
    identity: UserIdentity
    expires_at: float  # the token's exp, seconds since epoch


class _Route(NamedTuple):
    unverified: UnverifiedToken
    provider: Provider
    source: KeySource
    kid: str | None


class Authenticator:
    """Validates tokens against the configured providers; share one per server."""

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        policy: KeyCachePolicy | None = None,
        clock_leeway: float = CUSTOM_JWT_LEEWAY,
        max_token_lifetime: float = 0.0,
    ) -> None:
        self.providers = tuple(providers)
        self._leeway = clock_leeway
        self._max_lifetime = max_token_lifetime
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(follow_redirects=True)
        self._clock = clock
        self._max_token_bytes = max_token_bytes
        self.keys = KeyCache(self._http, clock=clock, policy=policy)
        self._identities = IdentityCache()
        self._headers = HeaderCache()
        # An OIDC token's iss must be its provider's domain with or without
        # the trailing slash: two key sources per provider, made once.
        self._oidc_sources = {
            iss: KeySource(issuer=iss)
            for p in self.providers
            if isinstance(p, OidcProvider)
            for iss in (p.domain.rstrip("/"), p.domain.rstrip("/") + "/")
        }

    async def authenticate(self, token: str) -> AuthResult:
        """Raises TokenInvalid / TokenExpired / IssuerUnavailable (all AuthError)."""
        try:
            result = await self._authenticate(token)
        except AuthError as error:
            logger.info("token refused: %s: %s", type(error).__name__, error.message)
            raise
        logger.debug("token accepted for issuer %s", result.identity.issuer)
        return result

    def authenticate_now(self, token: str) -> AuthResult | None:
        """The result, when the token is valid and its issuer's keys are cached
        and fresh; None otherwise, with nothing logged. The caller then uses
        `authenticate`, which fetches, decides and logs. Lets a connection
        accept a token without a task switch in the common case."""
        try:
            route = self._route(token)
            keys = self.keys.cached(route.source, route.kid)
            if keys is None:
                return None
            result = self._verify(route, keys)
        except AuthError:
            return None
        logger.debug("token accepted for issuer %s", result.identity.issuer)
        return result

    async def _authenticate(self, token: str) -> AuthResult:
        route = self._route(token)
        keys = await self.keys.keys(route.source, route.kid)
        return self._verify(route, keys)

    def _route(self, token: str) -> _Route:
        """Pick the provider by the unverified iss/aud, and where its keys live."""
        unverified = read_unverified(token, self._max_token_bytes, self._headers)
        provider = find_provider(self.providers, unverified.iss, unverified.aud)
        if provider is None:
            raise TokenInvalid(self._no_provider_message())
        if isinstance(provider, CustomJwtProvider):
            kid = check_custom_header(unverified, provider)
            source = KeySource(issuer=provider.issuer, jwks=provider.jwks)
            return _Route(unverified, provider, source, kid)
        check_oidc_shape(unverified)
        # Discovery uses the token's raw iss and the document must name exactly it;
        # only the two slash spellings of the configured domain may reach the network.
        base = provider.domain.rstrip("/")
        if unverified.iss not in (base, base + "/"):
            raise TokenInvalid(f"Auth provider discovery of {unverified.iss} failed")
        source = self._oidc_sources[unverified.iss]
        return _Route(unverified, provider, source, unverified.kid)

    def _verify(self, route: _Route, keys: tuple[CachedKey, ...]) -> AuthResult:
        provider = route.provider
        if isinstance(provider, OidcProvider):
            claims = verify_oidc(
                route.unverified,
                provider,
                keys,
                self._clock(),
                self._leeway,
                self._max_lifetime,
            )
        else:
            assert route.kid is not None  # check_custom_header returned it in _route
            claims = verify_custom(
                route.unverified,
                route.kid,
                provider,
                keys,
                self._clock(),
                self._leeway,
                self._max_lifetime,
            )
        identity = self._identities.identity(claims, provider)
        return AuthResult(identity, float(claims["exp"]))

    def _no_provider_message(self) -> str:
        if not self.providers:
            return (
                "No auth provider found matching the given token (no providers configured). "
                "Check the [[auth.providers]] section of config.toml."
            )
        return (
            "No auth provider found matching the given token. Check that your JWT's issuer "
            "and audience match one of your configured providers: "
            + describe_providers(self.providers)
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

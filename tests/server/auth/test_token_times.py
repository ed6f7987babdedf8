"""nbf, iat and token lifetime, for both provider kinds: tokens signed by real
dev issuers (RS256, keys fetched over HTTP), checked against a set clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from server.auth.authenticator import Authenticator
from server.auth.providers import CustomJwtProvider, OidcProvider
from server.errors import TokenInvalid
from tests.server.auth.harness import Clock, CountingHttp, RunningIssuer, StartIssuer

__all__: list[str] = []

Make = Callable[..., Authenticator]


@pytest.fixture
async def issuers(start_issuer: StartIssuer) -> tuple[RunningIssuer, RunningIssuer]:
    return await start_issuer(kid="oidc"), await start_issuer(kid="custom")


@pytest.fixture
async def make(
    issuers: tuple[RunningIssuer, RunningIssuer], http: CountingHttp, clock: Clock
) -> AsyncIterator[Make]:
    oidc, custom = issuers
    providers = [
        OidcProvider(domain=oidc.url, application_id="convex"),
        CustomJwtProvider(
            issuer=custom.url,
            jwks=f"{custom.url}/.well-known/jwks.json",
            algorithm="RS256",
            application_id="my-app",
        ),
    ]
    made: list[Authenticator] = []

    def build(**options: float) -> Authenticator:
        auth = Authenticator(providers, http=http.client, clock=clock, **options)
        made.append(auth)
        return auth

    yield build
    for auth in made:
        await auth.aclose()


def _tokens(issuers: tuple[RunningIssuer, RunningIssuer], **claims: object) -> list[str]:
    oidc, custom = issuers
    return [oidc.sign(oidc.claims(**claims)), custom.sign(custom.claims(aud="my-app", **claims))]


async def _refusal(auth: Authenticator, token: str) -> str:
    with pytest.raises(TokenInvalid) as caught:
        await auth.authenticate(token)
    return caught.value.message


async def test_nbf_in_the_future_is_refused_beyond_the_leeway_for_both_kinds(
    issuers: tuple[RunningIssuer, RunningIssuer], make: Make, clock: Clock
) -> None:
    auth = make()
    now = int(clock.now)
    for token in _tokens(issuers, nbf=now + 60):
        assert await _refusal(auth, token) == (
            "Could not validate token: Token will be valid in 60 seconds"
        )
    # Clerk's templates set nbf a few seconds ahead of a skewed clock: fine.
    for token in _tokens(issuers, nbf=now + 4):
        assert (await auth.authenticate(token)).identity.subject == "user_1"


async def test_iat_in_the_future_is_refused_for_oidc_too(
    issuers: tuple[RunningIssuer, RunningIssuer], make: Make, clock: Clock
) -> None:
    auth = make()
    now = int(clock.now)
    oidc, _ = _tokens(issuers, iat=now + 3600)
    assert await _refusal(auth, oidc) == (
        "Could not validate token: Token will be valid in 3600 seconds"
    )
    oidc, _ = _tokens(issuers, iat=now + 5)
    assert (await auth.authenticate(oidc)).identity.subject == "user_1"


async def test_the_leeway_is_configurable(
    issuers: tuple[RunningIssuer, RunningIssuer], make: Make, clock: Clock
) -> None:
    now = int(clock.now)
    skewed = _tokens(issuers, nbf=now + 20)
    strict, lenient = make(), make(clock_leeway=30.0)
    for token in skewed:
        assert (await _refusal(strict, token)).endswith("valid in 20 seconds")
        assert (await lenient.authenticate(token)).identity.subject == "user_1"
    # The same leeway is a custom JWT's grace after exp.
    _, late = _tokens(issuers, exp=now - 20)
    assert (await lenient.authenticate(late)).identity.subject == "user_1"


async def test_a_maximum_lifetime_refuses_longer_lived_tokens(
    issuers: tuple[RunningIssuer, RunningIssuer], make: Make, clock: Clock
) -> None:
    now = int(clock.now)
    day_long = _tokens(issuers, iat=now, exp=now + 86400)
    minute_long = _tokens(issuers, iat=now, exp=now + 60)
    capped, uncapped = make(max_token_lifetime=3600.0), make()
    for token in day_long:
        assert await _refusal(capped, token) == (
            "Could not validate token: its lifetime (exp - iat) is 86400 seconds, "
            "more than the 3600 allowed"
        )
        assert (await uncapped.authenticate(token)).identity.subject == "user_1"
    for token in minute_long:
        assert (await capped.authenticate(token)).identity.subject == "user_1"

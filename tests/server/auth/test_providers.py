"""Provider config parsing and token routing."""

from __future__ import annotations

import logging

import pytest

from server.auth.providers import (
    CustomJwtProvider,
    OidcProvider,
    Provider,
    find_provider,
    parse_providers,
)
from server.errors import ConfigError

CLERK: dict[str, object] = {
    "domain": "https://verb-noun-00.clerk.accounts.dev",
    "application_id": "convex",
}
CUSTOM: dict[str, object] = {
    "type": "custom_jwt",
    "issuer": "https://issuer.example.com",
    "jwks": "https://issuer.example.com/.well-known/jwks.json",
    "algorithm": "RS256",
}


def test_both_provider_forms_parse_into_typed_providers() -> None:
    parsed = parse_providers([CLERK, {**CUSTOM, "application_id": "my-app"}])
    assert parsed == (
        OidcProvider("https://verb-noun-00.clerk.accounts.dev", "convex"),
        CustomJwtProvider(
            "https://issuer.example.com",
            "https://issuer.example.com/.well-known/jwks.json",
            "RS256",
            "my-app",
        ),
    )


def test_missing_jwks_is_an_error_naming_the_key() -> None:
    custom = {k: v for k, v in CUSTOM.items() if k != "jwks"}
    with pytest.raises(ConfigError, match=r"^auth\.providers\[1\]\.jwks: required for custom_jwt$"):
        parse_providers([CLERK, custom])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"application_id": "convex"}, r"auth\.providers\[0\]\.domain: required"),
        ({"domain": "x.example.com"}, r"auth\.providers\[0\]\.application_id: required"),
        ({**CUSTOM, "algorithm": "HS256"}, r"only RS256 and ES256 are supported\): HS256"),
        ({**CLERK, "applicationID": "c"}, r"auth\.providers\[0\]\.applicationID: unknown key"),
        ({**CLERK, "type": "saml"}, r"auth\.providers\[0\]\.type: must be"),
        ({**CLERK, "domain": "not a url"}, r"Does not look like a URL"),
        ({**CLERK, "domain": "ftp://x.example.com"}, r"must be http or https"),
        ({**CUSTOM, "jwks": "file:///etc/passwd"}, r"\.jwks: must be an http\(s\) URL"),
        ({**CLERK, "authorized_parties": "x"}, r"authorized_parties: must be an array"),
    ],
)
def test_invalid_entries_are_config_errors(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_providers([entry])


def test_a_bare_domain_gets_https() -> None:
    (provider,) = parse_providers([{**CLERK, "domain": "verb-noun-00.clerk.accounts.dev"}])
    assert isinstance(provider, OidcProvider)
    assert provider.domain == "https://verb-noun-00.clerk.accounts.dev"


def test_plain_http_warns_only_for_non_loopback_issuers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="livesync.auth"):
        parse_providers([{**CLERK, "domain": "http://127.0.0.1:3211"}])
        parse_providers([{**CLERK, "domain": "http://localhost:3211"}])
        assert caplog.records == []
        parse_providers([{**CLERK, "domain": "http://auth.example.com"}])
    assert [r.getMessage() for r in caplog.records] == [
        "auth provider issuer http://auth.example.com is not https; tokens could be forged in transit"
    ]


def test_routing_takes_the_first_match_on_issuer_and_audience() -> None:
    first = OidcProvider("https://a.example.com/", "convex")
    second = CustomJwtProvider("https://a.example.com", "https://a.example.com/jwks", "RS256")
    providers: list[Provider] = [first, second]
    assert find_provider(providers, "https://a.example.com", ["convex"]) is first
    assert find_provider(providers, "a.example.com//", ["convex", "x"]) is first
    # A custom provider without application_id ignores aud entirely.
    assert find_provider(providers, "https://a.example.com", []) is second
    assert find_provider([first], "https://a.example.com", ["other"]) is None
    assert find_provider(providers, "https://b.example.com", ["convex"]) is None

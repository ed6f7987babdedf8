"""Token issuers the server trusts, as configured in `[[auth.providers]]`.

Two shapes, as in Convex's `auth.config.ts`: an OIDC provider (`domain`,
`application_id`; keys found by discovery) and a custom-JWT provider (`issuer`,
`jwks`, `algorithm`, optional `application_id`). `find_provider` picks the
provider for a token from its unverified `iss` and `aud` exactly as Convex's
`matches_token` does: first match in config order, no fallback.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from server.errors import ConfigError

__all__ = [
    "CUSTOM_JWT_ALGORITHMS",
    "CustomJwtProvider",
    "OidcProvider",
    "Provider",
    "describe_providers",
    "find_provider",
    "normalize_issuer",
    "parse_providers",
]

logger = logging.getLogger("livesync.auth")

CUSTOM_JWT_ALGORITHMS = ("RS256", "ES256")

_OIDC_KEYS = frozenset({"type", "domain", "application_id", "authorized_parties"})
_CUSTOM_KEYS = frozenset(
    {"type", "issuer", "jwks", "algorithm", "application_id", "authorized_parties"}
)
# A scheme-less value must look like a host name with a real TLD, or be localhost.
_BARE_HOST = re.compile(r"^(localhost|([a-z0-9-]+\.)+[a-z]{2,63})(:\d+)?(/.*)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OidcProvider:
    """An OpenID Connect issuer such as Clerk; keys come from discovery."""

    domain: str
    application_id: str
    authorized_parties: tuple[str, ...] = ()

    @property
    def issuer(self) -> str:
        return self.domain

    def describe(self) -> str:
        return f"OIDC(domain={self.domain}, app_id={self.application_id})"


@dataclass(frozen=True, slots=True)
class CustomJwtProvider:
    """Any JWT issuer with a JWKS URL (or `data:` URL) and one fixed algorithm."""

    issuer: str
    jwks: str
    algorithm: str
    application_id: str | None = None
    authorized_parties: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"CustomJWT(issuer={self.issuer}, app_id={self.application_id})"


Provider = OidcProvider | CustomJwtProvider


def parse_providers(raw: list[dict[str, object]]) -> tuple[Provider, ...]:
    """Typed providers from the `auth.providers` array; ConfigError names the bad key."""
    if not isinstance(raw, list):
        raise ConfigError("auth.providers: must be an array of tables")
    providers = tuple(_parse_one(entry, f"auth.providers[{i}]") for i, entry in enumerate(raw))
    for provider in providers:
        _warn_if_insecure(provider.issuer)
    return providers


def _parse_one(entry: object, where: str) -> Provider:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table")
    kind = entry.get("type", "oidc")
    if kind == "oidc":
        _reject_unknown_keys(entry, _OIDC_KEYS, where)
        return OidcProvider(
            domain=normalize_issuer(_required_str(entry, "domain", where), f"{where}.domain"),
            application_id=_required_str(entry, "application_id", where),
            authorized_parties=_parties(entry, where),
        )
    if kind == "custom_jwt":
        _reject_unknown_keys(entry, _CUSTOM_KEYS, where)
        return CustomJwtProvider(
            issuer=normalize_issuer(_required_str(entry, "issuer", where), f"{where}.issuer"),
            jwks=_jwks_url(_required_str(entry, "jwks", where, "custom_jwt"), f"{where}.jwks"),
            algorithm=_algorithm(_required_str(entry, "algorithm", where, "custom_jwt"), where),
            application_id=_optional_str(entry, "application_id", where),
            authorized_parties=_parties(entry, where),
        )
    raise ConfigError(f'{where}.type: must be "custom_jwt" or absent (OIDC), not {kind!r}')


def _reject_unknown_keys(entry: dict[str, object], allowed: frozenset[str], where: str) -> None:
    for key in entry:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _required_str(entry: dict[str, object], key: str, where: str, kind: str = "") -> str:
    value = entry.get(key)
    if value is None:
        suffix = f" for {kind}" if kind else ""
        raise ConfigError(f"{where}.{key}: required{suffix}")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key}: must be a non-empty string")
    return value.strip()


def _optional_str(entry: dict[str, object], key: str, where: str) -> str | None:
    if entry.get(key) is None:
        return None
    return _required_str(entry, key, where)


def _parties(entry: dict[str, object], where: str) -> tuple[str, ...]:
    value = entry.get("authorized_parties", [])
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise ConfigError(f"{where}.authorized_parties: must be an array of strings")
    return tuple(value)


def _algorithm(value: str, where: str) -> str:
    if value not in CUSTOM_JWT_ALGORITHMS:
        raise ConfigError(
            f"{where}.algorithm: Invalid signature algorithm "
            f"(only RS256 and ES256 are supported): {value}"
        )
    return value


def _jwks_url(value: str, where: str) -> str:
    if value.startswith("data:"):
        return value
    scheme = urlsplit(value).scheme
    if scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ConfigError(f"{where}: must be an http(s) URL or a data: URL, not {value!r}")
    return value


def normalize_issuer(value: str, where: str) -> str:
    """Convex's config-time rules: add https:// to a bare host; only http(s)."""
    if value.startswith('"'):
        raise ConfigError(
            f'{where}: Invalid provider domain URL "{value}": starts with a double quote'
        )
    if "://" not in value:
        if not _BARE_HOST.match(value):
            raise ConfigError(
                f'{where}: Invalid provider domain URL "{value}": Does not look like a URL '
                "(must have a scheme or end with a top-level domain)"
            )
        value = f"https://{value}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f'{where}: Invalid provider domain URL "{value}": must be http or https')
    # Kept verbatim otherwise (trailing slash included); matching strips slashes.
    return value


def _warn_if_insecure(issuer: str) -> None:
    parts = urlsplit(issuer)
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        logger.warning(
            "auth provider issuer %s is not https; tokens could be forged in transit", issuer
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _comparable(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        url = f"https://{url}"
    return url.rstrip("/")


def find_provider(providers: Iterable[Provider], iss: str, aud: Sequence[str]) -> Provider | None:
    """The first provider whose issuer matches `iss` and whose application id is in `aud`."""
    wanted = _comparable(iss)
    for provider in providers:
        if provider.application_id is not None and provider.application_id not in aud:
            continue
        if _comparable(provider.issuer) == wanted:
            return provider
    return None


def describe_providers(providers: Sequence[Provider]) -> str:
    return "[" + ", ".join(p.describe() for p in providers) + "]"

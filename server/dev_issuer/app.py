"""A local stand-in for Clerk's Frontend API, for development and tests.

`DevIssuer` is an ASGI app serving OIDC discovery, the JWKS, and `POST /token`,
which mints RS256 tokens shaped like a Clerk "convex" template token. Mount it
under a prefix of the main server (`livesync dev`) or run it alone with
`run_dev_issuer`. Anyone who can reach it can mint tokens: it is for loopback
development only, and the server warns about non-https, non-loopback issuers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from server.asgi import Receive, Scope, Send, read_body, respond
from server.dev_issuer.keys import DEFAULT_GRACE_SECONDS, KeyStore
from server.errors import ConfigError

__all__ = [
    "DEFAULT_KEYS_DIR",
    "DEFAULT_PORT",
    "DEFAULT_TTL",
    "MAX_TTL",
    "DevIssuer",
    "bind_socket",
    "issuer_url_for",
    "rotate_keys",
    "run_dev_issuer",
]

logger = logging.getLogger("livesync.dev_issuer")


DEFAULT_PORT = 3211
DEFAULT_KEYS_DIR = Path(".livesync/dev-issuer-keys")
DEFAULT_TTL = 3600  # longer than Clerk's 60 s so a CLI-minted token stays usable
MAX_TTL = int(DEFAULT_GRACE_SECONDS)  # a token never outlives its key's grace period
_MAX_BODY = 64 * 1024
# Claims the issuer always sets itself, as Clerk does for template tokens.
_RESERVED = frozenset({"iss", "iat", "exp", "nbf", "jti"})


class DevIssuer:
    """ASGI app: `GET /.well-known/openid-configuration`, `GET /.well-known/jwks.json`,
    `POST /token`. Paths are relative to `issuer_url`'s path, so it can be mounted."""

    def __init__(
        self,
        keys_dir: Path,
        issuer_url: str,
        *,
        jwks_max_age: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.keys = KeyStore(Path(keys_dir), clock=clock)
        self.jwks_max_age = jwks_max_age
        self._clock = clock
        self._prefix = urlsplit(self.issuer_url).path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = self._route_path(scope)
        method = scope["method"]
        if method == "OPTIONS":
            await _respond(send, 204, b"")
        elif path == "/.well-known/openid-configuration" and method == "GET":
            await _respond_json(send, 200, self.discovery(), self._cache_headers())
        elif path == "/.well-known/jwks.json" and method == "GET":
            await _respond_json(send, 200, self.keys.jwks(), self._cache_headers())
        elif path == "/token" and method == "POST":
            await self._token(receive, send)
        else:
            await _respond_json(send, 404, {"error": "not found"})

    def _route_path(self, scope: Scope) -> str:
        # Works whether the host strips the mount prefix into root_path or not.
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if self._prefix and path.startswith(self._prefix):
            path = path[len(self._prefix) :]
        return path or "/"

    def _cache_headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"cache-control", f"public, max-age={self.jwks_max_age}".encode())]

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer_url,
            "jwks_uri": f"{self.issuer_url}/.well-known/jwks.json",
            "token_endpoint": f"{self.issuer_url}/token",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def mint(self, request: Mapping[str, Any]) -> str:
        """A signed token for a `/token` request body; ConfigError says what is wrong."""
        sub = request.get("sub")
        if not isinstance(sub, str) or not sub:
            raise ConfigError("sub: required, a non-empty string")
        ttl = request.get("ttl", DEFAULT_TTL)
        if ttl is None:
            ttl = DEFAULT_TTL
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= MAX_TTL:
            raise ConfigError(f"ttl: must be a number of seconds in (0, {MAX_TTL}]")
        now = int(self._clock())
        claims = {k: v for k, v in request.items() if k not in _RESERVED and k != "ttl"}
        claims.setdefault("aud", "convex")
        claims.update(
            iss=self.issuer_url,
            iat=now,
            nbf=now - 5,  # Clerk templates allow 5 s of skew this way
            exp=now + int(ttl),
            jti=secrets.token_hex(10),
        )
        return self.keys.sign(claims)

    async def _token(self, receive: Receive, send: Send) -> None:
        raw = await read_body(receive, _MAX_BODY)
        try:
            if raw is None:
                raise ValueError("body: too large")
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ConfigError("body: must be a JSON object")
            token = self.mint(body)
        except (ValueError, ConfigError) as error:
            await _respond_json(send, 400, {"error": str(error)})
            return
        logger.info("dev issuer minted a token for sub=%s", body["sub"])
        await _respond_json(send, 200, {"token": token})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    extra = [(b"content-type", b"application/json"), *(headers or [])]
    await _respond(send, status, json.dumps(body).encode(), extra)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    # Permissive CORS: a dev web page on another port fetches tokens from here.
    cors = [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
        (b"access-control-allow-headers", b"content-type"),
    ]
    await respond(send, status, body, [*cors, *(headers or [])])


# --- functions the CLI wraps --------------------------------------------------


def run_dev_issuer(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, keys_dir: Path = DEFAULT_KEYS_DIR
) -> None:
    """Serve a dev issuer until interrupted; its issuer URL is `http://host:port`."""
    sock = bind_socket(host, port)
    issuer_url = issuer_url_for(host, sock.getsockname()[1])
    app = DevIssuer(keys_dir, issuer_url)
    app.keys.refresh()  # create the first key now, not on the first request
    logger.info("dev issuer at %s, keys in %s", issuer_url, Path(keys_dir).resolve())
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="info"))
    asyncio.run(server.serve(sockets=[sock]))


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket, bound before serving so port 0 yields a known port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def issuer_url_for(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def rotate_keys(keys_dir: Path = DEFAULT_KEYS_DIR) -> str:
    """Make a new signing key; a running issuer serves it on its next request."""
    return KeyStore(Path(keys_dir)).rotate()

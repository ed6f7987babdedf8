"""The client's side of authentication: where it stands, and keeping a token fresh.

:class:`ClientAuth` holds the token source (``auth=``), the auth state the
server last confirmed, the timer that fetches a new token ahead of expiry, and
the rule after a rejection: fetch once more with ``force_refresh``, then give
up and run unauthenticated. It never touches the socket: each token it settles
on goes to ``apply_token``, which the client hands to its protocol state (and
sends, when a socket is open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from client.tokens import (
    DEFAULT_LEEWAY,
    TokenFetcher,
    TokenSource,
    as_token_fetcher,
    read_lifetime,
    refresh_delay,
)
from protocol import AuthState

__all__ = ["ClientAuth"]

logger = logging.getLogger("livesync.client")


class ClientAuth:
    """Token source, auth state and refresh timer of one client."""

    def __init__(
        self,
        auth: TokenSource,
        *,
        apply_token: Callable[[str | None], None],
        refresh_leeway: float = DEFAULT_LEEWAY,
    ) -> None:
        self._fetcher: TokenFetcher | None = as_token_fetcher(auth)
        self._apply_token = apply_token
        self._refresh_leeway = refresh_leeway
        self._state = AuthState.LOADING if self._fetcher else AuthState.UNAUTHENTICATED
        self._changed = asyncio.Event()
        self._rejected = False
        self._retried = False
        self._confirmed_token: tuple[str, float] | None = None
        self._refresh_task: asyncio.Task[None] | None = None

    @property
    def state(self) -> AuthState:
        return self._state

    @property
    def has_source(self) -> bool:
        return self._fetcher is not None

    async def next_change(self) -> AuthState:
        """Wait for the next change of :attr:`state` (or a :meth:`wake`)."""
        await self._changed.wait()
        return self._state

    def wake(self) -> None:
        """Wake every waiter of :meth:`next_change` (state change, or closing)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def replace(self, auth: TokenSource) -> None:
        """A new token source: its first token is applied at once."""
        self._cancel_refresh()
        self._fetcher = as_token_fetcher(auth)
        self._retried = False
        if self._fetcher is None:
            self._apply_token(None)
            self._set_state(AuthState.UNAUTHENTICATED)
            return
        self._set_state(AuthState.LOADING)
        self._apply_token(await self.initial_token())

    async def initial_token(self) -> str | None:
        """A token from the source, cached if it has one, forced fresh if not."""
        token = await self._fetch(force_refresh=False)
        if token is None:
            token = await self._fetch(force_refresh=True)
        if token is None:
            self._set_state(AuthState.UNAUTHENTICATED)
        return token

    def confirmed(self, token: str | None) -> None:
        """The server accepted `token`: authenticated, and refresh it before it expires."""
        self._retried = False
        self._set_state(AuthState.AUTHENTICATED)
        self._cancel_refresh()
        lifetime = None if token is None else read_lifetime(token)
        delay = None if lifetime is None else refresh_delay(lifetime, self._refresh_leeway)
        if token is None or delay is None:
            return
        # Time the refresh from the token's first confirmation, so a reconnect
        # (which confirms the same token again) does not push it past expiry.
        now = time.monotonic()
        if self._confirmed_token is None or self._confirmed_token[0] != token:
            self._confirmed_token = (token, now)
        elapsed = now - self._confirmed_token[1]
        self._refresh_task = asyncio.create_task(self._refresh_after(max(0.0, delay - elapsed)))

    def rejected(self, error: str) -> None:
        """The server refused the token; :meth:`settle_rejected` decides what next."""
        logger.warning("server rejected the token: %s", error)
        self._cancel_refresh()
        self._rejected = True

    async def settle_rejected(self) -> None:
        """After a rejection: fetch once more with force_refresh, then give up."""
        if not self._rejected:
            return
        self._rejected = False
        if self._retried or self._fetcher is None:
            self._apply_token(None)
            self._set_state(AuthState.UNAUTHENTICATED)
            return
        self._retried = True
        self._set_state(AuthState.LOADING)
        token = await self._fetch(force_refresh=True)
        self._apply_token(token)
        if token is None:
            self._set_state(AuthState.UNAUTHENTICATED)

    async def stop(self) -> None:
        """Cancel the refresh timer and wait for it to end."""
        task, self._refresh_task = self._refresh_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _refresh_after(self, delay: float) -> None:
        await asyncio.sleep(delay)  # a timer: the token's lifetime, not synchronisation
        token = await self._fetch(force_refresh=True)
        self._apply_token(token)
        if token is None:
            self._set_state(AuthState.UNAUTHENTICATED)

    async def _fetch(self, *, force_refresh: bool) -> str | None:
        fetcher = self._fetcher
        if fetcher is None:
            return None
        try:
            return await fetcher(force_refresh)
        except Exception as exc:  # the app's callback: report it, run unauthenticated
            logger.warning("fetch_token failed: %s: %s", type(exc).__name__, exc)
            return None

    def _set_state(self, state: AuthState) -> None:
        if state != self._state:
            logger.info("auth state %s -> %s", self._state, state)
            self._state = state
            self.wake()

    def _cancel_refresh(self) -> None:
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            self._refresh_task = None

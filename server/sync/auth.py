"""One connection's identity: who it is, until when, and its auth moves.

The auth state itself lives in `protocol.session` (its moves are the table
`AUTH_TRANSITIONS`); `ConnectionAuth` holds what the state machine does not:
the identity in force, its cache key, the token's expiry and the timer that
wakes the connection when it passes. Every move goes through `_moved`, which
keeps the connection gauges and the log right, so no caller has to.

A verdict on a token is reached one of two ways with the same steps around
it: `verdict_now` (a valid token whose issuer keys are cached: no waiting)
or `verdict` (which may fetch keys). Either way the caller then calls
`adopt` or `refuse`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from protocol.messages import Authenticate
from protocol.session import AuthChange, AuthEvent, AuthState, ServerSession
from protocol.values import canonical_json
from server.admin.keys import AdminGrant, AdminKey, admin_grant
from server.auth.authenticator import AuthResult
from server.auth.identity import UserIdentity
from server.errors import AuthError
from server.metrics import Metrics
from server.sync.executions import ADMIN_IDENTITY
from server.sync.transport import Clock

__all__ = ["ConnectionAuth", "TokenJudge", "identity_key"]

log = logging.getLogger("livesync.sync")


class TokenJudge(Protocol):
    """What a connection needs of `server.auth.Authenticator`."""

    async def authenticate(self, token: str) -> AuthResult: ...

    def authenticate_now(self, token: str) -> AuthResult | None: ...


def identity_key(identity: UserIdentity | None) -> str:
    """The identity as a cache key: equal identities, equal keys."""
    if identity is None:
        return ""
    return canonical_json(identity.to_json())


class ConnectionAuth:
    """The identity in force on one connection; see the module docstring."""

    # One per connection, thousands at once: slots keep it small.
    __slots__ = (
        "_clock",
        "_conn_id",
        "_judge",
        "_loop",
        "_metrics",
        "_session",
        "_timer",
        "_admin_key",
        "_wake",
        "admin",
        "expires_at",
        "identity",
        "key",
    )

    def __init__(
        self,
        session: ServerSession,
        judge: TokenJudge | None,
        clock: Clock,
        metrics: Metrics,
        conn_id: int,
        wake: Callable[[], None],
        admin_key: AdminKey | None = None,
    ) -> None:
        self._session = session
        self._judge = judge
        self._admin_key = admin_key
        self._clock = clock
        self._metrics = metrics
        self._conn_id = conn_id
        self._wake = wake  # called when the token's exp passes
        # Kept: in 3.11 every get_running_loop() costs a getpid() system call.
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self.identity: UserIdentity | None = None
        self.key = ""  # identity_key(identity), after ADMIN_IDENTITY for an admin
        self.admin = False  # holds the admin key: internal functions run
        self.expires_at: float | None = None
        metrics.connections.add(session.auth_state.value, 1)

    @property
    def state(self) -> AuthState:
        return self._session.auth_state

    # -- reaching a verdict ----------------------------------------------

    def may_settle_now(self, msg: Authenticate) -> bool:
        """Whether `msg` could be begun and settled at once, with nothing to
        report: a User token, with a judge, allowed by the session now."""
        return (
            self._judge is not None
            and msg.token_type == "User"
            and msg.value is not None
            and self._session.authenticate_allowed(msg)
        )

    def verdict_now(self, msg: Authenticate) -> AuthResult | None:
        """The accepted token's result, if it can be had without waiting;
        None leaves the decision (and its logging) to `verdict`."""
        assert self._judge is not None and msg.value is not None  # may_settle_now
        return self._judge.authenticate_now(msg.value)

    async def verdict(self, msg: Authenticate) -> AuthResult | AdminGrant | None:
        """The accepted token's result, or None for a sign-out (tokenType None).

        Raises:
            AuthError: the token is refused (IssuerUnavailable: its issuer
                could not be asked).
        """
        if msg.token_type == "None":
            return None
        assert msg.value is not None  # Authenticate checks it
        if msg.token_type == "Admin":
            return admin_grant(self._admin_key, msg.value, msg.impersonating)
        if self._judge is None:
            raise AuthError("No auth provider found matching the given token")
        return await self._judge.authenticate(msg.value)

    # -- moves -----------------------------------------------------------

    def begin(self, msg: Authenticate) -> None:
        """An Authenticate arrived: auth goes `loading` until its verdict."""
        self._moved(self._session.begin_authenticate(msg))

    def adopt(self, result: AuthResult | AdminGrant | None) -> None:
        """Put the verdict in force: `result`'s identity, or none (signed out)."""
        admin = isinstance(result, AdminGrant)
        if result is None:
            identity, expires_at = None, None
        elif isinstance(result, AdminGrant):
            identity, expires_at = result.identity, None
        else:
            identity, expires_at = result.identity, result.expires_at
        # A refresh usually names the same user: keep the key, not re-serialize.
        same = admin == self.admin and (
            identity is not None and (identity is self.identity or identity == self.identity)
        )
        if not same:
            self.key = (ADMIN_IDENTITY if admin else "") + identity_key(identity)
        self.identity, self.expires_at, self.admin = identity, expires_at, admin
        self._arm()
        event = AuthEvent.CLEAR if identity is None and not admin else AuthEvent.ACCEPT
        self._moved(self._session.move_auth(event))

    def refuse(self, event: AuthEvent) -> None:
        """The token was refused (REFUSE) or has expired (EXPIRE)."""
        self._moved(self._session.move_auth(event))

    def expired(self) -> bool:
        """Convex's mid-session rule: expired once now >= exp, with no leeway."""
        expires_at = self.expires_at
        return expires_at is not None and self._clock.time() >= expires_at

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._metrics.connections.add(self._session.auth_state.value, -1)

    def _moved(self, change: AuthChange) -> None:
        """Count and log one move."""
        if change.new is change.old:
            return
        gauge = self._metrics.connections
        gauge.add(change.old.value, -1)
        gauge.add(change.new.value, 1)
        self._metrics.auth_transitions.inc(change.new.value)
        # A token refresh that ends where it began logs at DEBUG, so a busy
        # server's log is not two lines per refresh.
        level = logging.DEBUG if change.routine else logging.INFO
        if log.isEnabledFor(level):
            log.log(level, "connection %s auth %s -> %s", self._conn_id, change.old, change.new)

    # -- the expiry timer ------------------------------------------------

    def _arm(self) -> None:
        """One timer, due at or before the token's exp. A refresh to a later
        exp keeps it: when it fires early it re-arms, so a connection that
        refreshes every minute leaves no cancelled timers in the loop's heap."""
        if self.expires_at is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        when = self._loop.time() + max(0.0, self.expires_at - self._clock.time())
        if self._timer is not None:
            if self._timer.when() <= when:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.expired():
            self._wake()
        else:
            self._arm()

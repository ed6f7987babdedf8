"""The dev issuer tests run real issuers with the auth tests' `start_issuer`."""

from __future__ import annotations

from tests.server.auth.conftest import start_issuer

__all__ = ["start_issuer"]

"""The u64 timestamp codec used on the wire (convex-protocol.md §2).

Timestamps travel as standard base64, with padding, of the 8 little-endian
bytes of the number: always 12 characters. Both official clients require
exactly 8 bytes, and the Rust client refuses anything above i63.
"""

from __future__ import annotations

import base64
import binascii

from protocol.errors import RemoteProtocolError, ValueEncodeError

__all__ = ["MAX_TS", "encode_ts", "decode_ts"]

MAX_TS = 2**63 - 1
"""Largest timestamp the Rust client accepts (``Timestamp`` is i63)."""


def encode_ts(ts: int) -> str:
    """Encode a timestamp for the wire.

    Raises:
        ValueEncodeError: ``ts`` is not an int in ``0..2**63-1``.
    """
    if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= MAX_TS:
        raise ValueEncodeError(f"timestamp must be an int in 0..2**63-1, got {ts!r}")
    return base64.b64encode(ts.to_bytes(8, "little")).decode("ascii")


def decode_ts(text: str) -> int:
    """Decode a wire timestamp.

    Raises:
        RemoteProtocolError: not a string, not base64, not exactly 8 bytes,
            or above i63.
    """
    if not isinstance(text, str):
        raise RemoteProtocolError(f"timestamp must be a base64 string, got {text!r}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RemoteProtocolError(f"timestamp {text!r} is not valid base64") from exc
    if len(raw) != 8:
        raise RemoteProtocolError(
            f"timestamp {text!r} decodes to {len(raw)} bytes, expected exactly 8"
        )
    ts = int.from_bytes(raw, "little")
    if ts > MAX_TS:
        raise RemoteProtocolError(f"timestamp {text!r} is above 2**63-1")
    return ts

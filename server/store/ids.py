"""Document ids: 32 lowercase base32 characters carrying 20 bytes.

    bytes 0-1    table tag: a stable hash of the table name, so a validator
                 like `v.id("messages")` can check an id's table offline
    bytes 2-17   randomness (128 bits)
    bytes 18-19  checksum of bytes 0-17, which catches typos and truncation

The table tag is 16 bits, so two tables can share a tag; it rules ids of the
wrong table out with high probability, it does not prove the table.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import secrets
from collections.abc import Callable

__all__ = ["ID_LENGTH", "id_matches_table", "is_id", "new_id"]

ID_LENGTH = 32
"""Characters in an id (20 bytes of base32, no padding)."""

_RAW_LENGTH = 20
_TAG_LENGTH = 2
_RANDOM_LENGTH = 16
_CHECK_LENGTH = 2
_ID_RE = re.compile(r"[a-z2-7]{32}")


def new_id(table: str, random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A fresh id for a document of `table`."""
    body = _table_tag(table) + random_bytes(_RANDOM_LENGTH)
    return base64.b32encode(body + _checksum(body)).decode("ascii").lower()


def is_id(s: object) -> bool:
    """Whether `s` is a well-formed id (right length, alphabet and checksum)."""
    return _decode(s) is not None


def id_matches_table(s: object, table: str) -> bool:
    """Whether `s` is a well-formed id of a document of `table`."""
    raw = _decode(s)
    return raw is not None and raw[:_TAG_LENGTH] == _table_tag(table)


def _decode(s: object) -> bytes | None:
    if not isinstance(s, str) or _ID_RE.fullmatch(s) is None:
        return None
    try:
        raw = base64.b32decode(s.upper())
    except binascii.Error:
        return None
    body, check = raw[: _RAW_LENGTH - _CHECK_LENGTH], raw[_RAW_LENGTH - _CHECK_LENGTH :]
    return raw if _checksum(body) == check else None


@functools.lru_cache(maxsize=1024)
def _table_tag(table: str) -> bytes:
    return hashlib.blake2b(
        table.encode("utf-8"), digest_size=_TAG_LENGTH, person=b"lstable"
    ).digest()


def _checksum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=_CHECK_LENGTH, person=b"lscheck").digest()

"""Every exception ``protocol/`` raises.

    ProtocolError                   base: something broke the Convex sync protocol
    ├── RemoteProtocolError         the peer sent something illegal (bad JSON,
    │                               unknown type, missing/ill-typed field,
    │                               wrong baseVersion, out-of-phase message)
    ├── LocalProtocolError          our own code tried something illegal
    │                               (e.g. a Transition going back in ts)
    ├── ValueDecodeError            a Convex-encoded JSON value is malformed
    └── ValueEncodeError            a Python value has no Convex encoding

Messages name the message type and field at fault, so a log line alone says
what went wrong. They never include tokens.
"""

from __future__ import annotations

__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "ValueDecodeError",
    "ValueEncodeError",
    "format_value_path",
]


class ProtocolError(Exception):
    """Base of every protocol-level failure."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class LocalProtocolError(ProtocolError):
    """Our own code asked for something the protocol does not allow."""


class _ValueCodecError(ProtocolError):
    """Shared shape of the value codec errors: a reason plus where it happened.

    ``path`` lists the object keys and array indexes from the outermost value
    inward; the codec fills it in while unwinding so the happy path pays nothing.
    """

    def __init__(self, reason: str, path: tuple[str | int, ...] = ()) -> None:
        self.reason = reason
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if not self.path:
            return self.reason
        return f"at {format_value_path(self.path)}: {self.reason}"


class ValueDecodeError(_ValueCodecError):
    """A Convex-encoded JSON value could not be decoded."""


class ValueEncodeError(_ValueCodecError):
    """A Python value cannot be represented as a Convex value."""


def format_value_path(path: tuple[str | int, ...]) -> str:
    """Render a value path like ``value.messages[2].body``."""
    parts = ["value"]
    for step in path:
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return "".join(parts)

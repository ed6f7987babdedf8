"""Client frames of the Convex sync protocol, built by hand for the load clients.

The load clients speak raw frames rather than using our client library so the
cost on the client side is a `json.loads` per frame and nothing more.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

__all__ = [
    "authenticate",
    "connect",
    "dumps",
    "mutation",
    "subscribe",
    "transition_like",
]


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def connect() -> str:
    return dumps(
        {
            "type": "Connect",
            "sessionId": str(uuid.uuid4()),
            "connectionCount": 0,
            "lastCloseReason": "InitialConnect",
            "clientTs": 0,
        }
    )


def authenticate(token: str, base_version: int) -> str:
    return dumps(
        {"type": "Authenticate", "baseVersion": base_version, "tokenType": "User", "value": token}
    )


def subscribe(udf_path: str, args: dict[str, Any], query_id: int = 0) -> str:
    """A ModifyQuerySet taking the query set from version `query_id` to `query_id + 1`."""
    add = {"type": "Add", "queryId": query_id, "udfPath": udf_path, "args": [args]}
    return dumps(
        {
            "type": "ModifyQuerySet",
            "baseVersion": query_id,
            "newVersion": query_id + 1,
            "modifications": [add],
        }
    )


def mutation(request_id: int, udf_path: str, args: dict[str, Any]) -> str:
    return dumps({"type": "Mutation", "requestId": request_id, "udfPath": udf_path, "args": [args]})


def transition_like(size: int) -> str:
    """A Transition-shaped frame of exactly `size` bytes (padded in its value),
    for the bare baseline to broadcast: its clients then parse the same shape
    livesync's do."""
    version = {"querySet": 1, "identity": 1, "ts": "AAAAAAAAAAA="}
    update = {"type": "QueryUpdated", "queryId": 0, "value": "", "logLines": [], "journal": None}
    frame = {
        "type": "Transition",
        "startVersion": version,
        "endVersion": version,
        "modifications": [update],
        "serverTs": 0,
    }
    update["value"] = "x" * max(0, size - len(dumps(frame)))
    return dumps(frame)

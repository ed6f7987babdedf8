"""`Outcome`: one function run's result, encoded once for every consumer.

The runner encodes a result the moment it checks it (its size limit needs
the JSON text anyway) and every consumer takes that text: the subscribers of
a query, the MutationResponse, the HTTP reply, the dedup record. Nothing
downstream encodes the value again or changes the result's shape; the sync
layer only pairs a mutation's outcome with its commit ts.

"No error data" has one spelling, `error_data_json is None`: an `AppError`
whose data is `None` carries the JSON text `null`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from protocol.values import RawJSON, Value, decode
from server.functions.readset import ReadSet

__all__ = ["SERVER_ERROR", "Outcome", "failure"]

SERVER_ERROR = "Server Error"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one execution, success or failure."""

    value: Any  # the Python value, for a nested call from an action
    value_json: RawJSON | None  # its wire text; None when the run failed
    error_message: str | None = None
    error_data_json: RawJSON | None = None  # an AppError's data, as wire JSON
    log_lines: tuple[str, ...] = ()
    read_set: ReadSet = field(default_factory=ReadSet)
    used_auth: bool = False
    journal: str | None = None  # a query's journal (its pinned page end), for the next run

    @property
    def ok(self) -> bool:
        return self.error_message is None

    def error_data(self) -> Value:
        """The AppError's data, decoded; only when `error_data_json` is set."""
        assert self.error_data_json is not None
        return decode(json.loads(self.error_data_json.text))


def failure(
    message: str,
    *,
    data_json: RawJSON | None = None,
    log_lines: tuple[str, ...] = (),
    read_set: ReadSet | None = None,
    used_auth: bool = False,
) -> Outcome:
    """A failed run: `message` is what the client sees."""
    return Outcome(
        None,
        None,
        message,
        data_json,
        log_lines,
        read_set if read_set is not None else ReadSet(),
        used_auth,
    )

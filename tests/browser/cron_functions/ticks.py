"""What the cron job runs: a mutation that writes nothing, so the app's
tables stay as the dashboard test expects them."""

from __future__ import annotations

from typing import Any

from server import internal_mutation


@internal_mutation()
async def tick(ctx: Any) -> None:
    return None

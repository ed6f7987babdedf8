"""`livesync dev` reloads the app when a file of its functions folder changes.

The folder is watched with watchfiles (what uvicorn's own `--reload` uses),
which groups the events of one save. Each time, the whole app is loaded
afresh beside the one serving (new module objects, compiled from the files
as they are now), so a module that fails to import leaves the old code
serving; otherwise `LivesyncApp.use_functions` swaps it in, and every
subscribed query re-runs with the new code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import watchfiles

from server.errors import LivesyncError
from server.functions.registry import FunctionRegistry

if TYPE_CHECKING:
    from server.app import LivesyncApp

__all__ = ["FunctionReloader"]

log = logging.getLogger("livesync.reload")


class FunctionReloader:
    """Watches `folder` and reloads `app`'s functions on every change until
    `close`. `reloaded` and `failed` get one line each per attempt."""

    def __init__(
        self,
        app: LivesyncApp,
        folder: Path,
        *,
        reloaded: Callable[[str], None],
        failed: Callable[[str], None],
    ) -> None:
        self._app = app
        self._folder = folder
        self._reloaded = reloaded
        self._failed = failed
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self) -> None:
        changes = watchfiles.awatch(
            self._folder, watch_filter=watchfiles.PythonFilter(), stop_event=self._stop
        )
        async for batch in changes:
            log.debug("functions changed: %s", sorted(path for _, path in batch))
            try:
                await self.reload()
            except Exception:
                # A failure of ours, not the app's: keep watching.
                log.exception("reloading the functions failed")

    async def reload(self) -> bool:
        """Load the folder again and serve it if it loads; whether it did."""
        try:
            registry = FunctionRegistry.load(self._folder)
        except LivesyncError as exc:
            self._failed(f"{exc} (the previous code still serves)")
            return False
        count = len(registry.paths())  # the app's own, before the built-ins join them
        try:
            await self._app.use_functions(registry)
        except LivesyncError as exc:
            registry.unload()
            self._failed(f"{self._folder / 'schema.py'}: {exc} (the previous code still serves)")
            return False
        self._reloaded(f"reloaded {count} functions")
        return True

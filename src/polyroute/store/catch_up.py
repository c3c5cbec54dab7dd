"""Start-up with or without the database, and catching up when it returns.

A process that starts while its database is unreachable used to fail (exit 3 while updating the
schema) or refuse every virtual key. Now, when the database does not answer within
`connect_timeout_s` at start-up:

  * the process starts and serves the keys of its last-known-good snapshot (auth/key_snapshot.py)
    with their budgets and limits; keys it never saw get a 503, as during any outage;
  * spend rows go to the on-disk spool (the writer is held: the schema may be behind);
  * every `retry_s` the database is tried; once it answers, the schema is migrated, the writer
    resumes and replays the spool, and the key cache reads the database again.

`degraded` says so (the readiness answer and the polyroute_started_without_database gauge).
"""

from __future__ import annotations

import asyncio
import logging
import time

from polyroute.auth.key_cache import KeyCache
from polyroute.auth.key_snapshot import KeySnapshot
from polyroute.spend.writer import SpendWriter
from polyroute.store.database import Database

log = logging.getLogger("polyroute.store")


class DatabaseCatchUp:
    def __init__(
        self,
        db: Database,
        writer: SpendWriter,
        cache: KeyCache,
        snapshot: KeySnapshot,
        *,
        connect_timeout_s: float = 10.0,
        retry_s: float = 2.0,
    ) -> None:
        self.db = db
        self.writer = writer
        self.cache = cache
        self.snapshot = snapshot
        self.connect_timeout_s = connect_timeout_s
        self.retry_s = retry_s
        self.degraded_since: float | None = None  # epoch seconds, while started without the database
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def degraded(self) -> bool:
        return self.degraded_since is not None

    async def start(self) -> None:
        """Loads the snapshot, then migrates, or (database unreachable) starts degraded."""
        self.cache.fallback = await self.snapshot.load()
        if await self._reachable():
            await self.db.migrate()
        else:
            self.degraded_since = time.time()
            self.writer.hold()
            log.warning(
                "database %s unreachable at start-up: serving %d keys from the snapshot %s; the schema "
                "and spooled spend rows catch up when it answers",
                self.db.target,
                len(self.cache.fallback),
                self.snapshot.path,
            )
            self._tasks.append(asyncio.ensure_future(self._wait_for_database()))
        self._tasks.append(asyncio.ensure_future(self.snapshot.keep_saving(self.cache)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.snapshot.final_save(self.cache)

    async def _reachable(self) -> bool:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                return await self.db.ping()
        except TimeoutError:
            return False

    async def _wait_for_database(self) -> None:
        while True:
            await asyncio.sleep(self.retry_s)
            if not await self._reachable():
                continue
            try:
                await self.db.migrate()
            except Exception as exc:  # noqa: BLE001  # it went away again mid-way: try later
                reason = type(exc).__name__
                log.warning("database answered but the schema update failed (%s); retrying", reason)
                continue
            self.degraded_since = None
            self.writer.resume()
            log.info("database %s answers: schema up to date, spooled rows being written", self.db.target)
            return

"""Spend rows leave the request path through a bounded queue, written in batches.

`submit` never waits: it appends to an in-memory queue (bounded; a full queue drops the row and
counts it). A background task writes the queue every `flush_interval_s` seconds, or as soon as
`batch_size` rows wait. When a write fails, the database is taken as down: rows go to the
on-disk spool, and the database is tried again every `retry_s` seconds; once a write succeeds,
the spool is replayed. Every row is written exactly once (see SpendStore.write_batch).

`stats` holds the counters the metrics work exposes: queue depth, written, spooled, replayed,
dropped (queue full + spool full), write failures, and whether the database is reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from polyroute.spend.spool import Spool
from polyroute.store.spend_store import SpendStore

log = logging.getLogger("polyroute.spend")


@dataclass(slots=True)
class WriterStats:
    written: int = 0  # rows inserted (duplicates from a replay not counted)
    spooled: int = 0  # rows put on disk while the database was down
    replayed: int = 0  # spooled rows written once it returned
    dropped_queue_full: int = 0
    rejected: int = 0  # rows the database refused while it answered (dropped, counted, logged)
    write_failures: int = 0
    database_up: bool = True


class SpendWriter:
    def __init__(
        self,
        store: SpendStore,
        spool: Spool,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        retry_s: float = 2.0,
        write_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.spool = spool
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_s = retry_s
        self.write_timeout_s = write_timeout_s
        self.stats = WriterStats()
        self._clock = clock
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._retry_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one flush at a time (the loop, a test's flush(), stop())
        #: told the request ids whose rows are settled (in the database or the spool, or dropped
        #: and counted): the spend journal then lets their lines go (spend/journal.py)
        self.on_settled: Callable[[list[str]], None] | None = None

    # -- what the metrics work reads ----------------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def dropped(self) -> int:
        """Rows that could not be kept anywhere (queue full, spool full or unreadable, or refused
        by a database that answers)."""
        return self.stats.dropped_queue_full + self.stats.rejected + self.spool.dropped

    # -- request path ---------------------------------------------------------------------------------
    def submit(self, record: dict[str, Any]) -> None:
        if len(self._queue) >= self.queue_size:
            self.stats.dropped_queue_full += 1
            self._settled([record])
            if self.stats.dropped_queue_full in (1, 100) or self.stats.dropped_queue_full % 10_000 == 0:
                log.error("spend queue full (%d rows): %d rows dropped so far", self.queue_size, self.dropped)
            return
        self._queue.append(record)
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    def hold(self) -> None:
        """Rows go to the spool, none to the database, until `resume` (the schema may be behind
        until a process that started without its database has migrated it)."""
        self.stats.database_up = False
        self._retry_at = float("inf")

    def resume(self) -> None:
        self._retry_at = 0.0
        self._wake.set()

    def take_over(self, records: list[dict[str, Any]]) -> None:
        """Rows an earlier process journaled (spend/journal.py): queued past the bound, since
        dropping them would lose what the journal exists to keep. Written at the first flush."""
        self._queue.extend(records)
        if records:
            self._wake.set()

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if await self.spool.pending():
            log.info("spend spool has rows from an earlier run; they are written once the database answers")
        self._task = asyncio.ensure_future(self._run())

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Final flush; what the database cannot take now goes to the spool."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            async with asyncio.timeout(timeout_s):
                await self.flush()
        except TimeoutError:
            pass
        if self._queue:
            await self._spool_queue()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001  # the loop must outlive any one bad batch
                log.exception("spend writer: flush failed")

    # -- flushing -------------------------------------------------------------------------------------
    async def flush(self) -> None:
        """Writes (or spools) everything queued now, and replays the spool when the database is up."""
        async with self._lock:
            if not self.stats.database_up and self._clock() < self._retry_at:
                await self._spool_queue()
                return
            if await self.spool.pending():
                if not await self._replay():
                    await self._spool_queue()
                    return
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                if not await self._write(batch):
                    await self._spool(batch)
                    await self._spool_queue()
                    return

    async def _write(self, batch: list[dict[str, Any]]) -> bool:
        try:
            async with asyncio.timeout(self.write_timeout_s):
                inserted = await self.store.write_batch(batch)
        except Exception as exc:  # noqa: BLE001  # any failure: the rows go to the spool...
            if not isinstance(exc, TimeoutError) and await self._answers():
                # ...unless the database answers: then a row of this batch is at fault, and it
                # must not hold back the others, nor stop the writer on every replay.
                return await self._write_one_by_one(batch)
            self._mark_down(exc)
            return False
        self._written(inserted)
        self._settled(batch)
        return True

    async def _write_one_by_one(self, batch: list[dict[str, Any]]) -> bool:
        for record in batch:
            try:
                async with asyncio.timeout(self.write_timeout_s):
                    inserted = await self.store.write_batch([record])
            except Exception as exc:  # noqa: BLE001
                if isinstance(exc, TimeoutError) or not await self._answers():
                    self._mark_down(exc)
                    return False  # the batch is spooled; its rows written already are skipped on replay
                self.stats.rejected += 1
                self._settled([record])
                log.error(
                    "spend logs: the database refused the row of request %s (%s); it is dropped",
                    str(record.get("request_id"))[:64],
                    type(exc).__name__,
                )
                continue
            self._written(inserted)
            self._settled([record])
        return True

    async def _answers(self) -> bool:
        try:
            async with asyncio.timeout(self.write_timeout_s):
                return await self.store.db.ping()
        except TimeoutError:
            return False

    def _written(self, inserted: int) -> None:
        self.stats.written += inserted
        if not self.stats.database_up:
            self.stats.database_up = True
            log.info("spend logs: database %s answers again", self.store.db.target)

    async def _replay(self) -> bool:
        records = await self.spool.take()
        for start in range(0, len(records), self.batch_size):
            if not await self._write(records[start : start + self.batch_size]):
                return False
        await self.spool.done()
        if records:
            self.stats.replayed += len(records)
            log.info("spend logs: %d spooled rows replayed", len(records))
        return True

    async def _spool_queue(self) -> None:
        while self._queue:
            await self._spool([self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))])

    async def _spool(self, batch: list[dict[str, Any]]) -> None:
        self.stats.spooled += await self.spool.append(batch)
        self._settled(batch)

    def _settled(self, records: list[dict[str, Any]]) -> None:
        if self.on_settled is not None:
            self.on_settled([str(r.get("request_id")) for r in records])

    def _mark_down(self, exc: BaseException) -> None:
        self.stats.write_failures += 1
        self._retry_at = self._clock() + self.retry_s
        if self.stats.database_up:
            self.stats.database_up = False
            log.warning(
                "spend logs: database %s unreachable (%s); spooling rows to %s until it returns",
                self.store.db.target,
                type(exc).__name__,
                self.spool.path,
            )

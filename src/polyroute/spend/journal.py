"""An append-only local journal of spend rows: what a killed process had not yet handed over.

Spend rows wait in memory for the batched writer (spend/writer.py) for up to a second; a
`kill -9` or the OOM killer used to lose them (474 of 1,011 rows on PostgreSQL). So each model
request's row is journaled before its response's last byte is sent (server/http.py awaits
`append`), and streams journal their progress every `progress_interval_s` while they run:

  * one dedicated thread writes the journal (nothing blocks the event loop); lines reach the
    kernel with write() before `append` returns, so a process kill loses at most the requests
    whose responses had not completed; fsync runs every `fsync_interval_s` (batched), so a
    machine crash or power loss can lose that much more (docs/keys_and_spend.md);
  * the journal is cut into segments; a segment is deleted once every request it names has its
    row in the database or the spool (the writer reports them through `durable`);
  * at start-up the segments left by the last process are read, the last line per request wins
    (a stream's final row supersedes its progress rows), and those rows go to the writer: the
    database inserts each request id once, so a replay repeated after another crash adds
    nothing twice.

Each process journals into a directory of its own under `folder` (`--workers N` share a data
dir), holding an exclusive lock on its `lock` file while it runs. A directory whose lock can be
taken belongs to a process that has ended: the first process to take it replays it, and removes
it once its rows are settled; a live process's directory is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("polyroute.spend")

_SEGMENT_PREFIX = "spend-journal."
APPEND_TIMEOUT_S = 2.0
_STOP = object()


class SpendJournal:
    def __init__(
        self,
        folder: Path,
        *,
        fsync_interval_s: float = 0.05,
        segment_max_bytes: int = 8 * 1024 * 1024,
        progress_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.own = folder / f"p{os.getpid()}-{uuid.uuid4().hex[:8]}"  # this process's segments
        self._locks: dict[Path, int] = {}  # directory -> the fd holding its lock
        self.fsync_interval_s = fsync_interval_s
        self.segment_max_bytes = segment_max_bytes
        self.progress_interval_s = progress_interval_s
        self._clock = clock
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch: _Batch | None = None  # rows appended in this turn of the loop, not yet handed over
        # Thread-owned state: the open segment, and per segment the request ids not yet durable.
        self._fd = -1
        self._segment: Path | None = None
        self._size = 0
        self._next = 0
        self._pending: dict[Path, set[str]] = {}
        self._synced_at = 0.0
        self._dirty = False
        #: lines written, lines that could not be written, and appends not confirmed in time
        self.written = 0
        self.failed = 0
        self.late = 0
        self.replayed = 0  # rows of ended processes handed to the writer at start-up

    # -- start-up ------------------------------------------------------------------------------------
    async def start(self) -> list[dict[str, Any]]:
        """Opens a fresh segment and starts the writer thread; returns the rows the segments of an
        earlier process hold (the last line per request), for the caller to hand to the writer."""
        self._loop = asyncio.get_running_loop()
        rows = await asyncio.to_thread(self._recover)
        self._thread = threading.Thread(target=self._run, name="spend-journal", daemon=True)
        self._thread.start()
        self.replayed = len(rows)
        if rows:
            log.warning("spend journal: %d rows from an earlier run are written again (once each)", len(rows))
        return rows

    def _recover(self) -> list[dict[str, Any]]:
        self.own.mkdir(parents=True, exist_ok=True)
        self._lock(self.own)
        orphans = [d for d in sorted(self.folder.iterdir()) if d.is_dir() and d != self.own and self._lock(d)]
        latest: dict[str, dict[str, Any]] = {}
        for segment in [s for directory in orphans for s in _segments(directory)]:
            ids = self._pending.setdefault(segment, set())
            for line in segment.read_bytes().splitlines():
                try:
                    record = orjson.loads(line)
                    request_id = str(record["request_id"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue  # a torn last line: that response never completed
                record.pop("progress", None)
                latest.pop(request_id, None)  # re-inserted: the order of last appearance
                latest[request_id] = record
                ids.add(request_id)
            if not ids:
                self._drop_segment(segment)
        for directory in orphans:
            self._remove_if_empty(directory)
        self._open_segment()
        return list(latest.values())

    def _lock(self, directory: Path) -> bool:
        """Takes `directory`'s lock (held until this process ends); False while another holds it."""
        try:
            fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._locks[directory] = fd
        return True

    def _drop_segment(self, segment: Path) -> None:
        segment.unlink(missing_ok=True)
        del self._pending[segment]
        if segment.parent != self.own:
            self._remove_if_empty(segment.parent)

    def _remove_if_empty(self, directory: Path) -> None:
        """An ended process's directory, once none of its segments is left."""
        if any(segment.parent == directory for segment in self._pending):
            return
        with contextlib.suppress(OSError):
            (directory / "lock").unlink()
            directory.rmdir()
        fd = self._locks.pop(directory, None)
        if fd is not None:
            os.close(fd)

    # -- the request path ------------------------------------------------------------------------------
    async def append(self, record: dict[str, Any]) -> None:
        """Returns once the row has reached the kernel (not the disk: see fsync_interval_s).

        The rows appended during one turn of the event loop go to the thread as one batch, with
        one timer bounding the wait for all of them: a queue hand-over, a thread wake-up and a
        timeout per request were a measurable share of the request path (bench/README.md)."""
        if self._thread is None or self._loop is None:
            return
        done = self._loop.create_future()
        self._add(record).waiting.append(done)
        if await done is _LATE:
            # Bounded: a journal that cannot keep up must never hold answers back for long.
            self.late += 1
            if self.late in (1, 100) or self.late % 10_000 == 0:
                log.error("spend journal: %d rows not confirmed within %gs", self.late, APPEND_TIMEOUT_S)

    def append_unawaited(self, record: dict[str, Any]) -> None:
        """A row its answer need not wait for (a cache hit's, which bills nothing): written with
        this turn's other rows, within milliseconds, but without the suspension and wake-up an
        awaited append costs the request (a tenth of a cache hit's instructions). A kill in those
        milliseconds can lose it (docs/keys_and_spend.md)."""
        if self._thread is not None and self._loop is not None:
            self._add(record)

    def _add(self, record: dict[str, Any]) -> _Batch:
        batch = self._batch
        if batch is None:
            self._batch = batch = _Batch()
            self._loop.call_soon(self._hand_over)  # type: ignore[union-attr]
        batch.lines.append(orjson.dumps(record) + b"\n")
        batch.ids.append(str(record["request_id"]))
        return batch

    def _hand_over(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None or self._loop is None:
            return
        if batch.waiting:
            batch.timer = self._loop.call_later(APPEND_TIMEOUT_S, _expire, batch)
        self._queue.put(("rows", None, batch))

    def note_progress(self, record: dict[str, Any]) -> None:
        """A running stream's row so far; not awaited (a later line for the request supersedes it)."""
        if self._thread is not None:
            line = orjson.dumps({**record, "progress": True}) + b"\n"
            self._queue.put((line, str(record["request_id"]), None))

    def durable(self, request_ids: list[str]) -> None:
        """The writer has these requests' rows in the database or the spool."""
        if self._thread is not None and request_ids:
            self._queue.put(("durable", request_ids, None))

    async def stop(self) -> None:
        if self._thread is not None:
            self._hand_over()  # rows appended in this turn go before the end
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join, 10)
            self._thread = None

    # -- the writer thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                timeout = self.fsync_interval_s if self._dirty else None
                items = [self._queue.get(timeout=timeout)]
            except queue.Empty:
                self._sync()
                continue
            while len(items) < 4096:  # everything queued meanwhile goes in one write()
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in items)
            try:
                self._handle([item for item in items if item is not _STOP])
            except Exception as exc:  # noqa: BLE001  # the thread must outlive any one batch
                log.exception("spend journal: a batch failed")
                waiting = [item[2] for item in items if item is not _STOP and item[2] is not None]
                if waiting and self._loop is not None:
                    self._loop.call_soon_threadsafe(_settle, waiting, OSError(str(exc)))
            if stop:
                self._close()
                return
            if self._clock() - self._synced_at >= self.fsync_interval_s:
                self._sync()

    def _handle(self, items: list[Any]) -> None:
        lines, waiting, finished = [], [], []
        for kind_or_line, ids, done in items:
            if kind_or_line == "durable":
                finished.extend(ids)
                continue
            if kind_or_line == "rows":  # a batch of appends (`done` is the _Batch)
                lines.extend(done.lines)
                self._pending[self._segment].update(done.ids)  # type: ignore[index]
                if done.waiting:  # (read on this thread: the loop's list is complete once handed over)
                    waiting.append(done)
                continue
            lines.append(kind_or_line)  # a stream's progress row, not awaited
            self._pending[self._segment].add(ids)  # type: ignore[index]
        error: OSError | None = None
        if lines:
            error = self._write(b"".join(lines), len(lines))
        if waiting and self._loop is not None:
            self._loop.call_soon_threadsafe(_settle, waiting, error)
        if finished:
            self._forget(finished)
        if self._size >= self.segment_max_bytes:
            self._sync()
            os.close(self._fd)
            self._open_segment()

    def _write(self, data: bytes, count: int) -> OSError | None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.failed += count
            log.error("spend journal: cannot write %s (%s); %d rows not journaled", self._segment, exc, count)
            return exc
        self.written += count
        self._size += len(data)
        self._dirty = True
        return None

    def _forget(self, request_ids: list[str]) -> None:
        for segment, ids in list(self._pending.items()):
            ids.difference_update(request_ids)
            if ids:
                continue
            if segment == self._segment:
                if self._size:  # every row it holds is durable: start it over
                    os.ftruncate(self._fd, 0)
                    self._size = 0
            else:
                self._drop_segment(segment)

    def _close(self) -> None:
        """At shutdown: everything settled leaves no trace; anything else waits for the next start."""
        self._sync()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        if not any(ids for segment, ids in self._pending.items() if segment.parent == self.own):
            for segment in [s for s in self._pending if s.parent == self.own]:
                self._drop_segment(segment)
            self._remove_if_empty(self.own)
        for fd in self._locks.values():  # what is left is the next process's to replay
            os.close(fd)
        self._locks.clear()

    def _sync(self) -> None:
        if self._dirty:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            self._dirty = False
        self._synced_at = self._clock()

    def _open_segment(self) -> None:
        self._segment = self.own / f"{_SEGMENT_PREFIX}{self._next:08d}.jsonl"
        self._next += 1
        self._fd = os.open(self._segment, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        self._pending[self._segment] = set()


def _segments(directory: Path) -> list[Path]:
    found = []
    for path in directory.glob(_SEGMENT_PREFIX + "*.jsonl"):
        number = path.name[len(_SEGMENT_PREFIX) : -len(".jsonl")]
        if number.isdigit():
            found.append((int(number), path))
    return [path for _, path in sorted(found)]


class _Batch:
    """The rows appended in one turn of the event loop, their waiting callers and their timer."""

    __slots__ = ("lines", "ids", "waiting", "timer")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.ids: list[str] = []
        self.waiting: list[asyncio.Future[Any]] = []
        self.timer: asyncio.TimerHandle | None = None


_LATE = object()  # an append's result when the thread did not confirm it in time


def _expire(batch: _Batch) -> None:
    for done in batch.waiting:
        if not done.done():
            done.set_result(_LATE)


def _settle(batches: list[_Batch], error: OSError | None) -> None:
    for batch in batches:
        if batch.timer is not None:
            batch.timer.cancel()
        for done in batch.waiting:
            if done.done():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

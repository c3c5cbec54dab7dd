"""A bounded on-disk spool (JSON lines) for spend rows the database could not take.

Rows are appended while the database is down and read back when it returns. Replaying renames
the spool first, so rows spooled during a replay land in a fresh file; a replay that fails
part-way is simply done again later (the insert is idempotent by request id). What does not fit
under `max_bytes` is counted as dropped, never lost silently. All file work runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("polyroute.spend")


class Spool:
    def __init__(self, path: Path, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.path = path
        self.replay_path = path.with_name(path.name + ".replay")
        self.max_bytes = max_bytes
        self.dropped = 0
        self._lock = asyncio.Lock()

    def size(self) -> int:
        total = 0
        for file in (self.path, self.replay_path):
            with contextlib.suppress(OSError):
                total += file.stat().st_size
        return total

    async def pending(self) -> bool:
        return await asyncio.to_thread(self.size) > 0

    async def append(self, records: list[dict[str, Any]]) -> int:
        """Writes what fits; returns how many rows were kept (the rest are counted as dropped)."""
        if not records:
            return 0
        async with self._lock:
            kept = await asyncio.to_thread(self._append, records)
        if kept < len(records):
            self.dropped += len(records) - kept
            log.error(
                "spend spool full (%d bytes at %s): %d spend rows dropped",
                self.max_bytes,
                self.path,
                len(records) - kept,
            )
        return kept

    def _append(self, records: list[dict[str, Any]]) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        room = self.max_bytes - self.size()
        lines = []
        for record in records:
            line = orjson.dumps(record) + b"\n"
            if len(line) > room:
                break
            room -= len(line)
            lines.append(line)
        if lines:
            with open(self.path, "ab") as handle:
                handle.write(b"".join(lines))
                handle.flush()
        return len(lines)

    async def take(self) -> list[dict[str, Any]]:
        """Every spooled row (the replay file first). Call `done()` once they are written."""
        async with self._lock:
            return await asyncio.to_thread(self._take)

    def _take(self) -> list[dict[str, Any]]:
        if not self.replay_path.exists() and self.path.exists():
            self.path.rename(self.replay_path)
        records = []
        with contextlib.suppress(FileNotFoundError):
            for line in self.replay_path.read_bytes().splitlines():
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    self.dropped += 1  # a torn last line from a crash mid-write
        return records

    async def done(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self.replay_path.unlink, True)

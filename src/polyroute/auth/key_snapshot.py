"""A last-known-good copy of the virtual keys this process has served, on local disk.

A gateway that restarts while its database is unreachable used to refuse every virtual key
(503), or not start at all. With this snapshot it starts, serves the keys it knew (their
budgets, limits, expiry and blocks as the database last said), and catches up when the database
returns (schema migration, spooled spend rows: server/state.py).

What the file holds is what the database's key table holds: each key's hash (never the key),
alias, team, user, limits, budgets and the spend the database knew when the key was last looked
up. It is written off the event loop, every `interval_s` when something changed and at shutdown,
atomically (a temporary file renamed over the old one), mode 0600.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Protocol

import orjson

from polyroute.auth.keys import KeyRecord

log = logging.getLogger("polyroute.auth")


class KeySnapshot:
    def __init__(self, path: Path, interval_s: float = 10.0) -> None:
        self.path = path
        self.interval_s = interval_s
        #: when the records now in use were written (epoch seconds), None when there were none
        self.written_at: float | None = None

    async def load(self) -> dict[str, KeyRecord]:
        return await asyncio.to_thread(self._load)

    def _load(self) -> dict[str, KeyRecord]:
        try:
            raw = orjson.loads(self.path.read_bytes())
            records = {r["token"]: KeyRecord.from_bytes(orjson.dumps(r)) for r in raw["keys"]}
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("key snapshot %s unreadable (%s); starting without it", self.path, type(exc).__name__)
            return {}
        self.written_at = float(raw.get("written_at") or 0.0)
        return records

    async def save(self, records: list[KeyRecord]) -> None:
        """Writes `records` (frozen: safe to serialise in a thread) in place of the old file."""
        await asyncio.to_thread(self._save, records)

    def _save(self, records: list[KeyRecord]) -> None:
        written_at = time.time()
        body = b'{"written_at":' + orjson.dumps(written_at) + b',"keys":['
        body += b",".join(record.to_bytes() for record in records) + b"]}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")  # --workers N share the dir
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        self.written_at = written_at

    async def keep_saving(self, records: KeySource) -> None:
        """Saves every `interval_s` while the set of keys changed; runs until cancelled."""
        saved_version = records.version
        while True:
            await asyncio.sleep(self.interval_s)
            if records.version == saved_version:
                continue
            saved_version = records.version
            try:
                await self.save(records.snapshot_records())
            except OSError as exc:
                log.error("key snapshot: cannot write %s (%s)", self.path, exc)

    async def final_save(self, records: KeySource) -> None:
        with contextlib.suppress(OSError):
            await self.save(records.snapshot_records())


class KeySource(Protocol):
    """What the snapshot reads (the key cache): a change counter and the records to keep."""

    version: int

    def snapshot_records(self) -> list[KeyRecord]: ...

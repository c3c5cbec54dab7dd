"""The worker registry in a folder, for `polyroute serve --workers N` without Redis.

Without Redis every process keeps its own counters (limits are split N ways, see
docs/routing.md), but a worker registry cannot be split: a model worker registers through
whichever process accepts its connection, and its heartbeats and the requests for its model
reach the others. So the processes of one `polyroute serve` share the registry through a
folder the parent makes for the run: one JSON file per worker, replaced atomically (a reader
never sees half a file), read-modify-write under an exclusive `flock` so a heartbeat and a
registration of the same worker cannot interleave.

The registry is off the request path (registrations, heartbeats every 45 s, and the
directory's refresh every second), and every file call runs in a thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import orjson

from polyroute.state.base import WorkerRecord
from polyroute.state.memory import MemoryState, check_ttl

ENV_VAR = "POLYROUTE_WORKER_REGISTRY_DIR"
_SUFFIX = ".worker.json"


def _to_bytes(record: WorkerRecord) -> bytes:
    return orjson.dumps(dataclasses.asdict(record))


def _from_bytes(data: bytes) -> WorkerRecord | None:
    try:
        fields = orjson.loads(data)
        fields["model_names"] = tuple(fields["model_names"])
        return WorkerRecord(**fields)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None  # a file of another version, or damaged: treated as no registration


class WorkerRegistryFolder:
    """Synchronous registry operations on one folder; each is atomic across processes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock_path = folder / ".lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _path(self, address: str) -> Path:
        # Addresses are client-chosen text: a digest makes a safe, fixed-length file name.
        return self.folder / (hashlib.sha256(address.encode()).hexdigest()[:40] + _SUFFIX)

    def _read(self, path: Path) -> WorkerRecord | None:
        try:
            return _from_bytes(path.read_bytes())
        except FileNotFoundError:
            return None

    def _write(self, record: WorkerRecord) -> None:
        path = self._path(record.address)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(_to_bytes(record))
        os.replace(temporary, path)

    def _live(self, address: str, now: float) -> WorkerRecord | None:
        path = self._path(address)
        record = self._read(path)
        if record is None or record.address != address:
            return None  # not registered (or, by a digest collision, another worker's file)
        if record.expires_at <= now:
            path.unlink(missing_ok=True)
            return None
        return record

    def register(self, record: WorkerRecord, ttl_s: float, now: float) -> WorkerRecord:
        stored = dataclasses.replace(record, heartbeat_at=now, expires_at=now + ttl_s)
        with self._locked():
            self._write(stored)
        return stored

    def refresh(self, address: str, queue_length: int, ttl_s: float, now: float) -> WorkerRecord | None:
        with self._locked():
            current = self._live(address, now)
            if current is None:
                return None
            stored = dataclasses.replace(
                current, queue_length=queue_length, heartbeat_at=now, expires_at=now + ttl_s
            )
            self._write(stored)
            return stored

    def list(self, now: float) -> list[WorkerRecord]:
        alive: dict[str, WorkerRecord] = {}
        with self._locked():
            for path in self.folder.glob("*" + _SUFFIX):
                record = self._read(path)
                if record is None or record.expires_at <= now:
                    path.unlink(missing_ok=True)
                    continue
                alive[record.address] = record
        return [alive[address] for address in sorted(alive)]

    def get(self, address: str, now: float) -> WorkerRecord | None:
        with self._locked():
            return self._live(address, now)

    def remove(self, address: str) -> bool:
        with self._locked():
            path = self._path(address)
            record = self._read(path)
            path.unlink(missing_ok=True)
            return record is not None and record.address == address


class FolderRegistryState(MemoryState):
    """MemoryState (limits, cooldowns and latencies per process) whose worker registry is shared
    with the other processes of the same run through a folder."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.registry = WorkerRegistryFolder(folder)

    async def register_worker(self, record: WorkerRecord, ttl_s: float, now: float) -> WorkerRecord:
        check_ttl(ttl_s)
        return await asyncio.to_thread(self.registry.register, record, ttl_s, now)

    async def refresh_worker(
        self, address: str, queue_length: int, ttl_s: float, now: float
    ) -> WorkerRecord | None:
        check_ttl(ttl_s)
        return await asyncio.to_thread(self.registry.refresh, address, queue_length, ttl_s, now)

    async def list_workers(self, now: float) -> list[WorkerRecord]:
        return await asyncio.to_thread(self.registry.list, now)

    async def get_worker(self, address: str, now: float) -> WorkerRecord | None:
        return await asyncio.to_thread(self.registry.get, address, now)

    async def remove_worker(self, address: str) -> bool:
        return await asyncio.to_thread(self.registry.remove, address)

"""Append-only JSONL files that survive a kill, and whole files replaced atomically.

An eval run writes every answer and verdict the moment it has it, as one line appended with a
single write() on a file opened O_APPEND, then fsync. A kill (or Ctrl-C) can therefore leave at
most a last line without its newline: reading drops it and trims the file back to the last
whole line, so the next run appends after clean data and asks again for that one item only.
Summaries, reports and charts are written to a temporary file and renamed over the old one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


class Journal:
    """One JSONL file, read once at start, appended to line by line (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> list[dict[str, Any]]:
        """The whole records in the file; a torn last line is cut off the file."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        whole = raw[: raw.rfind(b"\n") + 1]
        if len(whole) != len(raw):
            with open(self.path, "r+b") as handle:
                handle.truncate(len(whole))
        records = []
        for line in whole.splitlines():
            if line.strip():
                records.append(orjson.loads(line))
        return records

    def append(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, line)
                if written != len(line):  # a short write to a regular file: the disk is full
                    raise OSError(f"{self.path}: short write ({written} of {len(line)} bytes)")
                os.fsync(fd)
            finally:
                os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replaces `path` with `data` in one rename: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` for a library that writes files itself (matplotlib),
    renamed over `path` when the block ends without an error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise

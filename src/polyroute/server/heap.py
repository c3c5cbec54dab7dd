"""The C heap of a serving process (glibc's malloc), kept small: bench/results/memory.md.

Two settings, both measured on the full profile:
- at most two malloc arenas: glibc gives threads arenas of their own (up to 8 per core), and each
  keeps the high-water mark of what its thread once held; the spend writer's SQLite threads, the
  log writer and `asyncio.to_thread`'s pool each grew one under load. Two arenas: RSS after 30 s
  of wrk about 3 MB lower (the CPU cost was not measured apart from the noise of a shared
  machine; the threads allocate little). An operator's MALLOC_ARENA_MAX wins.
- the free heap handed back after start-up (`malloc_trim`): config validation, the schema check
  and imports free more than they keep, and glibc returns only the top of the heap by itself.

Elsewhere than glibc (musl, macOS) both are left alone.
"""

from __future__ import annotations

import os
import sys
from typing import Any

MAX_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def _libc() -> Any:
    """The C library's symbols, where they can be looked up (Linux; on Windows `CDLL(None)` fails)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at import: only the serving process needs it

    return ctypes.CDLL(None)


def limit_arenas() -> None:
    """Call before the process starts its threads (arenas are given out on a thread's first
    allocations)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, MAX_ARENAS)


def release_free_heap() -> None:
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)

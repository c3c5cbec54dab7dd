"""Metrics across `--workers N` processes: each writes its snapshot to a shared folder, and a
scrape answered by any one of them sums all (prometheus-client's multiprocess mode does the same
with mmap files, but only for its own metric objects, which the hot path avoids).

`polyroute serve --workers N` makes a fresh folder per run and names it in
POLYROUTE_METRICS_DIR. A process rewrites its file every PUBLISH_INTERVAL_S (off the request
path, in a thread), so other processes' figures are at most that old in a scrape; the answering
process's own figures are current. Files of processes that exited stay and keep counting, as a
Prometheus counter must not go backwards while the server runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from polyroute.observability.metrics import merge_snapshots

if TYPE_CHECKING:
    from polyroute.observability.scrape import ScrapedState

ENV_VAR = "POLYROUTE_METRICS_DIR"
PUBLISH_INTERVAL_S = 1.0
log = logging.getLogger("polyroute.metrics")


def metrics_dir(env: dict[str, str] | None = None) -> Path | None:
    value = (env if env is not None else os.environ).get(ENV_VAR)
    return Path(value) if value else None


def _own_file(folder: Path) -> Path:
    return folder / f"{os.getpid()}.json"


def _write(folder: Path, snapshot: dict[str, Any]) -> None:
    target = _own_file(folder)
    temporary = target.with_suffix(".tmp")
    temporary.write_bytes(orjson.dumps(snapshot))
    os.replace(temporary, target)  # readers never see half a file


def _read_others(folder: Path) -> list[dict[str, Any]]:
    own = _own_file(folder).name
    out = []
    for file in folder.glob("*.json"):
        if file.name == own:
            continue
        try:
            out.append(orjson.loads(file.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            log.warning("metrics file %s unreadable; skipped in this scrape", file.name)
    return out


async def publish_forever(state: ScrapedState, folder: Path, interval_s: float = PUBLISH_INTERVAL_S) -> None:
    from polyroute.observability.scrape import local_snapshot

    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    while True:
        try:
            snapshot = await local_snapshot(state)
            await asyncio.to_thread(_write, folder, snapshot)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("publishing this process's metrics failed")
        await asyncio.sleep(interval_s)


async def final_publish(state: ScrapedState, folder: Path) -> None:
    """At shutdown: the last figures, so the totals keep them."""
    from polyroute.observability.scrape import local_snapshot

    with contextlib.suppress(Exception):
        _write(folder, await local_snapshot(state))


async def fleet_snapshot(state: ScrapedState) -> dict[str, Any]:
    """This process's live snapshot merged with the other processes' latest files."""
    from polyroute.observability.scrape import local_snapshot

    own = await local_snapshot(state)  # on the loop: it copies what the loop mutates
    folder = metrics_dir(state.config.env)
    return await asyncio.to_thread(_merge_with_others, own, folder)


def _merge_with_others(own: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    others = _read_others(folder) if folder is not None and folder.is_dir() else []
    return merge_snapshots([own, *others])

"""An external leaderboard shown beside ours (FastChat's `COPILOT_ARENA_LEADERBOARD_URL`).

Fetched in the background, never on a request's path: a page reads `snapshot()`, which returns
at once with the last good copy (or the reason there is none). Each fetch has a total timeout and
a size bound (a larger answer is refused, not read whole); the answer must be JSON. A failed
refresh keeps the last good copy and records the failure. The snapshot is labelled external and
carries the URL without credentials or query, so a token in the URL never reaches a page.

The UI's app lifespan calls:

    external = ExternalLeaderboard.from_settings(settings)   # None when the variable is unset
    await external.start()      # first fetch starts in the background
    external.snapshot()         # -> ExternalSnapshot (render its data escaped: it is untrusted)
    await external.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

from polyroute.arena.settings import ArenaSettings

log = logging.getLogger("polyroute.arena.external")
LABEL = "external"


@dataclass(frozen=True)
class ExternalSnapshot:
    label: str
    source: str  # the URL without credentials or query string
    data: Any | None  # the parsed JSON of the last good fetch
    fetched_at: float | None
    error: str | None  # why the last refresh failed (None after a good one)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "source": self.source,
            "data": self.data,
            "fetched_at": self.fetched_at,
            "error": self.error,
        }


class ExternalFetchError(Exception):
    """A refresh failed; the message is for the page (no URL, no body)."""


class ExternalLeaderboard:
    def __init__(
        self,
        url: str,
        *,
        refresh_s: float = 600.0,
        timeout_s: float = 10.0,
        max_bytes: int = 2_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._source = str(URL(url).with_user(None).with_password(None).with_query(None).with_fragment(None))
        self._snapshot = ExternalSnapshot(LABEL, self._source, None, None, "not fetched yet")
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.refreshes = 0  # finished refreshes, good or not (tests wait on it)
        self._refreshed = asyncio.Condition()

    @classmethod
    def from_settings(cls, settings: ArenaSettings) -> ExternalLeaderboard | None:
        if not settings.external_leaderboard_url:
            return None
        return cls(
            settings.external_leaderboard_url,
            refresh_s=settings.external_refresh_s,
            timeout_s=settings.external_timeout_s,
            max_bytes=settings.external_max_bytes,
        )

    def snapshot(self) -> ExternalSnapshot:
        return self._snapshot

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="external-leaderboard")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_for_refreshes(self, count: int) -> None:
        """Returns once `count` refreshes have finished (for tests and start-up checks)."""
        async with self._refreshed:
            await self._refreshed.wait_for(lambda: self.refreshes >= count)

    async def refresh(self) -> None:
        """One fetch; keeps the last good copy when it fails."""
        try:
            data = await self._fetch()
        except ExternalFetchError as exc:
            self._snapshot = ExternalSnapshot(
                LABEL, self._source, self._snapshot.data, self._snapshot.fetched_at, str(exc)
            )
            log.warning("external leaderboard refresh failed: %s", exc)
        else:
            self._snapshot = ExternalSnapshot(LABEL, self._source, data, self._clock(), None)
        async with self._refreshed:
            self.refreshes += 1
            self._refreshed.notify_all()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.refresh_s)

    async def _fetch(self) -> Any:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(self.url, max_redirects=3, headers={"accept": "application/json"}) as response,
            ):
                if response.status != 200:
                    raise ExternalFetchError(f"the external leaderboard answered HTTP {response.status}")
                if (response.content_length or 0) > self.max_bytes:
                    raise ExternalFetchError(self._too_large())
                body = bytearray()
                async for chunk in response.content.iter_chunked(65_536):
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise ExternalFetchError(self._too_large())
        except TimeoutError:
            raise ExternalFetchError(f"no answer within {self.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise ExternalFetchError(f"could not fetch it ({type(exc).__name__})") from None
        try:
            return orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise ExternalFetchError("the external leaderboard did not answer JSON") from None

    def _too_large(self) -> str:
        return f"the external leaderboard is larger than {self.max_bytes} bytes"

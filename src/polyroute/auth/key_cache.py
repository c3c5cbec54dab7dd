"""Virtual keys by hash, in process memory, so authentication reads no SQL on the request path.

Lookups, fastest first: this process's cache; the shared state (Redis, when configured, so N
processes share one database read); the database. An entry is trusted for `ttl_s` seconds:
  * a key in use is refreshed in the background once its entry is half its TTL old, so a key
    that keeps being used never waits for SQL;
  * a key unknown here (or idle for longer than the TTL) waits for one lookup, shared by every
    request presenting it meanwhile; the answer, "no such key" included, is cached too: at most
    one read per key per TTL, never one per request;
  * no request is served from an entry older than the TTL, so a change or a deletion reaches
    every process within ttl_s (deleting or changing a key also evicts it here and in the shared
    state at once; a refresh racing the change in another process can stretch that to 2 x ttl_s);
  * while the database is unreachable, known keys keep being served from their last entry
    (refreshed in the background until it answers); unknown keys cannot be checked. A process
    that starts during an outage knows the keys of its last-known-good snapshot (`fallback`).

"No such key" answers live in a table of their own (bounded by `max_misses`, trusted for at most
`miss_ttl_s`): a flood of random `sk-` tokens fills and recycles that table only, and never
evicts a real key's entry. How often one client may make the cache look up keys it does not know
is bounded separately (auth/unknown_keys.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from polyroute.auth.keys import KeyRecord
from polyroute.state.base import SharedState

log = logging.getLogger("polyroute.auth")

Loader = Callable[[str], Awaitable[KeyRecord | None]]
_ABSENT = b"-"  # shared-state marker for "no such key"


@dataclass(slots=True)
class _Entry:
    record: KeyRecord
    fresh_until: float
    refresh_at: float


class KeyCache:
    def __init__(
        self,
        loader: Loader,
        shared: SharedState | None = None,
        ttl_s: float = 5.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
        max_misses: int = 10_000,
        miss_ttl_s: float = 2.0,
    ) -> None:
        self._loader = loader
        self._shared = shared
        self.ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}  # keys that exist
        self._misses: dict[str, float] = {}  # token -> until when "no such key" is trusted
        self._max_misses = max_misses
        self.miss_ttl_s = min(miss_ttl_s, ttl_s)
        # Keys from the last-known-good snapshot (auth/key_snapshot.py): served only when the
        # store cannot be reached, until the store answers for them again.
        self.fallback: dict[str, KeyRecord] = {}
        self.fallback_served = 0
        #: counts changes to the set of keys held (the snapshot is saved when it moved)
        self.version = 0
        self._loading: dict[str, asyncio.Future[KeyRecord | None]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()
        #: database or shared-state reads made (a metric for the observability work)
        self.loads = 0
        self.load_failures = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def misses_cached(self) -> int:
        return len(self._misses)

    def holds(self, token: str) -> bool:
        """Whether this process holds `token` as a key (fresh or not): its caller proved it here
        before, so an address lockout (auth/lockout.py) does not apply to it."""
        return token in self._entries or token in self.fallback

    def knows(self, token: str) -> bool:
        """Whether this process has an answer for `token`: a key it holds (fresh or not), or a
        fresh "no such key", or a lookup already in flight (callers share it). Anything else
        costs a lookup (auth/unknown_keys.py bounds those)."""
        if token in self._entries or token in self._loading or token in self.fallback:
            return True
        until = self._misses.get(token)
        return until is not None and self._clock() < until

    async def get(self, token: str) -> KeyRecord | None:
        entry = self._entries.get(token)
        now = self._clock()
        if entry is None:
            until = self._misses.get(token)
            if until is not None and now < until:
                return None
        elif now < entry.fresh_until:
            if now >= entry.refresh_at:
                self._refresh_in_background(token)
            return entry.record
        try:
            return await self._load_shared(token)
        except Exception:
            if entry is None:
                entry = self._from_fallback(token)
            if entry is None:
                raise
            # The store is down: keep serving what we knew, and retry in the background.
            entry.fresh_until = now + self.ttl_s
            entry.refresh_at = now
            return entry.record

    async def evict(self, tokens: list[str]) -> None:
        """Forget keys here and in the shared state (after a change or a deletion)."""
        for token in tokens:
            self._entries.pop(token, None)
            self._misses.pop(token, None)
            self.fallback.pop(token, None)
        self.version += 1
        if self._shared is not None and tokens:
            try:
                await self._shared.delete_values([_shared_key(t) for t in tokens])
            except Exception:  # noqa: BLE001  # other processes then see it within ttl_s
                log.warning("key cache: could not evict %d keys from the shared state", len(tokens))

    # -- loading ----------------------------------------------------------------------------------
    def _refresh_in_background(self, token: str) -> None:
        if token in self._loading:
            return
        task = asyncio.ensure_future(self._refresh(token))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh(self, token: str) -> None:
        try:
            await self._load_shared(token)
        except Exception as exc:  # noqa: BLE001  # keep serving the stale entry; try again next time
            log.debug("key cache: refresh failed (%s); serving the cached entry", type(exc).__name__)

    async def _load_shared(self, token: str) -> KeyRecord | None:
        """One load per key at a time: concurrent callers wait for the same answer."""
        pending = self._loading.get(token)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[KeyRecord | None] = asyncio.get_running_loop().create_future()
        self._loading[token] = future
        try:
            record = await self._load(token)
        except BaseException as exc:
            self.load_failures += 1
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            self._loading.pop(token, None)
        future.set_result(record)
        self._store(token, record)
        return record

    async def _load(self, token: str) -> KeyRecord | None:
        self.loads += 1
        if self._shared is not None:
            try:
                cached = await self._shared.get_value(_shared_key(token))
            except Exception:  # noqa: BLE001  # the database still answers
                cached = None
            if cached is not None:
                return None if cached == _ABSENT else KeyRecord.from_bytes(cached)
        record = await self._loader(token)
        if self._shared is not None:
            try:
                value = _ABSENT if record is None else record.to_bytes()
                await self._shared.set_value(_shared_key(token), value, self.ttl_s)
            except Exception as exc:  # noqa: BLE001  # the next process reads the database itself
                log.debug("key cache: shared state did not take an entry (%s)", type(exc).__name__)
        return record

    def _from_fallback(self, token: str) -> _Entry | None:
        record = self.fallback.get(token)
        if record is None:
            return None
        self.fallback_served += 1
        entry = self._entries[token] = _Entry(record, 0.0, 0.0)  # stale at once: refreshed when it can be
        return entry

    def snapshot_records(self) -> list[KeyRecord]:
        """The keys to keep in the last-known-good snapshot: those held now, then the snapshot's
        own that the store has not answered for since (bounded by max_entries)."""
        records = {token: entry.record for token, entry in self._entries.items()}
        for token, record in self.fallback.items():
            if len(records) >= self._max:
                break
            records.setdefault(token, record)
        return list(records.values())

    def _store(self, token: str, record: KeyRecord | None) -> None:
        now = self._clock()
        self.version += 1
        self.fallback.pop(token, None)  # the store answered: its answer wins from now on
        if record is None:
            self._entries.pop(token, None)
            self._store_miss(token, now)
            return
        self._misses.pop(token, None)
        if len(self._entries) >= self._max and token not in self._entries:
            # Bounded: the oldest tenth goes (dicts keep insertion order).
            for old in list(self._entries)[: max(1, self._max // 10)]:
                del self._entries[old]
        self._entries[token] = _Entry(record, now + self.ttl_s, now + self.ttl_s / 2)

    def _store_miss(self, token: str, now: float) -> None:
        misses = self._misses
        if len(misses) >= self._max_misses and token not in misses:
            for old in list(misses)[: max(1, self._max_misses // 10)]:
                del misses[old]
        misses.pop(token, None)  # re-inserted last: eviction takes the oldest answers first
        misses[token] = now + self.miss_ttl_s


def _shared_key(token: str) -> str:
    return f"vkey:{token}"

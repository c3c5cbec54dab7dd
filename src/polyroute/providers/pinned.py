"""Connections to client-chosen upstreams go to the address that was checked, and nowhere else.

`ClientUrlGuard.check` resolves a client's host and checks every address; if aiohttp then
resolved the name again, a DNS server answering differently the second time (DNS rebinding)
could send the request to a loopback or metadata address after all. So each checked
(scheme, host, port, address) gets its own aiohttp session whose resolver answers with that one
address and refuses any other name. The URL keeps the host name, so the Host header, TLS SNI and
certificate verification are for the name, as with any request.

Sessions are kept in a small LRU (keep-alive for repeat requests to the same client upstream) and
are separate from the pool the operator's upstreams use. An evicted session closes once its last
response is released, so eviction never cuts a stream in flight.
"""

from __future__ import annotations

import asyncio
import socket
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from polyroute.auth.url_safety import CheckedTarget
from polyroute.providers.bounds import ACCEPT_ENCODING

DEFAULT_LIMIT = 32


class PinnedResolver(AbstractResolver):
    """Resolves one host name to one address that was already checked."""

    def __init__(self, host: str, address: str, family: int) -> None:
        self._host = host
        self._address = address
        self._family = family

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.rstrip(".").lower() != self._host:
            raise OSError(f"this connector is pinned to {self._host}, not {host}")
        return [
            {
                "hostname": host,
                "host": self._address,
                "port": port,
                "family": self._family,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


class _Pinned:
    __slots__ = ("session", "users", "retired")

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.users = 0
        self.retired = False


class PinnedSessions:
    """A bounded set of sessions, one per checked target."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._sessions: OrderedDict[tuple[str, str, int, str], _Pinned] = OrderedDict()
        self._closing: set[asyncio.Future[Any]] = set()

    def __len__(self) -> int:
        return len(self._sessions)

    def acquire(self, target: CheckedTarget) -> tuple[aiohttp.ClientSession, Callable[[], None]]:
        """The session for `target` and a callback to call once when its response is done."""
        key = (target.url.scheme, target.host, target.port, target.address)
        entry = self._sessions.get(key)
        if entry is None or entry.session.closed:
            entry = _Pinned(_new_session(target))
            self._sessions[key] = entry
            while len(self._sessions) > self._limit:
                _, old = self._sessions.popitem(last=False)
                old.retired = True
                self._close_if_idle(old)
        self._sessions.move_to_end(key)
        entry.users += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            entry.users -= 1
            self._close_if_idle(entry)

        return entry.session, release

    def _close_if_idle(self, entry: _Pinned) -> None:
        if entry.retired and entry.users <= 0 and not entry.session.closed:
            future = asyncio.ensure_future(entry.session.close())
            self._closing.add(future)
            future.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        sessions = [entry.session for entry in self._sessions.values()]
        self._sessions.clear()
        await asyncio.gather(*(s.close() for s in sessions), *self._closing, return_exceptions=True)


def _new_session(target: CheckedTarget) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        resolver=PinnedResolver(target.host, target.address, target.family),
        use_dns_cache=False,
        limit=0,
        keepalive_timeout=30,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        cookie_jar=aiohttp.DummyCookieJar(),  # shared by clients: no cookie carried between them
        skip_auto_headers=("User-Agent",),
        trust_env=False,  # an environment proxy would resolve the name itself
        headers={"Accept-Encoding": ACCEPT_ENCODING},
        auto_decompress=False,  # decompressed in bounded steps: providers/bounds.py
        json_serialize=None,  # type: ignore[arg-type]  # we always send bytes
    )

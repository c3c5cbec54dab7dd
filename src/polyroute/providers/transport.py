"""Upstream I/O: one pooled keep-alive aiohttp session for every upstream of a process.

aiohttp's connector keeps a pool per (scheme, host, port), so each upstream gets its own
keep-alive pool from one session. aiohttp won the client benchmark (bench/results/http_client.md).
Redirects are never followed: a provider that redirects is answered as an upstream error.
Answers are decompressed here, not by aiohttp, so that size and ratio stay bounded (bounds.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Protocol

import aiohttp

from polyroute.errors import (
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamTooLargeError,
)
from polyroute.providers.base import WireRequest
from polyroute.providers.bounds import ACCEPT_ENCODING, BoundedBody, UpstreamLimits

if TYPE_CHECKING:
    from polyroute.auth.url_safety import CheckedTarget
    from polyroute.providers.pinned import PinnedSessions


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes: ...

    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class _AiohttpResponse:
    """An upstream answer read raw and decompressed here, in bounded steps (providers/bounds.py)."""

    __slots__ = ("_response", "status", "headers", "_on_done", "_limits")

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        limits: UpstreamLimits,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers
        self._on_done = on_done  # releases a pinned session (providers/pinned.py)
        self._limits = limits

    def _done(self) -> None:
        if self._on_done is not None:
            self._on_done()

    def _body(self, limit: int, what: str) -> BoundedBody:
        return BoundedBody(
            self._response.headers.get("Content-Encoding"),
            limit,
            self._limits.upstream_max_decompression_ratio,
            what,
        )

    async def _read_capped(self) -> bytes:
        limit = self._limits.max_body_bytes
        declared = self._response.content_length
        if declared is not None and declared > limit:
            raise UpstreamTooLargeError(f"the upstream answer is larger than {limit} bytes")
        body = self._body(limit, "the upstream answer")
        pieces: list[bytes] = []
        async for raw in self._response.content.iter_any():
            pieces.extend(body.feed(raw))
        return b"".join(pieces)

    async def read(self) -> bytes:
        try:
            return await self._read_capped()
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"upstream connection failed while reading: {type(exc).__name__}"
            ) from exc
        except UpstreamError:
            self._response.close()  # never back into the pool half-read
            raise
        finally:
            self._response.release()
            self._done()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        body = self._body(self._limits.max_stream_bytes, "the upstream stream")
        try:
            async for raw in self._response.content.iter_any():
                for piece in body.feed(raw):
                    yield piece
        except aiohttp.ClientPayloadError as exc:
            raise UpstreamConnectionError("upstream closed the stream mid-response") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"upstream connection failed mid-stream: {type(exc).__name__}"
            ) from exc

    def close(self) -> None:
        # close() (not release()) so a stream we abandon never goes back into the pool half-read.
        if not self._response.closed:
            if self._response.content.at_eof():
                self._response.release()
            else:
                self._response.close()
        self._done()


class HttpTransport:
    """The default transport. Create inside a running loop; `close()` at shutdown."""

    def __init__(
        self, limit_per_host: int = 0, dns_ttl: int = 300, limits: UpstreamLimits | None = None
    ) -> None:
        self.limits = limits or UpstreamLimits()
        self._session: aiohttp.ClientSession | None = None
        self._limit_per_host = limit_per_host
        self._dns_ttl = dns_ttl
        self._pinned: PinnedSessions | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=self._limit_per_host,
                ttl_dns_cache=self._dns_ttl,
                keepalive_timeout=60,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                # One session serves every client: a cookie one upstream answer sets must not ride
                # along on another client's request (nor cost a jar lookup per request).
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent",),
                headers={"Accept-Encoding": ACCEPT_ENCODING},
                auto_decompress=False,  # decompressed in bounded steps: providers/bounds.py
                json_serialize=None,  # type: ignore[arg-type]  # we always send bytes
            )
        return self._session

    async def send(
        self, wire: WireRequest, connect_timeout: float | None = None, target: CheckedTarget | None = None
    ) -> UpstreamResponse:
        """Sends `wire`. With `target` (a client-chosen upstream that was checked), the connection
        goes to the checked address only, from a session kept apart from the operator's pool."""
        release: Callable[[], None] | None = None
        if target is None:
            session, url = self._get_session(), wire.url
        else:
            if self._pinned is None:
                from polyroute.providers.pinned import PinnedSessions

                self._pinned = PinnedSessions()
            session, release = self._pinned.acquire(target)
            url = target.url  # the parsed URL that was checked, not a re-parse of the string
        try:
            response = await self._request(session, wire, url, connect_timeout)
        except BaseException:
            if release is not None:
                release()
            raise
        return _AiohttpResponse(response, self.limits, release)

    async def _request(
        self, session: aiohttp.ClientSession, wire: WireRequest, url: object, connect_timeout: float | None
    ) -> aiohttp.ClientResponse:
        try:
            return await session.request(
                wire.method,
                url,  # type: ignore[arg-type]
                data=wire.body,
                headers=wire.headers,
                allow_redirects=False,
                timeout=_connect_timeout(connect_timeout),
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeoutError("timed out connecting to the upstream") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamConnectionError(
                f"cannot connect to upstream: {exc.os_error.strerror or 'refused'}"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(f"upstream connection failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._pinned is not None:
            await self._pinned.close()


_TIMEOUTS: dict[float | None, aiohttp.ClientTimeout] = {}


def _connect_timeout(seconds: float | None) -> aiohttp.ClientTimeout:
    """One immutable ClientTimeout per connect timeout (a handful of configured values): building
    one per request cost more than parsing the request's URL."""
    timeout = _TIMEOUTS.get(seconds)
    if timeout is None:
        if len(_TIMEOUTS) >= 64:  # per-request deadlines could make many: stay bounded
            _TIMEOUTS.clear()
        timeout = _TIMEOUTS[seconds] = aiohttp.ClientTimeout(total=None, connect=seconds)
    return timeout

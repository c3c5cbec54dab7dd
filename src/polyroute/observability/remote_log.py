"""REMOTE_LOGGER_URL (FastChat's variable): one JSON record per model request, POSTed to a sink.

As FastChat's remote logger does, each record is one flat JSON object in the body of one POST
(`content-type: application/json`), so a sink written for FastChat takes polyroute's records.
Unlike FastChat's (an unbounded queue and a thread), the request path here only builds a small
dict and puts it in a bounded queue without waiting (`submit`); SENDERS background tasks POST
from the queue on one keep-alive aiohttp session, each POST under a timeout. A full queue drops
the record, a sink that errs or times out loses it (no retries: a sink that is down must not
pile up work); both are counted (`polyroute_remote_log_records_total{outcome=...}`), as are the
records shipped. At shutdown, what is queued is sent for up to a few seconds.

A record carries the request id, call type, model asked for, model group, deployment, provider,
status, latency, time to first token, tokens and cost, and the key's alias, team and user
(names the operator chose); never prompt or completion text, never a key. Strings are scrubbed
once more before they leave (a client may put anything in the `model` field).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from polyroute.secrets import Redactor

if TYPE_CHECKING:
    from polyroute.record import RequestRecord

ENV_URL = "REMOTE_LOGGER_URL"
ENV_QUEUE_SIZE = "POLYROUTE_REMOTE_LOGGER_QUEUE_SIZE"
ENV_TIMEOUT = "POLYROUTE_REMOTE_LOGGER_TIMEOUT_S"
DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_TIMEOUT_S = 5.0
SENDERS = 4  # POSTs in flight at once
FLUSH_AT_SHUTDOWN_S = 5.0
JSON_HEADERS = {"content-type": "application/json"}
log = logging.getLogger("polyroute.remote_log")


class RemoteLogConfigError(ValueError):
    pass


def display_url(url: str) -> str:
    """The sink's URL without user info or query (either may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def remote_log_settings(env: Mapping[str, str]) -> tuple[str, int, float] | None:
    """(url, queue size, timeout) from the environment, or None when REMOTE_LOGGER_URL is unset."""
    url = (env.get(ENV_URL) or "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise RemoteLogConfigError(f"{ENV_URL} must be an http:// or https:// URL with a host")
    try:
        size = int(env.get(ENV_QUEUE_SIZE) or DEFAULT_QUEUE_SIZE)
        timeout = float(env.get(ENV_TIMEOUT) or DEFAULT_TIMEOUT_S)
    except ValueError:
        raise RemoteLogConfigError(f"{ENV_QUEUE_SIZE} and {ENV_TIMEOUT} must be numbers") from None
    if size < 1 or not timeout > 0:
        raise RemoteLogConfigError(f"{ENV_QUEUE_SIZE} must be at least 1 and {ENV_TIMEOUT} above 0")
    return url, size, timeout


def build_remote_log(env: Mapping[str, str], redactor: Redactor | None = None) -> RemoteLogShipper | None:
    settings = remote_log_settings(env)
    if settings is None:
        return None
    url, size, timeout = settings
    return RemoteLogShipper(url, queue_size=size, timeout_s=timeout, redactor=redactor)


def request_record(record: RequestRecord) -> dict[str, Any]:
    """The flat record of one finished model request (built on the request path: keep it small)."""
    usage = record.usage
    now = time.time()
    return {
        "type": "polyroute.request",
        "tstamp": now,
        "request_id": record.request_id,
        "call_type": record.call_type,
        "model": record.model,
        "model_group": record.model_group,
        "deployment": record.deployment_id,
        "provider": record.provider,
        "upstream_model": record.upstream_model,
        "stream": record.stream,
        "status": record.status,
        "http_status": record.http_status,
        "error_code": record.error_code,
        "attempts": max(record.attempts, 1 if record.served else 0),
        "latency_ms": round((time.monotonic() - record.started_mono) * 1000, 3),
        "ttft_ms": round(record.ttft * 1000, 3) if record.ttft is not None else None,
        "prompt_tokens": usage.prompt if usage else 0,
        "completion_tokens": usage.completion if usage else 0,
        "total_tokens": usage.total if usage else 0,
        "usage_estimated": usage.estimated if usage else False,
        "cost_usd": record.cost,
        "key_alias": record.key_alias,
        "team_id": record.team_id,
        "user_id": record.user_id,
        "start_time": record.started,
    }


class RemoteLogShipper:
    """The bounded queue and its senders. `shipped`, `failed`, `dropped` and `queue_depth()` are
    what /metrics reads (observability/scrape.py)."""

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        senders: int = SENDERS,
        redactor: Redactor | None = None,
    ) -> None:
        self.url = url
        self.queue_size = queue_size
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.senders = senders
        self.redactor = redactor or Redactor()
        self.shipped = 0
        self.failed = 0
        self.dropped = 0
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._last_complaint = 0.0

    def queue_depth(self) -> int:
        return self._queue.qsize()

    # -- request path ---------------------------------------------------------------------------------
    def submit(self, record: dict[str, Any]) -> None:
        """Never waits: a full queue (or a stopped shipper) drops the record and counts it."""
        if self._closed:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1
            self._complain(
                "remote logger queue full (%d records): %d records dropped so far",
                self.queue_size,
                self.dropped,
            )

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.senders, keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            skip_auto_headers=("User-Agent",),
            json_serialize=None,  # type: ignore[arg-type]  # we always send bytes
        )
        self._tasks = [asyncio.ensure_future(self._send_forever()) for _ in range(self.senders)]
        log.info("remote logger: shipping request records to %s", display_url(self.url))

    async def stop(self, timeout_s: float = FLUSH_AT_SHUTDOWN_S) -> None:
        """Sends what is queued (for up to `timeout_s`); what is left then is counted as dropped."""
        self._closed = True
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._queue.join()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            self.dropped += 1
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- sending ----------------------------------------------------------------------------------------
    async def _send_forever(self) -> None:
        while True:
            record = await self._queue.get()
            try:
                await self._post(record)
            finally:
                self._queue.task_done()

    async def _post(self, record: dict[str, Any]) -> None:
        assert self._session is not None
        scrub = self.redactor.scrub
        body = orjson.dumps({k: scrub(v) if isinstance(v, str) else v for k, v in record.items()})
        try:
            async with self._session.post(
                self.url, data=body, headers=JSON_HEADERS, allow_redirects=False
            ) as r:
                await r.read()
                ok = 200 <= r.status < 300
                status = str(r.status)
        except asyncio.CancelledError:
            self.failed += 1  # cancelled mid-POST at shutdown: not known to have arrived
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            ok, status = False, type(exc).__name__
        if ok:
            self.shipped += 1
        else:
            self.failed += 1
            self._complain(
                "remote logger: %s answered %s; %d records lost so far",
                display_url(self.url),
                status,
                self.failed,
            )

    def _complain(self, message: str, *args: Any) -> None:
        """At most one warning every 10 s: a sink that is down must not flood the log."""
        now = time.monotonic()
        if now - self._last_complaint >= 10.0:
            self._last_complaint = now
            log.warning(message, *args)

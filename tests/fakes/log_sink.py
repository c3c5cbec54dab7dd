"""A REMOTE_LOGGER_URL sink: a real HTTP server on loopback that takes FastChat-style POSTs (one
JSON object per request body) and keeps them. It can be told to hold every request until
released (a slow sink) or to answer with an error status (a failing one)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import FakeUpstream, RecordedRequest


class LogSink(FakeUpstream):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []
        self.status = 200
        self.held = 0  # requests waiting for release()
        self._open = threading.Event()
        self._open.set()

    @property
    def endpoint(self) -> str:
        return self.url + "/log"

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/log", self.handler(self._log))]

    async def _log(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if not self._open.is_set():
            with self._lock:
                self.held += 1
            while not self._open.is_set():
                await asyncio.sleep(0.01)
            with self._lock:
                self.held -= 1
        if self.status != 200:
            return web.Response(status=self.status, text="sink error")
        if rec.headers.get("content-type") != "application/json":
            return web.Response(status=415, text="json only")
        record = orjson.loads(rec.body)
        with self._lock:
            self.records.append(record)
        return web.Response(status=200, text="ok")

"""The worker's HTTP server: the OpenAI API for its engine (chat, legacy completions, embeddings,
models), FastChat's worker API (fastchat_api.py)
for FastChat's own controller and API server, and a concurrency limit
(`--limit-worker-concurrency`) shared by both, whose queue is what heartbeats report."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from polyroute.asgi import AsgiRequest as Request
from polyroute.asgi import ClientGone, Receive, Scope, Send
from polyroute.errors import GatewayError, NotFoundError
from polyroute.worker.agent import RegistrationRefused, WorkerAgent
from polyroute.worker.engines.base import Engine, EngineResponse
from polyroute.worker.fastchat_api import FastChatWorkerAPI

log = logging.getLogger("polyroute.worker")
MAX_BODY_BYTES = 32 * 1024 * 1024


class ConcurrencyLimit:
    """FastChat's semaphore: `queue_length` counts requests running plus those waiting."""

    def __init__(self, limit: int) -> None:
        self._semaphore = asyncio.Semaphore(limit)
        self.running = 0
        self.waiting = 0

    @property
    def queue_length(self) -> int:
        return self.running + self.waiting

    @contextlib.asynccontextmanager
    async def slot(self):
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._semaphore.release()


class WorkerApp:
    def __init__(self, engine: Engine, model_names: list[str], limit: int, agent: WorkerAgent | None) -> None:
        self.engine = engine
        self.model_names = model_names
        self.limit = ConcurrencyLimit(limit)
        self.agent = agent
        self.speed = agent.speed if agent else 1.0
        self._session: aiohttp.ClientSession | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self.routes: dict[tuple[str, str], Callable[[Request], Awaitable[None]]] = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/completions"): self._completions,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("GET", "/v1/models"): self._models,
            ("POST", "/worker_get_status"): self._status,
            ("GET", "/health"): self._health,
            **FastChatWorkerAPI(self).routes,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            request = Request(scope, receive, send)
            try:
                handler = self.routes.get((request.method, request.path))
                if handler is None:
                    raise NotFoundError(f"no route {request.method} {request.path}")
                await handler(request)
            except GatewayError as error:
                if not request.started:
                    await request.respond_error(error)
            except ClientGone:
                return

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._start()
                except (RegistrationRefused, RuntimeError, OSError, aiohttp.ClientError) as exc:
                    log.error("worker start-up failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        await self.engine.start()
        if self.agent is not None:
            self._session = aiohttp.ClientSession()
            try:
                await self.agent.register(self._session)
            except aiohttp.ClientError as exc:
                raise RegistrationRefused(
                    f"cannot reach the controller at {self.agent.controller_url}: {exc}"
                ) from exc
            self._heartbeats = asyncio.ensure_future(self.agent.run(self._session))

    async def _stop(self) -> None:
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            await asyncio.gather(self._heartbeats, return_exceptions=True)
        if self.agent is not None and self._session is not None:
            await self.agent.deregister(self._session)
            await self._session.close()
        await self.engine.close()

    # -- routes ------------------------------------------------------------------------------------
    async def _answer(self, request: Request, response: EngineResponse) -> None:
        if response.stream is None:
            await request.send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [(b"content-type", response.content_type.encode())],
                }
            )
            request.started = True
            await request.send({"type": "http.response.body", "body": response.body})
            request.finished = True
            return
        await request.start_stream()
        try:
            # aclosing: a client that leaves ends the engine's generation now, not at garbage collection.
            async with contextlib.aclosing(response.stream) as stream:  # type: ignore[type-var]
                async for chunk in stream:
                    await request.write(chunk)
        except Exception as exc:  # noqa: BLE001  # the engine broke mid-stream
            log.warning("stream failed mid-way: %s", type(exc).__name__)
            # Close without the end marker: the gateway sees a truncated stream and says so.
            raise ClientGone() from exc
        await request.end_stream()

    async def _serve(
        self, request: Request, operation: Callable[[dict[str, Any]], Awaitable[EngineResponse]]
    ) -> None:
        body = await request.read_json(MAX_BODY_BYTES, 64)
        async with self.limit.slot():
            response = await operation(body)
            await self._answer(request, response)

    async def _chat(self, request: Request) -> None:
        await self._serve(request, self.engine.chat)

    async def _completions(self, request: Request) -> None:
        await self._serve(request, self.engine.completions)

    async def _embeddings(self, request: Request) -> None:
        await self._serve(request, self.engine.embeddings)

    async def _models(self, request: Request) -> None:
        data = [
            {"id": n, "object": "model", "created": 0, "owned_by": "polyroute-worker"}
            for n in self.model_names
        ]
        await request.respond(200, orjson.dumps({"object": "list", "data": data}))

    async def _status(self, request: Request) -> None:
        status = {
            "model_names": self.model_names,
            "speed": self.speed,
            "queue_length": self.limit.queue_length,
        }
        await request.respond(200, orjson.dumps(status))

    async def _health(self, request: Request) -> None:
        await request.respond(200, b'"ok"')

"""Helpers for the state tests: a movable clock, real Redis with a private key prefix, a TCP proxy."""

from __future__ import annotations

import asyncio
import socket
import uuid

import redis.asyncio as aioredis

from polyroute.state.redis import RedisState

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379  # CI starts Redis here; tests fail (never skip) without it


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def unique_prefix() -> str:
    return f"polyroute-test:{uuid.uuid4().hex}:"


def redis_client(port: int = REDIS_PORT, **kwargs) -> aioredis.Redis:
    # A blocking pool, as RedisState.from_settings builds: redis-py's default pool refuses a
    # 101st concurrent command instead of waiting for a connection.
    pool = aioredis.BlockingConnectionPool(
        host=REDIS_HOST,
        port=port,
        socket_timeout=2,
        socket_connect_timeout=2,
        max_connections=32,
        timeout=5,
        **kwargs,
    )
    return aioredis.Redis.from_pool(pool)


async def keys_under(client: aioredis.Redis, prefix: str) -> set[str]:
    return {
        key.decode() if isinstance(key, bytes) else key async for key in client.scan_iter(match=prefix + "*")
    }


async def delete_prefix(prefix: str) -> None:
    client = redis_client()
    try:
        keys = await keys_under(client, prefix)
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def free_port() -> int:
    """A loopback port nothing listens on (bound once by the OS, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((REDIS_HOST, 0))
        return sock.getsockname()[1]


class TcpProxy:
    """Forwards a loopback port to Redis; `stop()` drops the listener and every connection, as a
    Redis outage would, and `start()` listens on the same port again."""

    def __init__(self, upstream_port: int = REDIS_PORT) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, REDIS_HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(REDIS_HOST, self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


async def open_redis_state(prefix: str | None = None, **client_kwargs) -> RedisState:
    """A RedisState on the real Redis under a fresh prefix; fails loudly when Redis is not there."""
    client = redis_client(**client_kwargs)
    await client.ping()
    return RedisState(client, prefix or unique_prefix())

"""A TCP proxy on loopback that breaks connections on purpose, between the gateway and whatever it
talks to (the fake upstreams, PostgreSQL, Redis): the faults real networks and servers produce,
injected at the byte level so every layer above sees them as it would in production.

    proxy = FaultProxy(upstream_port).start()
    proxy.fault = Fault(reset_after=300)      # applies to connections accepted from now on
    ... point the gateway at proxy.port ...
    proxy.stop()

Faults (one `Fault` per connection; fields combine):
  latency          seconds added before each piece forwarded from the server to the client
  slice            forward the server's bytes in pieces of at most this many bytes, each its own
                   write (a stream cut at every possible boundary)
  reset_after      after this many server bytes reached the client, abort both sides with an RST
  half_close_after after this many server bytes, close the client side for writing (FIN) and
                   stop forwarding, keeping the connection open otherwise
  stall_after_headers  forward the server's answer up to the end of its HTTP headers, then
                   nothing more, keeping the connection open
  stall_after      forward this many server bytes, then nothing more, keeping the connection open
  refuse           accept and reset at once, before any byte (a server that is down)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    latency: float = 0.0
    slice: int | None = None
    reset_after: int | None = None
    half_close_after: int | None = None
    stall_after_headers: bool = False
    stall_after: int | None = None
    refuse: bool = False


NO_FAULT = Fault()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Closes with an RST rather than a FIN (SO_LINGER 0), as a crashed peer or a middlebox does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.fault = NO_FAULT
        self.port = 0
        self.connections = 0  # accepted so far
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._stalled: list[asyncio.StreamWriter] = []  # held open until stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shut() -> None:
            assert self._server is not None
            self._server.close()
            for writer in self._stalled:
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        loop.close()
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one connection ---------------------------------------------------------------------------
    async def _accept(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        self.connections += 1
        fault = self.fault
        if fault.refuse:
            _abort(client)
            return
        try:
            server_reader, server = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(client)
            return
        upward = asyncio.ensure_future(self._pipe(client_reader, server))
        try:
            await self._downstream(server_reader, client, fault)
        except (ConnectionError, OSError):
            pass
        finally:
            upward.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await upward
            server.transport.abort()
            if client not in self._stalled:
                client.transport.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Client to server, untouched (requests are not where these faults are)."""
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    async def _downstream(
        self, reader: asyncio.StreamReader, client: asyncio.StreamWriter, fault: Fault
    ) -> None:
        sent = 0
        seen = b""  # the answer's start, until its headers end (for stall_after_headers)
        limit = _byte_limit(fault)
        while data := await reader.read(65536):
            if fault.stall_after_headers and limit is None:
                seen += data
                end = seen.find(b"\r\n\r\n")
                if end >= 0:
                    limit = end + 4
            if limit is not None and sent + len(data) >= limit:
                await self._send(client, data[: limit - sent], fault)
                sent = limit
                await self._break(client, fault)
                return
            await self._send(client, data, fault)
            sent += len(data)

    async def _send(self, client: asyncio.StreamWriter, data: bytes, fault: Fault) -> None:
        step = fault.slice or len(data) or 1
        for start in range(0, len(data), step):
            if fault.latency:
                await asyncio.sleep(fault.latency)
            client.write(data[start : start + step])
            await client.drain()

    async def _break(self, client: asyncio.StreamWriter, fault: Fault) -> None:
        if fault.reset_after is not None:
            _abort(client)
        elif fault.half_close_after is not None:
            client.write_eof()
            self._stalled.append(client)
        else:  # a stall: nothing more, the connection stays open until the peer gives up
            self._stalled.append(client)
            await asyncio.Event().wait()


def _byte_limit(fault: Fault) -> int | None:
    for limit in (fault.reset_after, fault.half_close_after, fault.stall_after):
        if limit is not None:
            return limit
    return None

"""A canary upstream: real loopback listeners that only count the TCP connections they accept.

A test points a refused or unsafe request at the canary and asserts it saw no connection at all
(so no request, header or key can have left the gateway). The listeners share one port on
127.0.0.1 and ::1 (and on any extra loopback address asked for), so every spelling of loopback,
0.0.0.0 and IPv4-mapped forms included, lands on a counting socket.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time

from tests.fakes.base import free_port


class Canary:
    def __init__(self, hosts: tuple[str, ...] = ("127.0.0.1", "::1"), port: int | None = None) -> None:
        self.hosts = hosts
        self.port = port or 0
        self._accepted = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def connections(self) -> int:
        with self._lock:
            return self._accepted

    def reset(self) -> None:
        with self._lock:
            self._accepted = 0

    def url(self, host: str = "127.0.0.1", path: str = "/v1") -> str:
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}{path}"

    def _bind_all(self) -> None:
        for _ in range(20):
            port = self.port or free_port()
            sockets = []
            try:
                for host in self.hosts:
                    family = socket.AF_INET6 if ":" in host else socket.AF_INET
                    sock = socket.socket(family, socket.SOCK_STREAM)
                    sockets.append(sock)
                    if family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    sock.bind((host, port))
                    sock.listen(64)
                    sock.setblocking(False)
            except OSError:
                for sock in sockets:
                    sock.close()
                if self.port:
                    raise
                continue
            self.port, self._sockets = port, sockets
            return
        raise RuntimeError("no free port for the canary")

    def start(self) -> Canary:
        self._bind_all()
        for sock in self._sockets:
            self._selector.register(sock, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name=f"canary:{self.port}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                with self._lock:
                    self._accepted += 1
                conn.close()

    def settle(self, seconds: float = 0.2) -> int:
        """The count after a short wait, so a connection in flight is counted before asserting."""
        time.sleep(seconds)
        return self.connections

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sock in self._sockets:
            self._selector.unregister(sock)
            sock.close()

    def __enter__(self) -> Canary:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Graceful shutdown on SIGTERM: say "not ready", let model requests finish, then stop.

uvicorn alone, on SIGTERM, closes its listening socket at once and then waits up to
`--timeout-graceful-shutdown` for the requests in flight. A load balancer or Kubernetes probing
readiness then meets a refused connection, and requests it still routes here (endpoint removal
lags the signal by seconds) are refused rather than served. So the gateway defers uvicorn's
handler:

1. SIGTERM: `InFlight.draining` turns on. /health/readiness answers 503 `shutting_down` from
   now on; the process keeps listening and serving, so nothing sent to it in the meantime fails.
2. As soon as no model request is in flight, or once the grace period (the same
   `--timeout-graceful-shutdown`) is over, uvicorn's own handler runs: it stops listening,
   finishes what is left and runs the app's shutdown (the spend writer's last flush or spool,
   the journal, a worker's deregistration).
3. Model requests still running at the end of the grace period are cancelled first: each ends
   with an OpenAI-shaped error (a 503 `shutting_down`, or an error event closing its stream,
   server/app.py) and is billed for what it produced. Never a silent cut.

While draining, every answer carries `Connection: close` (server/connections.py), so keep-alive
clients reconnect to another process instead of racing the final close of an idle connection.
A repeated SIGTERM changes nothing (systemd signals every process of a unit, and uvicorn's
supervisor signals its workers again). SIGINT (Ctrl-C) is left to uvicorn: someone at a
terminal wants the process gone, and gets uvicorn's own graceful stop at once.

The exit status is uvicorn's: the process ends by the SIGTERM it was sent (uvicorn raises it
again once shut down), which systemd and Kubernetes count as a clean stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType
from typing import Any

from polyroute.server.connections import ConnectionGuard
from polyroute.server.load import InFlight

log = logging.getLogger("polyroute.server")

ENV_VAR = "POLYROUTE_TIMEOUT_GRACEFUL_SHUTDOWN"  # what `polyroute serve` hands its worker processes
DEFAULT_GRACE_S = 25.0  # below Kubernetes' 30 s, leaving time for the last spend flush


def grace_from_env(env: Any) -> float:
    """The grace period `polyroute serve` exported (its --timeout-graceful-shutdown)."""
    try:
        value = float(env.get(ENV_VAR) or DEFAULT_GRACE_S)
    except ValueError:
        return DEFAULT_GRACE_S
    return value if value > 0 else DEFAULT_GRACE_S


def _on_sighup(signum: int, frame: FrameType | None) -> None:
    log.warning(
        "SIGHUP ignored: this process cannot reload its config in place. `polyroute serve --workers N` "
        "(N >= 2) reloads on SIGHUP sent to its supervisor, replacing processes one by one; with one "
        "process, restart it (systemctl restart, a rolling update) to load a changed config"
    )


class GracefulDrain:
    """Installed once the app has started; hands SIGTERM to the server's handler after the drain."""

    def __init__(self, load: InFlight, grace_s: float, connections: ConnectionGuard | None = None) -> None:
        self.load = load
        self.connections = connections
        self.grace_s = grace_s
        self._previous: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle: asyncio.Event | None = None

    def install(self) -> bool:
        """Takes over SIGTERM when a server handler holds it (uvicorn's, in its main thread);
        False, changing nothing, where there is none (an app run in a thread, as in tests)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False
        self._previous = previous
        self._loop = asyncio.get_running_loop()
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
            # Its default action ends the process at once, dropping every request in flight.
            signal.signal(signal.SIGHUP, _on_sighup)
        return True

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self._loop is None:
            self._previous(signum, frame)
            return
        if self.load.draining:
            # Repeated SIGTERMs are one request to stop: systemd signals every process of the
            # unit and uvicorn's supervisor then signals its workers again. SIGKILL or SIGINT
            # (uvicorn's, unchanged) stop sooner.
            return
        self.load.draining = True
        if self.connections is not None:
            self.connections.draining = True
        self._loop.call_soon_threadsafe(self._begin, signum)

    def _begin(self, signum: int) -> None:
        self._task = asyncio.ensure_future(self.drain(signum))

    async def drain(self, signum: int = signal.SIGTERM) -> None:
        load = self.load
        log.info(
            "SIGTERM: readiness is now 503; waiting up to %gs for %d request(s) in flight",
            self.grace_s,
            len(load),
        )
        if len(load):
            self._idle = asyncio.Event()
            load.on_idle = self._idle.set
            try:
                await asyncio.wait_for(self._idle.wait(), self.grace_s)
            except TimeoutError:
                cut = load.cancel_all()
                log.warning(
                    "graceful shutdown: %d request(s) still running after %gs end with a "
                    "shutting_down error (raise --timeout-graceful-shutdown to let them finish)",
                    cut,
                    self.grace_s,
                )
            finally:
                load.on_idle = None
        self._previous(signum, None)  # uvicorn's: stop listening, finish, run the app's shutdown

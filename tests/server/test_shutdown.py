"""The drain on SIGTERM (server/shutdown.py) without a process: the server's own handler runs only
once the requests in flight have left, or after the grace period, with the stragglers cancelled.
The real-process behaviour (signals, readiness, streams, spend) is tests/faults/test_graceful_shutdown.py."""

from __future__ import annotations

import asyncio
import signal

from polyroute.config.server_limits import ServerLimits
from polyroute.server.connections import ConnectionGuard
from polyroute.server.load import InFlight
from polyroute.server.shutdown import DEFAULT_GRACE_S, ENV_VAR, GracefulDrain, grace_from_env


class ServerHandler:
    """Stands in for uvicorn's handle_exit: records that the server was told to stop."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.in_flight_then: list[int] = []
        self.load: InFlight | None = None

    def __call__(self, signum: int, frame: object) -> None:
        self.calls.append(signum)
        assert self.load is not None
        self.in_flight_then.append(len(self.load))


def _drain(grace_s: float) -> tuple[InFlight, GracefulDrain, ServerHandler]:
    load, handler = InFlight(), ServerHandler()
    handler.load = load
    drain = GracefulDrain(load, grace_s, ConnectionGuard(ServerLimits()))
    drain._previous = handler
    return load, drain, handler


async def test_the_server_stops_as_soon_as_the_last_request_leaves() -> None:
    load, drain, handler = _drain(grace_s=3600)
    release = asyncio.Event()
    finished: list[str] = []

    async def request() -> None:
        task = asyncio.current_task()
        load.enter(task)  # type: ignore[arg-type]
        try:
            await release.wait()
            finished.append("done")
        finally:
            load.leave(task)  # type: ignore[arg-type]

    work = [asyncio.ensure_future(request()) for _ in range(3)]
    await asyncio.sleep(0)  # the requests enter
    load.draining = True
    stopping = asyncio.ensure_future(drain.drain(signal.SIGTERM))
    await asyncio.sleep(0)
    assert handler.calls == []  # three in flight: the server keeps serving
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert finished == ["done"] * 3 and handler.calls == [signal.SIGTERM] and handler.in_flight_then == [0]
    await asyncio.gather(*work)


async def test_past_the_grace_period_stragglers_are_cancelled_before_the_server_stops() -> None:
    load, drain, handler = _drain(grace_s=0.01)
    cancelled: list[bool] = []

    async def stuck() -> None:
        task = asyncio.current_task()
        load.enter(task)  # type: ignore[arg-type]
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            cancelled.append(True)  # where server/app.py answers with a shutting_down error
            raise
        finally:
            load.leave(task)  # type: ignore[arg-type]

    work = asyncio.ensure_future(stuck())
    await asyncio.sleep(0)
    await asyncio.wait_for(drain.drain(signal.SIGTERM), 10)
    assert handler.calls == [signal.SIGTERM]
    await asyncio.gather(work, return_exceptions=True)
    assert cancelled == [True] and len(load) == 0


async def test_with_nothing_in_flight_the_server_stops_at_once() -> None:
    _, drain, handler = _drain(grace_s=3600)
    await asyncio.wait_for(drain.drain(signal.SIGTERM), 10)
    assert handler.calls == [signal.SIGTERM]


def test_the_grace_period_comes_from_serve() -> None:
    assert grace_from_env({ENV_VAR: "7.5"}) == 7.5
    assert grace_from_env({}) == DEFAULT_GRACE_S
    assert grace_from_env({ENV_VAR: "soon"}) == DEFAULT_GRACE_S

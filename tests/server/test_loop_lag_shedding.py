"""Adaptive load shedding (server/loop_lag.py): CoDel on the event loop's lag.

The policy gets each lag sample with its time, and the probe a fake loop and clock, so every
step below is a fact the test sets, never a wall-clock guess."""

from __future__ import annotations

import asyncio

import pytest

from polyroute.errors import ServiceUnavailableError
from polyroute.observability.metrics import METRICS
from polyroute.server.load import InFlight
from polyroute.server.loop_lag import (
    INTERVAL_S,
    MIN_IN_FLIGHT,
    PROBE_S,
    RECENT_S,
    TARGET_S,
    LagPolicy,
    LagProbe,
)

OVER = TARGET_S * 2
UNDER = TARGET_S / 2


def test_a_burst_of_lag_shorter_than_the_interval_sheds_nothing():
    policy = LagPolicy()
    policy.observe(OVER, 10.0, 10)
    policy.observe(OVER * 20, 10.0 + INTERVAL_S / 2, 10)  # a GC pause: long, but alone
    assert not policy.shedding
    policy.observe(UNDER, 10.0 + INTERVAL_S * 0.9, 10)  # the queue emptied within the interval
    policy.observe(OVER, 10.0 + INTERVAL_S * 1.5, 10)
    assert not policy.shedding  # the interval starts over


def test_a_lag_over_the_target_for_a_whole_interval_sheds_until_it_is_back_under():
    policy = LagPolicy()
    policy.observe(OVER, 0.0, 10)
    policy.observe(OVER, INTERVAL_S - 0.001, 10)
    assert not policy.shedding
    policy.observe(OVER, INTERVAL_S, 10)
    assert policy.shedding
    policy.observe(OVER, INTERVAL_S * 3, 10)
    assert policy.shedding
    policy.observe(TARGET_S, INTERVAL_S * 3 + PROBE_S, 10)  # at the target is not over it
    assert not policy.shedding


def test_after_shedding_recently_the_next_lag_over_the_target_sheds_at_once():
    policy = LagPolicy()
    policy.observe(OVER, 0.0, 10)
    policy.observe(OVER, INTERVAL_S, 10)
    assert policy.shedding
    policy.observe(UNDER, INTERVAL_S + PROBE_S, 10)
    assert not policy.shedding
    # The overload is still there: no second interval of a growing queue before shedding again.
    policy.observe(OVER, INTERVAL_S + 2 * PROBE_S, 10)
    assert policy.shedding
    policy.observe(UNDER, 1.0, 10)
    # Long after the last shed, a new episode must last a whole interval again.
    later = INTERVAL_S + 2 * PROBE_S + RECENT_S + 0.001
    policy.observe(OVER, later, 10)
    assert not policy.shedding
    policy.observe(OVER, later + INTERVAL_S, 10)
    assert policy.shedding


class FakeLoop:
    def __init__(self) -> None:
        self.timers: list[tuple[float, object]] = []

    def call_later(self, delay: float, callback):
        handle = FakeHandle()
        self.timers.append((delay, callback))
        return handle


class FakeHandle:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def test_the_probe_feeds_how_late_each_timer_ran():
    now = [50.0]
    cpu = [3.0]  # the loop thread's CPU time: busy all along here
    policy = LagPolicy()
    probe = LagProbe(policy, lambda: 10, clock=lambda: now[0], cpu_clock=lambda: cpu[0])
    loop = FakeLoop()
    probe.start(loop)  # type: ignore[arg-type]
    assert loop.timers == [(PROBE_S, probe.tick)]
    # Every timer runs OVER late, for a whole interval: the process sheds.
    ticks = 0
    while not policy.shedding:
        now[0] += PROBE_S + OVER
        cpu[0] += PROBE_S + OVER
        probe.tick()
        ticks += 1
        assert probe.last_lag_s == pytest.approx(OVER)
        assert ticks * (PROBE_S + OVER) <= INTERVAL_S + 2 * (PROBE_S + OVER)
    # A timer that runs early (uvloop counts whole milliseconds) is no lag at all.
    now[0] += PROBE_S - 0.0005
    cpu[0] += PROBE_S - 0.0005
    probe.tick()
    assert probe.last_lag_s == 0.0
    assert not policy.shedding
    assert len(loop.timers) == ticks + 2  # one timer at a time, rescheduled by each tick
    probe.stop()
    assert probe._handle is None


def _shed_count(reason: str) -> float:
    return METRICS.shed_requests.value((reason,))


def test_while_the_lag_says_overloaded_new_requests_are_shed_past_a_few_in_flight():
    policy = LagPolicy()
    load = InFlight(lag=policy)
    held = [object() for _ in range(MIN_IN_FLIGHT)]
    policy.shedding = True  # went over the target with nothing in flight: knee 0
    for task in held:  # a process with almost nothing in flight is not the cause of its lag
        load.enter(task)  # type: ignore[arg-type]
    before = _shed_count("queueing_delay")
    with pytest.raises(ServiceUnavailableError) as refused:
        load.enter(object())  # type: ignore[arg-type]
    error = refused.value
    assert (error.status, error.code) == (503, "overloaded")
    assert error.retry_after is not None and error.retry_after > 0
    assert _shed_count("queueing_delay") == before + 1
    assert len(load) == MIN_IN_FLIGHT  # the requests in flight are untouched
    policy.shedding = False
    load.enter(object())  # type: ignore[arg-type]  # the queue is gone: admitted again
    assert len(load) == MIN_IN_FLIGHT + 1


def test_the_probe_gets_the_most_in_flight_since_it_last_asked():
    """Between two batches of the loop fewer are in flight than the requests admitted saw."""
    load = InFlight()
    tasks = [object() for _ in range(5)]
    for task in tasks:
        load.enter(task)  # type: ignore[arg-type]
    for task in tasks[:4]:
        load.leave(task)  # type: ignore[arg-type]
    assert len(load) == 1
    assert load.take_peak() == 5
    assert load.take_peak() == 1  # since then: the one still in flight


def test_the_hard_cap_still_holds_when_the_lag_is_low():
    load = InFlight(limit=2)
    load.enter(object())  # type: ignore[arg-type]
    load.enter(object())  # type: ignore[arg-type]
    assert not load.lag.shedding
    before = _shed_count("in_flight_limit")
    with pytest.raises(ServiceUnavailableError, match="limit of 2"):
        load.enter(object())  # type: ignore[arg-type]
    assert _shed_count("in_flight_limit") == before + 1


def test_lag_the_process_did_not_cause_sheds_nothing():
    """Timers run late because the kernel gave the core to another process: the loop's thread
    spent little CPU meanwhile, and refusing requests would not give the core back."""
    now = [50.0]
    cpu = [3.0]
    policy = LagPolicy()
    probe = LagProbe(policy, lambda: 10, clock=lambda: now[0], cpu_clock=lambda: cpu[0])
    probe.start(FakeLoop())  # type: ignore[arg-type]
    for _ in range(round(INTERVAL_S * 4 / PROBE_S)):
        now[0] += PROBE_S + OVER  # every timer late...
        cpu[0] += PROBE_S / 4  # ...while the loop ran a quarter of the time
        probe.tick()
        assert probe.last_lag_s == pytest.approx(PROBE_S / 4)
    assert not policy.shedding


def test_only_requests_past_the_concurrency_when_shedding_began_are_shed():
    """A closed-loop client resending each refusal at once cannot starve the process: it keeps
    serving as many at once as it did when the standing queue was found."""
    policy = LagPolicy()
    load = InFlight(lag=policy)
    held = [object() for _ in range(12)]
    for task in held[:10]:
        load.enter(task)  # type: ignore[arg-type]
    policy.observe(OVER, 0.0, len(load))  # the queue begins with 10 in flight
    for task in held[10:]:
        load.enter(task)  # type: ignore[arg-type]  # and grows for an interval
    policy.observe(OVER, INTERVAL_S, len(load))
    assert policy.shedding and policy.knee == 12
    with pytest.raises(ServiceUnavailableError):
        load.enter(object())  # type: ignore[arg-type]
    for task in held[:3]:
        load.leave(task)  # type: ignore[arg-type]
    policy.observe(OVER, INTERVAL_S + PROBE_S, len(load))  # still shedding: the knee holds
    assert policy.knee == 12
    # The lag dips under the target and comes back with fewer in flight: the knee stays.
    policy.observe(UNDER, INTERVAL_S + 2 * PROBE_S, len(load))
    policy.observe(OVER, INTERVAL_S + 3 * PROBE_S, len(load))
    assert policy.shedding and policy.knee == 12
    load.enter(object())  # type: ignore[arg-type]  # under the knee: admitted
    load.enter(object())  # type: ignore[arg-type]
    load.enter(object())  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailableError):
        load.enter(object())  # type: ignore[arg-type]


async def test_the_lag_probe_runs_only_where_the_setting_turns_it_on(tmp_path) -> None:
    """Off by default (a closed-loop load at capacity would get 503s); on with
    general_settings.shed_on_event_loop_lag."""
    import yaml

    from polyroute.config.loader import load_config
    from polyroute.server.app import create_app
    from polyroute.server.state import AppState

    for setting in (None, False, True):
        folder = tmp_path / str(setting)
        folder.mkdir()
        general = {} if setting is None else {"shed_on_event_loop_lag": setting}
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump({"general_settings": general}))
        app = create_app(
            AppState.build(load_config(path, {"POLYROUTE_DATA_DIR": str(folder)}), open_access=True)
        )
        inbox: asyncio.Queue = asyncio.Queue()
        started = asyncio.Event()
        await inbox.put({"type": "lifespan.startup"})

        async def send(message, started=started) -> None:
            if message["type"] == "lifespan.startup.complete":
                started.set()

        lifespan = asyncio.ensure_future(
            app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
        )
        await asyncio.wait_for(started.wait(), 30)
        assert (app.lag_probe._handle is not None) is bool(setting)
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(lifespan, 30)
        assert app.lag_probe._handle is None

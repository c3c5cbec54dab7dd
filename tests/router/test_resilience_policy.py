"""Finer points of the attempt loop: one deadline over every attempt and wait, per-deployment
retry caps, per-error-type cooldown thresholds, Retry-After in all its forms, truthful 429s, and
one log line per failed attempt saying what the router does next."""

from __future__ import annotations

import logging
import time
from email.utils import formatdate

import orjson
import pytest

from polyroute.errors import (
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    UpstreamError,
    UpstreamTimeoutError,
)
from polyroute.providers.base import generic_upstream_error
from polyroute.router.engine import AttemptOutcome
from tests.router.harness import deployment, make_router, run


def upstream(cls, message="boom", **kw):
    return cls(message, provider="mock", **kw)


def by_id(router, dep_id):
    return next(d for d in router.table.deployments if d.id == dep_id)


async def states(router, clock):
    return {a.deployment.id: a for a in await router.health.availability(router.table.deployments, clock())}


async def test_provider_403_cools_only_that_deployment(tmp_path):
    router, clock, up = make_router(
        tmp_path, [deployment("m", "a", weight=1000), deployment("m", "b", weight=0.001)]
    )
    up.add("a", upstream(PermissionDeniedError))
    await run(router, up, "m", num_retries=0)
    assert up.served_by == ["a", "b"] and clock.slept == []
    found = await states(router, clock)
    assert found["a"].cooldown.reason == "403" and found["b"].cooldown is None
    for _ in range(3):
        await run(router, up, "m")
    assert up.served_by[2:] == ["b", "b", "b"]  # the group kept serving, from b only


async def test_allowed_fails_policy_sets_the_threshold_per_error_type(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("m", "a", order=1), deployment("m", "b", order=1)],
        {
            "allowed_fails": 5,
            "allowed_fails_policy": {"TimeoutErrorAllowedFails": 0},
            "num_retries": 0,
        },
    )
    a, b = by_id(router, "a"), by_id(router, "b")
    await router._on_failure(a, [a, b], upstream(UpstreamTimeoutError), False)
    await router._on_failure(b, [a, b], upstream(UpstreamError), False)
    found = await states(router, clock)
    assert found["a"].cooldown is not None and found["a"].cooldown.reason == "allowed_fails"
    assert found["b"].cooldown is None  # a 500 is allowed five times


async def test_deployment_max_retries_caps_retries_on_that_deployment(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a", max_retries=1)], {"num_retries": 5})
    up.add("a", *[upstream(UpstreamError) for _ in range(5)])
    with pytest.raises(UpstreamError):
        await run(router, up, "m")
    assert len(up.calls) == 2  # one retry, not the group's five

    router, clock, up = make_router(
        tmp_path, [deployment("m", "a", weight=1000, max_retries=0), deployment("m", "b", weight=0.001)]
    )
    up.add("a", upstream(UpstreamError))
    await run(router, up, "m")
    assert up.served_by == ["a", "b"] and clock.slept == []  # not retried on a: moved on at once


async def test_one_deadline_covers_every_attempt_and_wait(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a")], {"num_retries": 5})
    up.add("a", *[upstream(UpstreamError) for _ in range(6)])
    with pytest.raises(UpstreamError):
        await run(router, up, "m", deadline_s=2.0)
    # Backoff ~0.5 s and ~1 s fit in 2 s; the third (~2 s) would pass the deadline: not taken.
    assert len(up.calls) == 3 and len(clock.slept) == 2 and sum(clock.slept) < 2.0


async def test_a_deadline_spent_upstream_leaves_no_time_for_fallbacks(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("primary", "p"), deployment("backup", "k")],
        {"fallbacks": [{"primary": ["backup"]}], "num_retries": 3},
    )
    called = []

    async def slow_then_timeout(dep, info):
        called.append(dep.id)
        clock.now += 3.0  # the upstream took 3 s before failing
        raise upstream(UpstreamTimeoutError)

    with pytest.raises(UpstreamTimeoutError):
        await router.execute("primary", run_options(deadline_s=2.0), slow_then_timeout)
    assert called == ["p"]  # neither a retry nor the fallback group: the deadline had passed


def run_options(**kw):
    from polyroute.router.engine import RequestOptions

    return RequestOptions(**kw)


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"retry-after": "3"}, 3.0, 3.0),
        ({"retry-after-ms": "2500", "retry-after": "9"}, 2.5, 2.5),  # ms wins, as in the SDK
        ({"retry-after": "<an HTTP date 7 s ahead>"}, 5.9, 7.0),
    ],
)
async def test_every_retry_after_form_of_a_provider_429_is_waited_for(tmp_path, headers, low, high):
    router, clock, up = make_router(tmp_path, [deployment("m", "a")])
    if headers["retry-after"].startswith("<"):
        # Built here, not at collection: an HTTP date counts from the real wall clock.
        headers = {"retry-after": formatdate(time.time() + 7, usegmt=True)}
    body = orjson.dumps(
        {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}
    )
    error = generic_upstream_error("mock", 429, body, headers)
    assert isinstance(error, RateLimitError)
    up.add("a", error)
    await run(router, up, "m")
    assert len(clock.slept) == 1 and low <= clock.slept[0] <= high


async def test_all_full_429_names_the_sooner_end_of_a_cooldown(tmp_path):
    router, clock, up = make_router(
        tmp_path, [deployment("m", "a", rpm=1), deployment("m", "b")], {"cooldown_time": 1}
    )
    clock.now = 1_800_000_010.0  # the minute window resets in 50 s
    b = by_id(router, "b")
    await router.health.on_failure(b, upstream(RateLimitError, retry_after=10), False, clock())
    await run(router, up, "m")
    assert up.served_by == ["a"]
    with pytest.raises(RateLimitError) as caught:
        await run(router, up, "m")
    assert caught.value.retry_after == pytest.approx(10.0)  # b returns before a's window resets
    clock.now += 10
    await run(router, up, "m")
    assert up.served_by[-1] == "b"


async def test_each_failed_attempt_is_logged_with_what_happens_next(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="polyroute.router")
    router, clock, up = make_router(
        tmp_path,
        [deployment("m", "a", weight=1000), deployment("m", "b", weight=0.001), deployment("other", "o")],
        {"fallbacks": [{"m": ["other"]}], "num_retries": 2},
    )
    up.add("a", upstream(RateLimitError, retry_after=30))
    up.add("b", upstream(UpstreamError), upstream(UpstreamError))
    await run(router, up, "m", request_id="req-log-1")
    assert up.served_by == ["a", "b", "b", "o"]
    lines = [r.getMessage() for r in caplog.records if "req-log-1" in r.getMessage()]
    assert "attempt 1 failed: request=req-log-1 group=m deployment=a provider=mock status=429" in lines[0]
    assert lines[0].endswith("-> retry 1 on another deployment")
    assert "attempt 2 failed" in lines[1] and "deployment=b" in lines[1]
    assert "-> retry 2 in" in lines[1] and "(backoff)" in lines[1]
    assert "attempt 3 failed" in lines[2] and lines[2].endswith("-> gave up: 2 retries spent")
    assert "falling back: request=req-log-1 from=m to=other" in lines[3]
    assert "served after 4 attempts: request=req-log-1 group=other deployment=o fallback=True" in lines[4]
    assert len(lines) == 5

    caplog.clear()
    up.add("o", InvalidRequestError("bad field", param="x", provider="mock"))
    with pytest.raises(InvalidRequestError):
        await run(router, up, "other", request_id="req-log-2")
    [line] = [r.getMessage() for r in caplog.records if "req-log-2" in r.getMessage()]
    assert "status=400" in line and line.endswith("-> gave up: not retryable")
    assert "bad field" not in line  # codes, never provider messages (they may echo input)


async def test_broken_stream_is_logged_and_counted_but_not_retried(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="polyroute.router")
    router, clock, up = make_router(tmp_path, [deployment("m", "a"), deployment("m", "b")])
    broken = AttemptOutcome(failed_after_start=upstream(UpstreamError))
    up.add("m", broken)
    outcome = await run(router, up, "m", request_id="req-log-3")
    assert outcome is broken and len(up.calls) == 1
    [line] = [r.getMessage() for r in caplog.records if "req-log-3" in r.getMessage()]
    assert line.endswith("-> stream already started: ended with an error event")

"""The attempt loop: retries, cooldowns, fallbacks, limits, tiers, deadlines."""

from __future__ import annotations

import pytest

from polyroute.errors import (
    AuthenticationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InvalidRequestError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
    UpstreamTimeoutError,
)
from tests.router.harness import deployment, make_router, run


def upstream(cls, message="boom", **kw):
    return cls(message, provider="mock", **kw)


async def test_retries_a_5xx_with_backoff_then_succeeds(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a")])
    up.add("a", upstream(UpstreamError), upstream(UpstreamError))
    await run(router, up, "m")
    assert up.served_by == ["a", "a", "a"]
    assert len(clock.slept) == 2 and 0.375 <= clock.slept[0] <= 0.625 and 0.75 <= clock.slept[1] <= 1.25


async def test_gives_up_after_num_retries(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a")], {"num_retries": 1})
    up.add("a", upstream(UpstreamError), upstream(UpstreamError), upstream(UpstreamError))
    with pytest.raises(UpstreamError):
        await run(router, up, "m")
    assert len(up.calls) == 2
    up.add("a", upstream(UpstreamError))
    with pytest.raises(UpstreamError):
        await run(router, up, "m", num_retries=0)  # per-request override


@pytest.mark.parametrize("error", [InvalidRequestError("bad"), ContextWindowExceededError("long")])
async def test_client_errors_are_not_retried(tmp_path, error):
    router, clock, up = make_router(tmp_path, [deployment("m", "a"), deployment("m", "b")])
    up.add("m", error)
    with pytest.raises(type(error)):
        await run(router, up, "m")
    assert len(up.calls) == 1 and clock.slept == []


async def test_retry_after_is_honoured_on_a_single_deployment(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a")])
    up.add("a", upstream(RateLimitError, retry_after=2.5))
    await run(router, up, "m")
    assert clock.slept == [2.5]


async def test_provider_auth_failure_cools_that_deployment_and_moves_on_at_once(tmp_path):
    router, clock, up = make_router(
        tmp_path, [deployment("m", "a", weight=1000), deployment("m", "b", weight=0.001)]
    )
    up.add("a", upstream(AuthenticationError))
    await run(router, up, "m", num_retries=0)  # moving on spends no retry
    assert up.served_by == ["a", "b"] and clock.slept == []
    avail = await router.health.availability(router.table.deployments, clock())
    assert avail[0].cooldown.reason == "401" and avail[1].cooldown is None


async def test_429_cools_for_the_longer_retry_after_and_traffic_moves(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("m", "a", weight=1000), deployment("m", "b", weight=0.001)],
        {"cooldown_time": 5},
    )
    up.add("a", upstream(RateLimitError, retry_after=30))
    await run(router, up, "m")
    assert up.served_by == ["a", "b"] and clock.slept == []  # switched without waiting
    for _ in range(3):
        await run(router, up, "m")
    assert up.served_by[2:] == ["b", "b", "b"]
    clock.now += 31
    await run(router, up, "m")  # cooldown over: a is back (its probe succeeds)
    assert up.served_by[-1] == "a"
    states = {a.deployment.id: a for a in await router.health.availability(router.table.deployments, clock())}
    assert states["a"].probing is False and states["a"].cooldown is None


async def test_allowed_fails_then_cooldown_then_half_open_probe(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("m", "a", order=1), deployment("m", "b", order=2)],
        {"allowed_fails": 2, "cooldown_time": 10, "num_retries": 0},
    )
    for _ in range(2):
        up.add("a", upstream(UpstreamError))
        with pytest.raises(UpstreamError):
            await run(router, up, "m")
    # a third failure exceeds allowed_fails: a cools down; tier 2 (b) takes over
    up.add("a", upstream(UpstreamError))
    with pytest.raises(UpstreamError):
        await run(router, up, "m")
    await run(router, up, "m")
    assert up.served_by[-1] == "b"
    clock.now += 10.5
    # half-open: a is probed; its probe fails and it cools again at once
    up.add("a", upstream(UpstreamError))
    with pytest.raises(UpstreamError):
        await run(router, up, "m")
    assert up.served_by[-1] == "a"
    await run(router, up, "m")
    assert up.served_by[-1] == "b"
    clock.now += 10.5
    await run(router, up, "m")  # probe succeeds: a is healthy again
    await run(router, up, "m")
    assert up.served_by[-2:] == ["a", "a"]


async def test_fallbacks_after_the_group_fails(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("primary", "p"), deployment("backup", "k")],
        {"fallbacks": [{"primary": ["backup"]}], "num_retries": 1},
    )
    up.add("p", upstream(ServiceUnavailableError), upstream(ServiceUnavailableError))
    await run(router, up, "primary")
    assert up.served_by == ["p", "p", "k"]
    last = up.calls[-1][1]
    assert last.fallback is True and last.model_group == "backup" and last.number == 3


async def test_a_failed_request_says_how_many_attempts_it_made(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("primary", "p"), deployment("backup", "k")],
        {"fallbacks": [{"primary": ["backup"]}], "num_retries": 1},
    )
    up.add("p", upstream(ServiceUnavailableError), upstream(ServiceUnavailableError))
    up.add("k", upstream(UpstreamError), upstream(UpstreamError))
    with pytest.raises(UpstreamError) as caught:
        await run(router, up, "primary")
    headers = caught.value.response_headers()
    assert headers["x-polyroute-attempts"] == "4" and headers["x-polyroute-fallback"] == "true"
    with pytest.raises(InvalidRequestError) as refused:
        up.add("p", InvalidRequestError("bad field", param="x"))
        await run(router, up, "primary")
    headers = refused.value.response_headers()
    assert headers["x-polyroute-attempts"] == "1" and headers["x-polyroute-fallback"] == "false"


async def test_per_request_fallbacks_and_default_fallbacks(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("a", "a"), deployment("b", "b"), deployment("c", "c")],
        {"default_fallbacks": ["c"], "num_retries": 0},
    )
    up.add("a", upstream(UpstreamError))
    await run(router, up, "a", fallbacks=["b"])
    assert up.served_by == ["a", "b"]
    up.add("a", upstream(UpstreamError))
    await run(router, up, "a")
    assert up.served_by[-1] == "c"


async def test_no_fallback_for_a_bad_request(tmp_path):
    router, clock, up = make_router(
        tmp_path, [deployment("a", "a"), deployment("b", "b")], {"fallbacks": [{"a": ["b"]}]}
    )
    up.add("a", InvalidRequestError("bad field", param="x"))
    with pytest.raises(InvalidRequestError):
        await run(router, up, "a")
    assert up.served_by == ["a"]


async def test_context_window_fallback_before_the_call_and_after_the_error(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("small", "s", model_info={"max_input_tokens": 100}), deployment("big", "g")],
        {"context_window_fallbacks": [{"small": ["big"]}]},
    )
    await run(router, up, "small", prompt_tokens=5000)
    assert up.served_by == ["g"]  # the small deployment was never called
    up.add("s", upstream(ContextWindowExceededError))
    await run(router, up, "small", prompt_tokens=50)
    assert up.served_by[-2:] == ["s", "g"]


async def test_content_policy_fallback(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("strict", "s"), deployment("lenient", "l")],
        {"content_policy_fallbacks": [{"strict": ["lenient"]}]},
    )
    up.add("s", upstream(ContentPolicyViolationError))
    await run(router, up, "strict")
    assert up.served_by == ["s", "l"]


async def test_rpm_limit_spills_to_the_other_deployment_then_429_with_true_retry_after(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a", rpm=2), deployment("m", "b", rpm=1)])
    clock.now = 1_800_000_010.0  # 50 s before the next minute window
    for _ in range(3):
        await run(router, up, "m")
    assert sorted(up.served_by) == ["a", "a", "b"]
    with pytest.raises(RateLimitError) as caught:
        await run(router, up, "m")
    assert caught.value.retry_after == pytest.approx(50.0)
    clock.now += 50
    await run(router, up, "m")  # a new window


async def test_tpm_limit_uses_estimate_and_reconciles(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a", tpm=100)])
    from polyroute.router.engine import AttemptOutcome

    up.add("a", AttemptOutcome(usage={"total_tokens": 90}))
    await run(router, up, "m", prompt_tokens=20)
    used = await router.state.window_usage(["tpm:a"], 60, clock())
    assert used == [90]  # estimate 20, reconciled to the provider's 90
    with pytest.raises(RateLimitError):
        await run(router, up, "m", prompt_tokens=20)


async def test_tpm_counts_what_a_stream_sent_when_the_provider_reported_no_usage(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a", tpm=1000)])
    from polyroute.router.engine import AttemptOutcome

    broken = AttemptOutcome(usage=None, failed_after_start=UpstreamError("reset"), produced_tokens=30)
    up.add("a", broken)
    await run(router, up, "m", prompt_tokens=20)
    used = await router.state.window_usage(["tpm:a"], 60, clock())
    assert used == [50]  # the prompt's 20 and the 30 tokens sent before the stream broke


async def test_a_prompt_over_every_tpm_limit_gets_no_false_retry_after(tmp_path):
    router, clock, up = make_router(
        tmp_path,
        [deployment("m", "small", tpm=100), deployment("m", "smaller", tpm=50), deployment("big", "b")],
        {"fallbacks": [{"m": ["big"]}]},
    )
    await run(router, up, "m", prompt_tokens=80)
    assert up.served_by == ["small"]  # the one whose limit can take it
    with pytest.raises(RateLimitError) as caught:
        await run(router, up, "m", prompt_tokens=500, fallbacks=[])
    # No window will ever admit 500 tokens here: no Retry-After, and no call was made.
    assert caught.value.retry_after is None and caught.value.code == "prompt_over_tpm_limit"
    assert "retry-after" not in caught.value.response_headers()
    assert up.served_by == ["small"]
    await run(router, up, "m", prompt_tokens=500)  # the configured fallback takes it
    assert up.served_by == ["small", "b"]


async def test_priority_tiers(tmp_path):
    router, clock, up = make_router(
        tmp_path, [deployment("m", "t2", order=2), deployment("m", "t1", order=1)], {"cooldown_time": 30}
    )
    for _ in range(5):
        await run(router, up, "m")
    assert set(up.served_by) == {"t1"}
    up.add("t1", upstream(RateLimitError))
    await run(router, up, "m")
    assert up.served_by[-2:] == ["t1", "t2"]


async def test_every_deployment_cooling_is_503_or_waits_when_allowed(tmp_path):
    models = [deployment("m", "a"), deployment("m", "b")]
    router, clock, up = make_router(tmp_path, models, {"cooldown_time": 3, "num_retries": 0})
    up.add("a", upstream(AuthenticationError))
    up.add("b", upstream(AuthenticationError))
    with pytest.raises(AuthenticationError):
        await run(router, up, "m")
    with pytest.raises(ServiceUnavailableError) as caught:
        await run(router, up, "m")
    assert caught.value.retry_after == pytest.approx(3.0)
    router2, clock2, up2 = make_router(tmp_path, models, {"cooldown_time": 3, "wait_for_cooldown": 5})
    up2.add("a", upstream(AuthenticationError))
    up2.add("b", upstream(AuthenticationError))
    with pytest.raises(AuthenticationError):
        await run(router2, up2, "m")
    await run(router2, up2, "m")  # waited for the cooldown instead of failing
    assert clock2.slept and clock2.slept[-1] == pytest.approx(3.0)


async def test_deadline_stops_retries(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a")], {"num_retries": 5})
    up.add("a", upstream(RateLimitError, retry_after=30))
    with pytest.raises(RateLimitError):
        await run(router, up, "m", deadline_s=10)
    assert len(up.calls) == 1 and clock.slept == []  # waiting 30 s would blow the 10 s deadline


async def test_retry_policy_per_error_type(tmp_path):
    router, clock, up = make_router(
        tmp_path, [deployment("m", "a")], {"num_retries": 3, "retry_policy": {"TimeoutErrorRetries": 0}}
    )
    up.add("a", upstream(UpstreamTimeoutError))
    with pytest.raises(UpstreamTimeoutError):
        await run(router, up, "m")
    assert len(up.calls) == 1


async def test_retry_budget_stops_a_retry_storm(tmp_path):
    # Retries may add half the load: every second failing request gets its retry, no more.
    router, clock, up = make_router(
        tmp_path,
        [deployment("m", "a")],
        {"num_retries": 1, "retry_budget_ratio": 0.5, "retry_budget_min_per_s": 0},
    )
    up.add("a", *[upstream(UpstreamError) for _ in range(20)])
    calls_per_request = []
    for _ in range(4):
        before = len(up.calls)
        with pytest.raises(UpstreamError):
            await run(router, up, "m")
        calls_per_request.append(len(up.calls) - before)
    assert calls_per_request == [1, 2, 1, 2]


async def test_model_group_alias(tmp_path):
    router, clock, up = make_router(
        tmp_path, [deployment("gpt-4o", "a")], {"model_group_alias": {"fast": "gpt-4o"}}
    )
    await run(router, up, "fast")
    assert up.served_by == ["a"]


async def test_workers_without_shared_state_split_limits(tmp_path):
    # Two worker processes on local state each take half of every limit: 4 rpm -> 2 here.
    router, clock, up = make_router(tmp_path, [deployment("m", "a", rpm=4)])
    router.limit_share = 2
    for _ in range(2):
        await run(router, up, "m")
    with pytest.raises(RateLimitError):
        await run(router, up, "m")


async def test_a_prompt_over_a_workers_share_of_tpm_says_why(tmp_path):
    router, clock, up = make_router(tmp_path, [deployment("m", "a", tpm=1000)])
    router.limit_share = 2  # two workers on local state: 500 each
    with pytest.raises(RateLimitError) as caught:
        await run(router, up, "m", prompt_tokens=600)
    assert caught.value.retry_after is None and "each of 2 worker processes holds 1/2" in caught.value.message

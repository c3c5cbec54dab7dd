"""`traced`: the wrapper the server puts around the attempt coroutine it hands the router, so
that each attempt's span is recorded without the router knowing of tracing."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from polyroute.config.loader import load_config
from polyroute.errors import RateLimitError, UpstreamError
from polyroute.observability.tracing import RequestTrace, request_params, traced
from polyroute.router.engine import AttemptInfo, AttemptOutcome, RequestOptions, Router
from polyroute.state.memory import MemoryState


@pytest.fixture
def router(tmp_path) -> Router:
    path = tmp_path / "config.yaml"
    entries = [
        {"model_name": "m", "litellm_params": {"model": "mock/a"}},
        {"model_name": "m", "litellm_params": {"model": "mock/b"}},
    ]
    path.write_text(yaml.safe_dump({"model_list": entries, "router_settings": {"num_retries": 2}}))
    config = load_config(path, {})
    return Router(config.models, config.router, MemoryState(), sleep=_no_wait)


async def _no_wait(seconds: float) -> None:
    """The router's backoff, spent at once (the test is about what is noted, not when)."""


async def test_each_attempt_the_router_makes_is_noted_with_how_it_ended(router) -> None:
    trace = RequestTrace("POST", "/v1/chat/completions", None, None)
    results = [RateLimitError("slow down"), AttemptOutcome(failed_after_start=UpstreamError("cut"))]

    async def attempt(deployment, info: AttemptInfo) -> AttemptOutcome:
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    await router.execute("m", RequestOptions(), traced(attempt, trace))
    assert [(a.error_type, a.status) for a in trace.attempts] == [
        ("rate_limit_error", 429),
        ("api_error", None),  # a stream broken after its first byte (UpstreamError is an api_error)
    ]
    assert all(0 < a.start_ns <= a.end_ns for a in trace.attempts)
    assert {a.deployment.model_name for a in trace.attempts} == {"m"}


async def test_a_cancelled_attempt_is_noted_as_cancelled(router) -> None:
    trace = RequestTrace("POST", "/v1/chat/completions", None, None)

    async def attempt(deployment, info: AttemptInfo) -> AttemptOutcome:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await traced(attempt, trace)(router.resolve("m")[0], None)  # type: ignore[arg-type]
    assert [a.error_type for a in trace.attempts] == ["cancelled"] and trace.attempts[0].end_ns


def test_without_a_trace_the_attempt_runs_as_it_is() -> None:
    async def attempt(deployment, info: AttemptInfo) -> AttemptOutcome:
        return AttemptOutcome()

    assert traced(attempt, None) is attempt


def test_the_request_parameters_become_span_attributes() -> None:
    params = request_params({"temperature": 0.2, "max_tokens": 5, "stop": "x", "seed": True, "top_p": "1"})
    assert params == {
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 5,
        "gen_ai.request.stop_sequences": ["x"],
    }

"""The application never notices a failing provider: retries, failover, fallbacks, cooldowns,
seen through the openai SDK against real loopback upstreams."""

from __future__ import annotations

import time

import httpx
import openai
import orjson
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Error, Reply, free_port
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer

KEY = "sk-fake-openai-key-0123456789abcdef"
MASTER = "sk-resilience-master-0123456789"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def upstreams():
    with FakeOpenAI(api_key=KEY) as a, FakeOpenAI(api_key=KEY) as b, FakeAnthropic() as c:
        yield a, b, c


@pytest.fixture
def pair(upstreams, tmp_path):
    """Group 'gpt' = primary (a, tier 1) + secondary (b, tier 2); 'claude' is the fallback group."""
    a, b, c = upstreams
    for fake in (a, b, c):
        fake.reset()
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-a",
                    "api_base": a.url + "/v1",
                    "api_key": KEY,
                    "order": 1,
                    "stream_timeout": 0.5,
                    "tpm": 1_000_000,
                },
                "model_info": {"id": "dep-a"},
            },
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-b",
                    "api_base": b.url + "/v1",
                    "api_key": KEY,
                    "order": 2,
                },
                "model_info": {"id": "dep-b"},
            },
            {
                "model_name": "claude",
                "litellm_params": {"model": "anthropic/claude-x", "api_base": c.url, "api_key": "sk-ant-x"},
                "model_info": {"id": "dep-c"},
            },
            {
                "model_name": "tiny",
                "litellm_params": {"model": "openai/gpt-tiny", "api_base": b.url + "/v1", "api_key": KEY},
                "model_info": {"id": "dep-tiny", "max_input_tokens": 50},
            },
            {
                "model_name": "down",
                "litellm_params": {
                    "model": "openai/gpt-down",
                    "api_base": f"http://127.0.0.1:{free_port()}/v1",
                    "api_key": KEY,
                },
                "model_info": {"id": "dep-down"},
            },
        ],
        "general_settings": {"master_key": MASTER},
        "router_settings": {
            "num_retries": 2,
            "cooldown_time": 30,
            "allowed_fails": 1,
            "stream_idle_timeout": 1.0,
            "fallbacks": [{"gpt": ["claude"]}, {"down": ["gpt"]}],
            "context_window_fallbacks": [{"gpt": ["claude"]}, {"tiny": ["claude"]}],
            "content_policy_fallbacks": [{"gpt": ["claude"]}],
        },
    }
    with GatewayServer(config, tmp_path) as gw:
        yield gw, a, b, c


def test_429_fails_over_to_the_other_deployment_and_cools_the_first(pair):
    gw, a, b, _ = pair
    a.script(Error(429, message="slow down", headers={"retry-after": "20"}))
    b.script(Reply(text="from b"))
    raw = gw.client().chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "from b"
    assert raw.headers["x-polyroute-deployment"] == "dep-b"
    assert raw.headers["x-polyroute-attempts"] == "2"
    assert raw.headers["x-polyroute-fallback"] == "false"
    assert raw.parse().model == "gpt-b"  # what actually answered
    # a is cooling down: the next request does not touch it
    gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert len(a.requests) == 1 and len(b.requests) == 2
    health = httpx.get(gw.url + "/health", headers={"authorization": f"Bearer {MASTER}"}).json()
    states = {d["id"]: d for d in health["deployments"]}
    assert states["dep-a"]["state"] == "cooling_down" and states["dep-a"]["cooldown_reason"] == "429"
    assert 25 < states["dep-a"]["cooldown_remaining_s"] <= 30
    assert states["dep-b"]["state"] == "healthy" and health["unhealthy_count"] == 1
    assert KEY not in str(health)


@pytest.mark.parametrize("failure", [Error(500), Error(503), Reply(malformed=True)])
def test_server_errors_and_garbage_are_retried_then_moved_elsewhere(pair, failure):
    gw, a, b, _ = pair
    # allowed_fails is 1: the first failure is retried on tier 1, the second cools dep-a and
    # the request moves to tier 2.
    a.script(failure, failure)
    raw = gw.client().chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-polyroute-deployment"] == "dep-b" and raw.headers["x-polyroute-attempts"] == "3"
    assert len(a.requests) == 2 and len(b.requests) == 1


def test_connection_refused_falls_back_to_the_fallback_group(pair):
    gw, a, _, _ = pair
    raw = gw.client().chat.completions.with_raw_response.create(model="down", messages=MESSAGES)
    assert raw.headers["x-polyroute-fallback"] == "true"
    assert raw.headers["x-polyroute-model-group"] == "gpt"
    assert len(a.requests) == 1


def test_group_exhausted_falls_back_to_another_provider(pair):
    gw, a, b, c = pair
    a.script(Error(503), Error(503))  # the second failure cools dep-a
    b.script(Error(503))  # third attempt: num_retries (2) is spent
    raw = gw.client().chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
    assert raw.headers["x-polyroute-provider"] == "anthropic"
    assert raw.headers["x-polyroute-fallback"] == "true"
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-polyroute-attempts"] == "4"
    assert (len(a.requests), len(b.requests), len(c.requests)) == (2, 1, 1)


def test_per_request_fallbacks_and_num_retries(pair):
    gw, a, b, c = pair
    a.script(Error(500), Error(500))
    raw = gw.client().chat.completions.with_raw_response.create(
        model="gpt", messages=MESSAGES, extra_body={"num_retries": 1, "fallbacks": ["claude"]}
    )
    assert b.requests == []
    assert raw.headers["x-polyroute-provider"] == "anthropic"
    assert raw.headers["x-polyroute-attempts"] == "3"


def test_bad_request_is_not_retried_or_fallen_back(pair):
    gw, a, b, c = pair
    a.script(Error(400, message="bad param"))
    with pytest.raises(openai.BadRequestError):
        gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert len(a.requests) == 1 and b.requests == [] and c.requests == []


def test_a_failed_request_says_how_many_attempts_were_made(pair):
    gw, a, b, c = pair
    a.script(Error(503))
    c.script(Error(400, message="bad thing"))  # the fallback group refuses it: not retried
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().chat.completions.create(
            model="gpt", messages=MESSAGES, extra_body={"num_retries": 0, "fallbacks": ["claude"]}
        )
    headers = caught.value.response.headers
    assert headers["x-polyroute-attempts"] == "2" and headers["x-polyroute-fallback"] == "true"
    assert len(a.requests) == 1 and b.requests == [] and len(c.requests) == 1


@pytest.mark.parametrize(
    "refusal",
    [
        Error(400, message="maximum context length is 8192 tokens", code="context_length_exceeded"),
        Error(400, message="flagged by the content filter", code="content_filter"),
    ],
    ids=["context_window", "content_policy"],
)
def test_context_window_and_content_policy_errors_use_their_own_fallbacks(pair, refusal):
    gw, a, b, c = pair
    a.script(refusal)
    raw = gw.client().chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
    assert (
        raw.headers["x-polyroute-provider"] == "anthropic" and raw.headers["x-polyroute-fallback"] == "true"
    )
    # Not retried and not tried on tier 2: the same request would fail there too.
    assert len(a.requests) == 1 and b.requests == [] and len(c.requests) == 1
    assert raw.headers["x-polyroute-attempts"] == "2"


def test_prompt_over_max_input_tokens_goes_to_the_context_fallback_before_any_call(pair):
    gw, a, b, c = pair
    long_prompt = [{"role": "user", "content": "word " * 400}]  # ~500 tokens > 50
    raw = gw.client().chat.completions.with_raw_response.create(model="tiny", messages=long_prompt)
    assert raw.headers["x-polyroute-model-group"] == "claude" and raw.headers["x-polyroute-attempts"] == "1"
    assert b.requests == [] and len(c.requests) == 1  # the small model was never called
    short = gw.client().chat.completions.with_raw_response.create(model="tiny", messages=MESSAGES)
    assert short.headers["x-polyroute-deployment"] == "dep-tiny"


def test_stream_failing_before_first_byte_is_retried_transparently(pair):
    gw, a, b, _ = pair
    a.script(Reply(text="never", drop_after=0), Reply(text="streamed on the retry"))
    chunks = list(gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed on the retry"
    assert len(a.requests) == 2


def test_stream_with_no_first_byte_in_time_is_retried(pair):
    gw, a, b, _ = pair
    a.script(Reply(text="late", ttfb=2.0), Reply(text="late", ttfb=2.0))  # dep-a's stream_timeout is 0.5 s
    b.script(Reply(text="on time"))  # the second timeout cools dep-a; tier 2 answers
    chunks = list(gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "on time"


def test_stream_broken_after_first_byte_ends_with_an_error(pair):
    gw, a, b, _ = pair
    a.script(Reply(text="one two three four", drop_after=3))
    with pytest.raises(openai.APIError):
        list(gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
    assert b.requests == []  # bytes had reached the client: no silent restart elsewhere


def test_a_broken_stream_counts_what_it_sent_against_tpm(pair):
    from polyroute.router.tokens import estimate_prompt_tokens

    gw, a, _, _ = pair
    a.script(Reply(text="one two three four five six", drop_after=4))  # no usage chunk arrives
    with pytest.raises(openai.APIError):
        list(gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
    prompt = estimate_prompt_tokens({"model": "gpt", "messages": MESSAGES})
    # The router reconciles just after the error event reached the client: wait for it.
    deadline = time.monotonic() + 10
    while True:
        health = httpx.get(gw.url + "/health", headers={"authorization": f"Bearer {MASTER}"}).json()
        used = {d["id"]: d["tpm_used"] for d in health["deployments"]}["dep-a"]
        if used != prompt or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert prompt < used <= prompt + 4  # the prompt's estimate and the content events sent


def test_an_answer_without_usage_counts_its_estimate_against_tpm(pair):
    """An OpenAI-compatible server that sends no `usage`: the answer's text, about four
    characters a token, is reconciled against tpm on top of the prompt's estimate."""
    from polyroute.router.tokens import estimate_prompt_tokens

    gw, a, _, _ = pair
    answer = {
        "id": "chatcmpl-nousage",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-a",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "x" * 400}, "finish_reason": "stop"}
        ],
    }
    a.script(Reply(raw_body=orjson.dumps(answer)))
    reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert reply.choices[0].message.content == "x" * 400 and reply.usage is None
    prompt = estimate_prompt_tokens({"model": "gpt", "messages": MESSAGES})
    health = httpx.get(gw.url + "/health", headers={"authorization": f"Bearer {MASTER}"}).json()
    used = {d["id"]: d["tpm_used"] for d in health["deployments"]}["dep-a"]
    assert used == prompt + 100


def test_stream_stalled_mid_way_ends_at_the_idle_timeout(pair):
    gw, a, b, _ = pair
    a.script(Reply(text="one two three four", stall_after=2))  # then silence, connection open
    stream = gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    # The error event of the gateway (not the client's own 20 s timeout), after
    # router_settings.stream_idle_timeout (1 s) rather than the attempt's 600 s.
    assert type(caught.value) is openai.APIError
    assert "stalled sending its stream (over 1s)" in caught.value.message
    assert b.requests == []


def test_single_deployment_waits_the_providers_retry_after_ms(pair):
    gw, _, _, c = pair
    c.script(
        Error(429, message="slow down", headers={"retry-after-ms": "1200"}), Reply(text="after the wait")
    )
    started = time.monotonic()
    raw = gw.client().chat.completions.with_raw_response.create(model="claude", messages=MESSAGES)
    waited = time.monotonic() - started
    assert raw.parse().choices[0].message.content == "after the wait"
    assert raw.headers["x-polyroute-attempts"] == "2" and len(c.requests) == 2
    assert waited >= 1.15  # the provider's 1.2 s, not the ~0.5 s first backoff


def test_timeout_in_the_body_is_one_deadline_for_every_attempt_and_fallback(pair):
    gw, a, b, c = pair
    a.script(Reply(text="too late", ttfb=3.0))
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().chat.completions.create(model="gpt", messages=MESSAGES, extra_body={"timeout": 0.5})
    assert caught.value.status_code == 504
    # The first attempt used up the 0.5 s: no retry on b and no fallback to claude followed.
    assert len(a.requests) == 1 and b.requests == [] and c.requests == []


def test_logs_say_for_each_attempt_why_the_request_moved_on(pair, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="polyroute.router")
    gw, a, b, c = pair
    a.script(Error(503), Error(503))  # the second cools dep-a
    b.script(Error(500))
    raw = gw.client().chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
    request_id = raw.headers["x-request-id"]
    lines = [r.getMessage() for r in caplog.records if f"request={request_id} " in r.getMessage()]
    assert [line.split(" failed")[0] for line in lines[:3]] == ["attempt 1", "attempt 2", "attempt 3"]
    assert "deployment=dep-a" in lines[0] and "status=503" in lines[0] and "-> retry 1 in" in lines[0]
    assert "deployment=dep-a" in lines[1] and lines[1].endswith("-> retry 2 on another deployment")
    assert "deployment=dep-b" in lines[2] and lines[2].endswith("-> gave up: 2 retries spent")
    assert "falling back: request=" in lines[3] and "from=gpt to=claude" in lines[3]
    assert "served after 4 attempts" in lines[4] and "deployment=dep-c" in lines[4]


def test_overloaded_anthropic_is_a_retryable_503(pair):
    gw, _, _, c = pair
    c.script(Error(529), Reply(text="recovered"))
    assert (
        gw.client().chat.completions.create(model="claude", messages=MESSAGES).choices[0].message.content
        == "recovered"
    )
    assert len(c.requests) == 2


def test_background_probe_finds_a_broken_deployment_before_any_client(upstreams, tmp_path):
    a, b, _ = upstreams
    a.reset()
    b.reset()
    a.default = Error(401, message="key revoked")
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-a", "api_base": a.url + "/v1", "api_key": KEY},
                "model_info": {"id": "probe-a"},
            },
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-b", "api_base": b.url + "/v1", "api_key": KEY},
                "model_info": {"id": "probe-b"},
            },
        ],
        "general_settings": {
            "master_key": MASTER,
            "background_health_checks": True,
            "health_check_interval": 60,
        },
    }
    try:
        with GatewayServer(config, tmp_path) as gw:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (a.requests and b.requests):
                time.sleep(0.05)
            time.sleep(0.2)
            health = httpx.get(gw.url + "/health", headers={"authorization": f"Bearer {MASTER}"}).json()
            # (the built-in mock-gpt is probed too, and healthy)
            states = {d["id"]: d["state"] for d in health["deployments"] if d["model_name"] == "gpt"}
            assert states == {"probe-a": "cooling_down", "probe-b": "healthy"}
            assert a.requests[0].json["max_tokens"] == 1
            for _ in range(3):
                gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
            assert len(a.requests) == 1  # clients never met the broken deployment
    finally:
        a.reset()


def test_router_stream_timeout_bounds_the_first_byte_of_deployments_without_their_own(upstreams, tmp_path):
    _, b, _ = upstreams
    b.reset()
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-b", "api_base": b.url + "/v1", "api_key": KEY},
            }
        ],
        "general_settings": {"master_key": MASTER},
        "router_settings": {"num_retries": 0, "stream_timeout": 0.5},
    }
    b.script(Reply(text="late", ttfb=3.0))
    with GatewayServer(config, tmp_path) as gw:
        with pytest.raises(openai.InternalServerError) as caught:
            list(gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
    assert caught.value.status_code == 504
    assert "starting its stream (over 0.5s)" in caught.value.message  # not the 600 s default
    b.reset()

"""Unmodified FastChat workers (a protocol-faithful fake) register with the gateway's controller and
serve /v1/chat/completions and /v1/embeddings through the openai SDK: lifecycle with an injected
clock, failover when a worker dies mid-request, a group mixing a worker and a provider."""

from __future__ import annotations

import time

import openai
import pytest

from tests.controller.support import (
    MASTER,
    TOKEN_ALL,
    controller_post,
    serving_config,
    with_token,
)
from tests.fakes.base import Error, Reply
from tests.fakes.fastchat_worker import FakeFastChatWorker
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.state.support import FakeClock

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def workers():
    with FakeFastChatWorker(["vicuna"]) as a, FakeFastChatWorker(["vicuna"]) as b:
        yield a, b


@pytest.fixture(scope="module")
def provider():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def gateway(workers, provider, tmp_path):
    for fake in (*workers, provider):
        fake.reset()
    with GatewayServer(serving_config(provider.url), tmp_path) as server:
        yield server


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_fastchat_worker_serves_chat_streamed_and_not(gateway, workers):
    worker, _ = workers
    worker.script(
        Reply(text="Hello there friend", finish="stop"), Reply(text="Hi again you", finish="length")
    )
    response = worker.register(with_token(gateway.url, TOKEN_ALL))
    assert response.status_code == 200 and response.json() is None  # FastChat's answer: null
    client = gateway.client()
    assert "vicuna" in [m.id for m in client.models.list().data]

    raw = client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES, max_tokens=20)
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello there friend"
    assert reply.choices[0].finish_reason == "stop"
    assert raw.headers["x-polyroute-provider"] == "fastchat_worker"
    assert raw.headers["x-polyroute-deployment"] == f"worker:{worker.address}:vicuna"
    assert reply.usage.completion_tokens == 3
    sent = [r for r in worker.requests if r.path == "/worker_generate_stream"][0].json
    # FastChat's own API server would send exactly this for the one_shot template.
    assert sent["prompt"] == (
        "Be brief.\n### Human: Got any creative ideas for a 10 year old’s birthday?\n### "
        "Assistant: Of course!\n### Human: Say hello\n### Assistant:"
    )
    assert (sent["model"], sent["max_new_tokens"], sent["echo"], sent["stop"]) == (
        "vicuna",
        20,
        False,
        ["###"],
    )
    assert [r.path for r in worker.requests].count("/worker_get_conv_template") == 1

    stream = client.chat.completions.create(
        model="vicuna", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hi again you"  # cumulative FastChat text became deltas
    assert [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content] == [
        "Hi ",
        "again ",
        "you",
    ]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    # The template is cached per worker and model: fetched once for both requests.
    assert [r.path for r in worker.requests].count("/worker_get_conv_template") == 1


def test_fastchat_worker_embeddings_in_batches(gateway, workers, monkeypatch):
    worker, _ = workers
    worker.register(with_token(gateway.url, TOKEN_ALL))
    inputs = ["one", "two two", "three", "four", "five", "six"]
    result = gateway.client().embeddings.create(model="vicuna", input=inputs)
    assert [d.index for d in result.data] == list(range(6)) and len(result.data[0].embedding) == 4
    assert result.usage.prompt_tokens == 7
    batches = [r.json["input"] for r in worker.requests if r.path == "/worker_get_embeddings"]
    assert batches == [inputs[:4], inputs[4:]]  # FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE = 4


def test_worker_error_codes_reach_the_client_as_openai_errors(gateway, workers):
    worker, _ = workers
    worker.register(with_token(gateway.url, TOKEN_ALL))
    worker.script(Error(400, code="40303", message="too long"))
    client = gateway.client()
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="vicuna", messages=MESSAGES)
    assert caught.value.code == "context_length_exceeded"
    assert "FastChat worker error 40303" in caught.value.message


def test_lifecycle_register_heartbeat_expiry_deregister(gateway, workers):
    worker, _ = workers
    clock = FakeClock(1_000_000.0)
    gateway.state.directory.clock = clock
    controller = with_token(gateway.url, TOKEN_ALL)
    assert worker.register(controller).status_code == 200
    client = gateway.client()
    assert "vicuna" in [m.id for m in client.models.list().data]
    clock.advance(80)
    assert worker.heartbeat(controller).json() == {"exist": True}  # the TTL starts again
    clock.advance(80)
    assert client.chat.completions.create(model="vicuna", messages=MESSAGES).choices[0].message.content
    clock.advance(11)  # 91 s without a heartbeat (FASTCHAT_CONTROLLER_HEART_BEAT_EXPIRATION = 90)
    wait_for(lambda: "vicuna" not in [m.id for m in client.models.list().data])
    with pytest.raises(openai.InternalServerError) as caught:  # its only worker is gone: 503
        client.chat.completions.create(model="vicuna", messages=MESSAGES)
    assert caught.value.status_code == 503
    assert worker.heartbeat(controller).json() == {"exist": False}  # FastChat's worker re-registers
    assert worker.register(controller).status_code == 200
    assert "vicuna" in [m.id for m in client.models.list().data]
    gone = controller_post(gateway.url, "/deregister_worker", {"worker_name": worker.address}, TOKEN_ALL)
    assert gone.json() == {"removed": True}
    assert "vicuna" not in [m.id for m in client.models.list().data]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="never-served", messages=MESSAGES)


def test_failover_when_a_worker_dies_mid_request(gateway, workers):
    a, b = workers
    controller = with_token(gateway.url, TOKEN_ALL)
    a.register(controller)
    b.queue_length = 5  # shortest_queue (the default dispatch) tries a first
    try:
        b.register(controller)
    finally:
        b.queue_length = 0
    a.script(Reply(text="partial answer that never ends", drop_after=1))
    b.script(Reply(text="from the survivor"))
    client = gateway.client()
    raw = client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "from the survivor"
    assert raw.headers["x-polyroute-attempts"] == "2"
    assert raw.headers["x-polyroute-deployment"] == f"worker:{b.address}:vicuna"
    assert [r.path for r in a.requests if r.path == "/worker_generate_stream"] == ["/worker_generate_stream"]
    # A stream whose worker dies before its first byte reached the client fails over invisibly.
    a.script(Reply(text="never sent", drop_after=0))
    b.script(Reply(text="streamed by the other one"))
    chunks = list(client.chat.completions.create(model="vicuna", messages=MESSAGES, stream=True))
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed by the other one"
    )


def test_a_stopped_worker_fails_over_at_once(gateway, workers, tmp_path):
    a, b = workers
    controller = with_token(gateway.url, TOKEN_ALL)
    dead = FakeFastChatWorker(["vicuna"]).start()
    dead.register(controller)
    b.register(controller)
    dead.stop()  # gone without deregistering: still registered until its TTL runs out
    client = gateway.client()
    for _ in range(4):
        raw = client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES)
        assert raw.headers["x-polyroute-deployment"] == f"worker:{b.address}:vicuna"


def test_group_mixing_a_worker_and_a_provider(gateway, workers, provider):
    worker, _ = workers
    client = gateway.client()
    # Before any worker registers, the provider serves the group alone.
    raw = client.chat.completions.with_raw_response.create(model="mixed", messages=MESSAGES)
    assert raw.headers["x-polyroute-deployment"] == "provider-backup"
    worker.model_names = ["mixed"]
    try:
        worker.register(with_token(gateway.url, TOKEN_ALL))
        listed = [m.id for m in client.models.list().data]
        assert listed.count("mixed") == 1
        # The worker serves first while it is healthy ...
        raw = client.chat.completions.with_raw_response.create(model="mixed", messages=MESSAGES)
        assert raw.headers["x-polyroute-provider"] == "fastchat_worker"
        # ... and the provider backs it up when it fails (CUDA out of memory: retryable elsewhere).
        worker.script(Error(500, code="50002", message="CUDA out of memory"))
        raw = client.chat.completions.with_raw_response.create(model="mixed", messages=MESSAGES)
        assert raw.headers["x-polyroute-deployment"] == "provider-backup"
        assert raw.headers["x-polyroute-attempts"] == "2"
        assert any(r.path == "/v1/chat/completions" for r in provider.requests)
    finally:
        worker.model_names = ["vicuna"]


def test_two_gateways_share_one_registry_on_redis(workers, tmp_path):
    import asyncio

    from polyroute.state.redis import RedisState
    from tests.state.support import delete_prefix, redis_client, unique_prefix

    worker, _ = workers
    prefix = unique_prefix()
    first = GatewayServer(serving_config(), tmp_path, shared=RedisState(redis_client(), prefix))
    second = GatewayServer(serving_config(), tmp_path, shared=RedisState(redis_client(), prefix))
    with first, second:
        worker.register(with_token(first.url, TOKEN_ALL))
        # The second process learns of it from the shared registry (refreshed every second).
        wait_for(lambda: "vicuna" in [m.id for m in second.client().models.list().data])
        reply = second.client().chat.completions.create(model="vicuna", messages=MESSAGES)
        assert reply.choices[0].message.content
        # A heartbeat to the second reaches the registration made through the first.
        assert worker.heartbeat(with_token(second.url, TOKEN_ALL)).json() == {"exist": True}
    asyncio.run(delete_prefix(prefix))


def test_controller_read_endpoints(gateway, workers):
    a, b = workers
    controller = with_token(gateway.url, TOKEN_ALL)
    a.register(controller)
    b.speed = 3
    try:
        b.register(controller)
    finally:
        b.speed = 1
    assert controller_post(gateway.url, "/list_models", token=MASTER).json() == {"models": ["vicuna"]}
    status = controller_post(gateway.url, "/worker_get_status", token=MASTER).json()
    assert status == {"model_names": ["vicuna"], "speed": 4.0, "queue_length": 0}
    address = controller_post(gateway.url, "/get_worker_address", {"model": "vicuna"}, MASTER).json()
    assert address["address"] in (a.address, b.address)
    assert controller_post(gateway.url, "/get_worker_address", {"model": "none"}, MASTER).json() == {
        "address": ""
    }
    refreshed = controller_post(gateway.url, "/refresh_all_workers", token=MASTER).json()
    assert sorted(refreshed["refreshed"]) == sorted([a.address, b.address]) and refreshed["removed"] == []
    import httpx

    assert httpx.get(gateway.url + "/test_connection").json() == "success"
    # FastChat's API server puts credentials in the controller URL: HTTP Basic with the master key.
    assert httpx.post(gateway.url + "/list_models", auth=("x", MASTER)).status_code == 200


def test_refresh_all_workers_removes_silent_ones_and_updates_live_ones(gateway, workers):
    live, _ = workers
    controller = with_token(gateway.url, TOKEN_ALL)
    dead = FakeFastChatWorker(["vicuna-dead"]).start()
    dead.register(controller)
    live.register(controller)
    dead.stop()  # gone without deregistering
    live.queue_length = 4  # changed since it registered, no heartbeat sent
    try:
        refreshed = controller_post(gateway.url, "/refresh_all_workers", token=MASTER).json()
    finally:
        live.queue_length = 0
    assert refreshed == {"refreshed": [live.address], "removed": [dead.address]}
    assert controller_post(gateway.url, "/list_models", token=MASTER).json() == {"models": ["vicuna"]}
    status = controller_post(gateway.url, "/worker_get_status", token=MASTER).json()
    assert status["queue_length"] == 4
    assert "vicuna-dead" not in [m.id for m in gateway.client().models.list().data]


def test_fastchat_worker_logprobs_reach_legacy_completions_and_chat(gateway, workers):
    """FastChat's test sequence asks for a completion with logprobs: the gateway emulates it over
    chat for a FastChat worker, asks the worker for its logprobs (fschat computes them when
    `logprobs` is set) and answers them in OpenAI's legacy shape (a 400 before)."""
    worker, _ = workers
    worker.register(with_token(gateway.url, TOKEN_ALL))
    worker.script(Reply(text="Once upon a"), Reply(text="Once upon a"), Reply(text="Hi there"))
    client = gateway.client()
    completion = client.completions.create(model="vicuna", prompt="Tell a story", logprobs=1, max_tokens=16)
    lp = completion.choices[0].logprobs
    assert (lp.tokens, lp.token_logprobs, lp.text_offset) == (
        ["Once ", "upon ", "a"],
        [-0.25, -0.5, -0.75],
        [0, 5, 10],
    )
    assert [r for r in worker.requests if r.path == "/worker_generate_stream"][-1].json["logprobs"] == 1
    stream = client.completions.create(model="vicuna", prompt="Tell a story", logprobs=1, stream=True)
    chunks = [c for c in stream if c.choices and c.choices[0].logprobs]
    assert [t for c in chunks for t in c.choices[0].logprobs.tokens] == ["Once ", "upon ", "a"]
    assert [o for c in chunks for o in c.choices[0].logprobs.text_offset] == [0, 5, 10]
    chat = client.chat.completions.create(model="vicuna", messages=MESSAGES, logprobs=True)
    assert [e.token for e in chat.choices[0].logprobs.content] == ["Hi ", "there"]

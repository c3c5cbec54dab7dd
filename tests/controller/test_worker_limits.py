"""What the gateway does around a FastChat worker's generation, as FastChat's API server does:
the context check with /model_details and /count_token, FASTCHAT_WORKER_API_TIMEOUT and
FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE from the environment; heartbeats' queue lengths steering
shortest_queue dispatch."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.controller.support import TOKEN_ALL, serving_config, with_token
from tests.fakes.base import Reply
from tests.fakes.fastchat_worker import FakeFastChatWorker
from tests.gateway import GatewayServer

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def workers():
    with FakeFastChatWorker(["vicuna"]) as a, FakeFastChatWorker(["vicuna"]) as b:
        yield a, b


@pytest.fixture(autouse=True)
def _fresh(workers):
    for worker in workers:
        worker.reset()
        worker.queue_length = 0
        worker.context_length = 512


def paths(worker, path):
    return [r for r in worker.requests if r.path == path]


def test_context_check_bounds_max_new_tokens_like_fastchats_api_server(workers, tmp_path):
    worker, _ = workers
    with GatewayServer(serving_config(), tmp_path) as gateway:
        worker.register(with_token(gateway.url, TOKEN_ALL))
        client = gateway.client()
        client.chat.completions.create(model="vicuna", messages=MESSAGES, max_tokens=20)
        client.chat.completions.create(model="vicuna", messages=MESSAGES)
        counts = [r.json for r in paths(worker, "/count_token")]
        sent = [r.json for r in paths(worker, "/worker_generate_stream")]
        assert len(counts) == 2 and counts[0]["prompt"] == sent[0]["prompt"]
        prompt_tokens = len(sent[1]["prompt"].split())  # what the fake's /count_token answers
        # max_tokens given: kept; none: the rest of the worker's context (not a fixed 512).
        assert [s["max_new_tokens"] for s in sent] == [20, 512 - prompt_tokens]
        assert len(paths(worker, "/model_details")) == 1  # kept per worker and model


def test_a_prompt_longer_than_the_context_is_refused_before_generating(workers, tmp_path):
    worker, _ = workers
    worker.context_length = 40
    with GatewayServer(serving_config(), tmp_path) as gateway:
        worker.register(with_token(gateway.url, TOKEN_ALL))
        with pytest.raises(openai.BadRequestError) as caught:
            gateway.client().chat.completions.create(
                model="vicuna", messages=[{"role": "user", "content": "word " * 50}], max_tokens=5
            )
        assert caught.value.code == "context_length_exceeded"
        assert "maximum context length is 40 tokens" in caught.value.message
        assert paths(worker, "/worker_generate_stream") == []


def test_worker_api_timeout_from_the_environment_fails_over(workers, tmp_path):
    slow, fast = workers
    env = {"FASTCHAT_WORKER_API_TIMEOUT": "0.5"}
    with GatewayServer(serving_config(), tmp_path, env=env) as gateway:
        assert gateway.loaded.controller.worker_api_timeout_s == 0.5
        controller = with_token(gateway.url, TOKEN_ALL)
        slow.register(controller)
        fast.queue_length = 3  # shortest_queue tries the slow one first
        fast.register(controller)
        slow.script(Reply(text="too late", ttfb=3.0))
        fast.script(Reply(text="in time"))
        raw = gateway.client().chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES)
        assert raw.parse().choices[0].message.content == "in time"
        assert raw.headers["x-polyroute-deployment"] == f"worker:{fast.address}:vicuna"
        assert len(paths(slow, "/worker_generate_stream")) == 1


def test_embedding_batch_size_from_the_environment(workers, tmp_path):
    worker, _ = workers
    env = {"FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE": "2"}
    with GatewayServer(serving_config(), tmp_path, env=env) as gateway:
        worker.register(with_token(gateway.url, TOKEN_ALL))
        inputs = ["a", "b", "c", "d", "e"]
        result = gateway.client().embeddings.create(model="vicuna", input=inputs)
        assert len(result.data) == 5
        assert [r.json["input"] for r in paths(worker, "/worker_get_embeddings")] == [
            ["a", "b"],
            ["c", "d"],
            ["e"],
        ]


def test_heartbeat_queue_lengths_steer_shortest_queue_dispatch(workers, tmp_path):
    a, b = workers
    with GatewayServer(serving_config(), tmp_path) as gateway:
        controller = with_token(gateway.url, TOKEN_ALL)
        a.register(controller)
        b.register(controller)
        client = gateway.client()

        def served_by():
            raw = client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES)
            return raw.headers["x-polyroute-deployment"]

        for busy, idle in ((a, b), (b, a)):
            busy.queue_length, idle.queue_length = 7, 0
            for worker in (a, b):
                assert worker.heartbeat(controller).json() == {"exist": True}
            assert {served_by() for _ in range(4)} == {f"worker:{idle.address}:vicuna"}


def test_heart_beat_expiration_from_the_environment(workers, tmp_path):
    silent, _ = workers
    env = {"FASTCHAT_CONTROLLER_HEART_BEAT_EXPIRATION": "3"}
    with GatewayServer(serving_config(), tmp_path, env=env) as gateway:
        assert gateway.loaded.controller.heart_beat_expiration_s == 3
        controller = with_token(gateway.url, TOKEN_ALL)
        assert silent.register(controller).status_code == 200
        [record] = [w for w in gateway.state.directory.workers() if w.address == silent.address]
        assert record.expires_at - record.heartbeat_at == pytest.approx(3)
        client = gateway.client()
        # No heartbeat follows: the worker leaves after 3 s, not FastChat's default 90 s.
        deadline = time.monotonic() + 30
        while "vicuna" in [m.id for m in client.models.list().data]:
            assert time.monotonic() < deadline, "the worker was not dropped"
            time.sleep(0.1)
        with pytest.raises(openai.InternalServerError) as caught:  # its only worker is gone
            client.chat.completions.create(model="vicuna", messages=MESSAGES)
        assert caught.value.status_code == 503
        assert silent.heartbeat(controller).json() == {"exist": False}
        assert paths(silent, "/worker_generate_stream") == []


def test_lottery_from_the_config_spreads_requests_by_reported_speed(workers, tmp_path):
    import random
    from collections import Counter

    slow, fast = workers
    with GatewayServer(serving_config(dispatch_method="lottery"), tmp_path) as gateway:
        gateway.state.router.rng = random.Random(11)  # a fixed draw; the shares are the lottery's
        controller = with_token(gateway.url, TOKEN_ALL)
        slow.register(controller)
        fast.speed = 4
        try:
            fast.register(controller)
        finally:
            fast.speed = 1
        # A busy fast worker still wins most draws: lottery ignores queue lengths.
        fast.queue_length = 50
        assert fast.heartbeat(controller).json() == {"exist": True}
        client = gateway.client()
        served = Counter(
            client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES).headers[
                "x-polyroute-deployment"
            ]
            for _ in range(60)
        )
        assert set(served) == {f"worker:{slow.address}:vicuna", f"worker:{fast.address}:vicuna"}
        assert served[f"worker:{fast.address}:vicuna"] > 2 * served[f"worker:{slow.address}:vicuna"]


def test_a_model_whose_workers_are_gone_falls_back_to_its_fallbacks(workers, tmp_path):
    worker, _ = workers
    config = serving_config()
    config["router_settings"]["fallbacks"] = [{"vicuna": ["mock-gpt"]}]
    with GatewayServer(config, tmp_path) as gateway:
        controller = with_token(gateway.url, TOKEN_ALL)
        worker.register(controller)
        client = gateway.client()
        raw = client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES)
        assert raw.headers["x-polyroute-provider"] == "fastchat_worker"
        gone = {"worker_name": worker.address}
        removed = httpx.post(
            gateway.url + "/deregister_worker", json=gone, headers={"authorization": f"Bearer {TOKEN_ALL}"}
        )
        assert removed.json() == {"removed": True}
        # Its only worker is gone: an outage (503), so the group's fallbacks serve it.
        raw = client.chat.completions.with_raw_response.create(model="vicuna", messages=MESSAGES)
        assert raw.headers["x-polyroute-fallback"] == "true"
        assert raw.headers["x-polyroute-deployment"] != f"worker:{worker.address}:vicuna"
        assert raw.parse().choices[0].message.content

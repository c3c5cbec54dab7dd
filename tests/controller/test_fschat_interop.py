"""The real thing: an unmodified fschat 0.2.36 model_worker (PyPI's release) serves a tiny model on
CPU, registers with polyroute's controller through `--controller-address
http://worker:TOKEN@host:port`, heartbeats, and answers /v1/chat/completions through the gateway
(streamed and not) in FastChat's own worker protocol.

fschat replaces sys.stdout with a logger when imported, so it runs only in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import openai
import pytest

from tests.controller.support import TOKEN_ALL, serving_config, with_token
from tests.fakes.base import free_port
from tests.gateway import GatewayServer
from tests.worker.tiny_model import build_tiny_model

MESSAGES = [{"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def fschat_worker(tmp_path_factory):
    # fschat's one_shot template alone is ~1,800 tokens for this tiny tokenizer.
    model = build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-fschat", context_length=4096)
    logs = tmp_path_factory.mktemp("fschat-logs")
    port = free_port()
    with GatewayServer(serving_config(), tmp_path_factory.mktemp("gw")) as gateway:
        command = [
            sys.executable,
            "-m",
            "fastchat.serve.model_worker",
            "--model-path",
            str(model),
            "--model-names",
            "fschat-tiny",
            "--device",
            "cpu",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--worker-address",
            f"http://127.0.0.1:{port}",
            "--controller-address",
            with_token(gateway.url, TOKEN_ALL),
        ]
        env = {**os.environ, "FASTCHAT_WORKER_HEART_BEAT_INTERVAL": "1"}
        process = subprocess.Popen(
            command, cwd=logs, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            deadline = time.monotonic() + 180
            while "fschat-tiny" not in [m.id for m in gateway.client().models.list().data]:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise AssertionError("fschat's worker did not register:\n" + process.communicate()[0])
                time.sleep(0.2)
            yield gateway, port
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def test_fschat_model_worker_serves_chat_through_the_gateway(fschat_worker):
    gateway, port = fschat_worker
    client = gateway.client(timeout=60)
    raw = client.chat.completions.with_raw_response.create(
        model="fschat-tiny", messages=MESSAGES, max_tokens=8, temperature=0
    )
    reply = raw.parse()
    assert raw.headers["x-polyroute-provider"] == "fastchat_worker"
    assert raw.headers["x-polyroute-deployment"] == f"worker:http://127.0.0.1:{port}:fschat-tiny"
    assert reply.usage.prompt_tokens > 20  # fschat's one_shot template wraps the message
    assert 1 <= reply.usage.completion_tokens <= 8
    assert reply.choices[0].finish_reason in ("stop", "length")
    chunks = list(
        client.chat.completions.create(
            model="fschat-tiny", messages=MESSAGES, max_tokens=8, temperature=0, stream=True
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == reply.choices[0].message.content  # greedy: the same text either way
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == reply.choices[0].finish_reason


def test_fschat_worker_counts_tokens_for_the_context_check(fschat_worker):
    """As FastChat's API server does: /model_details and /count_token before generating."""
    gateway, _ = fschat_worker
    client = gateway.client(timeout=60)
    long_message = [{"role": "user", "content": "hello world " * 1500}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="fschat-tiny", messages=long_message, max_tokens=8)
    assert caught.value.code == "context_length_exceeded"
    assert "maximum context length is 4096 tokens" in caught.value.message


def test_fschat_worker_heartbeats_reach_the_registry(fschat_worker):
    gateway, port = fschat_worker
    directory = gateway.state.directory
    (first,) = [w.heartbeat_at for w in directory.workers() if w.address == f"http://127.0.0.1:{port}"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        beats = [w.heartbeat_at for w in directory.workers() if w.address == f"http://127.0.0.1:{port}"]
        if beats and beats[0] > first:
            return
        time.sleep(0.2)
    raise AssertionError("no heartbeat from fschat's worker")


def test_fastchats_openai_sequence_on_an_unmodified_fschat_worker(fschat_worker):
    """FastChat's own OpenAI API test sequence (tests/test_openai_api.py) for a model served by
    fschat's model_worker through polyroute: a completion with logprobs (emulated over chat; the
    worker's own logprobs come back in the legacy shape), a streamed completion, a chat, a
    streamed chat and embeddings, which fschat's sequence lets fail with an APIError, as they do
    here: fschat's worker itself answers HTTP 500 for this GPT-2-style model's embeddings)."""
    gateway, _ = fschat_worker
    client = gateway.client(timeout=120)
    assert "fschat-tiny" in [m.id for m in client.models.list().data]
    prompt = "Once upon a time"
    completion = client.completions.create(
        model="fschat-tiny", prompt=prompt, logprobs=1, max_tokens=8, temperature=0
    )
    lp = completion.choices[0].logprobs
    assert lp is not None and lp.tokens and all(v <= 0 for v in lp.token_logprobs)
    streamed = client.completions.create(
        model="fschat-tiny", prompt=prompt, max_tokens=8, stream=True, temperature=0
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == completion.choices[0].text
    chat = client.chat.completions.create(model="fschat-tiny", messages=MESSAGES, max_tokens=8, temperature=0)
    chat_streamed = client.chat.completions.create(
        model="fschat-tiny", messages=MESSAGES, max_tokens=8, stream=True, temperature=0
    )
    text = "".join(c.choices[0].delta.content or "" for c in chat_streamed if c.choices)
    assert text == chat.choices[0].message.content
    try:
        client.embeddings.create(model="fschat-tiny", input="Hello world!")
    except openai.APIError as exc:  # what fschat's test_openai_api.py tolerates
        assert exc.code == "upstream_error"

"""`polyroute worker --engine transformers` on a tiny model built at test time (random weights, a
byte-level BPE tokenizer, a chat template), on CPU: registered with the gateway and used through
the openai SDK, streamed and not, plus embeddings."""

from __future__ import annotations

import pytest

from tests.controller.support import serving_config
from tests.fakes.base import free_port
from tests.gateway import GatewayServer
from tests.worker.support import WorkerProcess
from tests.worker.tiny_model import build_tiny_model

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-chat")


@pytest.fixture(scope="module")
def served(tiny_model, tmp_path_factory):
    port = free_port()
    with GatewayServer(serving_config(), tmp_path_factory.mktemp("gw")) as gateway:
        args = [
            "--engine",
            "transformers",
            "--model-path",
            str(tiny_model),
            "--device",
            "cpu",
            "--port",
            str(port),
        ]
        worker = WorkerProcess(
            [*args, "--controller", gateway.url, "--model-name", "tiny"],
            env={"POLYROUTE_WORKER_TOKEN": "wt-all-models-0123456789abcdef"},
        )
        with worker:
            worker.wait_until(
                lambda: "tiny" in [m.id for m in gateway.client().models.list().data], timeout=120
            )
            yield gateway


def test_chat_plain_and_streamed_agree(served):
    client = served.client(timeout=60)
    reply = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=6, temperature=0)
    text = reply.choices[0].message.content
    usage = reply.usage
    assert isinstance(text, str) and 1 <= usage.completion_tokens <= 6
    assert usage.prompt_tokens > 5  # the chat template's markers and both messages
    assert reply.choices[0].finish_reason == ("length" if usage.completion_tokens == 6 else "stop")
    stream = client.chat.completions.create(
        model="tiny",
        messages=MESSAGES,
        max_tokens=6,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text  # greedy decoding: the same text either way
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == reply.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == usage.completion_tokens


def test_max_tokens_bounds_the_generation(served):
    client = served.client(timeout=60)
    reply = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=1, temperature=0)
    assert reply.usage.completion_tokens == 1


def test_embeddings_are_normalised_vectors(served):
    client = served.client(timeout=60)
    result = client.embeddings.create(model="tiny", input=["hello world", "a quick brown fox", "x", "y", "z"])
    assert [d.index for d in result.data] == [0, 1, 2, 3, 4]
    for item in result.data:
        assert len(item.embedding) == 32  # the tiny model's hidden size
        assert abs(sum(v * v for v in item.embedding) - 1.0) < 1e-4
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens > 5


async def test_fastchat_timeout_and_embedding_batch_size_from_the_environment(tiny_model):
    """FASTCHAT_WORKER_API_TIMEOUT and FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE reach the engine
    as `polyroute worker` builds it, and the engine honours both."""
    import orjson

    from polyroute.cli.worker import _engine
    from polyroute.controller.settings import fastchat_timings

    env = {"FASTCHAT_WORKER_API_TIMEOUT": "7", "FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE": "2"}
    engine = _engine(
        "transformers", "tiny", None, None, None, str(tiny_model), "cpu", fastchat_timings(env), None
    )
    assert (engine.timeout_s, engine.batch_size) == (7, 2)
    await engine.start()
    try:
        batches = []
        embed = engine._embed
        engine._embed = lambda texts: (batches.append(len(texts)), embed(texts))[1]
        reply = orjson.loads((await engine.embeddings({"input": ["a", "b", "c", "d", "e"]})).body)
        assert len(reply["data"]) == 5 and batches == [2, 2, 1]

        engine.timeout_s = -1  # the time is up before the first token: stopped after it
        body = {"messages": MESSAGES, "max_tokens": 50, "temperature": 0}
        reply = orjson.loads((await engine.chat(body)).body)
        assert reply["choices"][0]["finish_reason"] == "length"
        assert reply["usage"]["completion_tokens"] == 1
    finally:
        await engine.close()

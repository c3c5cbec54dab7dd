"""`polyroute worker --engine transformers` on a tiny model built at test time (random weights, a
byte-level BPE tokenizer, a chat template), on CPU: registered with the gateway and used through
the openai SDK, streamed and not, plus embeddings, legacy completions and FastChat's own OpenAI
API test sequence."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.controller.support import serving_config
from tests.fakes.base import Reply, free_port
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.worker.support import WorkerProcess
from tests.worker.tiny_model import build_tiny_model

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]
PROMPT = "Once upon a time"
CHAT = [{"role": "user", "content": "Hello! What is your name?"}]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-chat")


@pytest.fixture(scope="module")
def provider():
    with FakeOpenAI() as fake:
        fake.default = Reply(text="a provider's answer, word by word")
        yield fake


@pytest.fixture(scope="module")
def served(tiny_model, provider, tmp_path_factory):
    port = free_port()
    # The worker's model beside a provider model ("mixed") and the mock (FastChat's sequence below).
    with GatewayServer(serving_config(provider.url), tmp_path_factory.mktemp("gw")) as gateway:
        gateway.worker_port = port
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



def fastchat_sequence(client: openai.OpenAI, model: str) -> dict:
    """FastChat's calls, with what each returned kept for the assertions."""
    out: dict = {}
    out["completion"] = client.completions.create(
        model=model, prompt=PROMPT, logprobs=1, max_tokens=64, temperature=0
    )
    out["completion_stream"] = list(
        client.completions.create(model=model, prompt=PROMPT, max_tokens=64, stream=True, temperature=0)
    )
    out["chat"] = client.chat.completions.create(model=model, messages=CHAT, temperature=0)
    out["chat_stream"] = list(
        client.chat.completions.create(model=model, messages=CHAT, stream=True, temperature=0)
    )
    out["embedding"] = client.embeddings.create(model=model, input="Hello world!")
    return out


def test_fastchats_openai_sequence_passes_for_worker_provider_and_mock_models(served, provider):
    """FastChat's own OpenAI API test sequence (lm-sys/FastChat tests/test_openai_api.py: list the
    models, then for each a completion with logprobs, a streamed completion, a chat, a streamed
    chat and embeddings) for this worker's model, a provider model and the mock. /v1/completions
    to a worker's model was a 404: the gateway speaks to polyroute workers as native completions
    servers, and the worker now serves the endpoint (raw prompt, logprobs from the model)."""
    gateway = served
    client = gateway.client(timeout=120)
    models = [m.id for m in client.models.list().data]
    assert {"tiny", "mixed", "mock-gpt"} <= set(models)
    for model in ("tiny", "mixed", "mock-gpt"):
        out = fastchat_sequence(client, model)
        completion = out["completion"]
        assert completion.object == "text_completion" and isinstance(completion.choices[0].text, str)
        streamed = "".join(c.choices[0].text for c in out["completion_stream"] if c.choices)
        assert out["chat"].choices[0].message.content is not None
        chat_streamed = "".join(c.choices[0].delta.content or "" for c in out["chat_stream"] if c.choices)
        assert len(out["embedding"].data[0].embedding) > 0
        if model == "tiny":
            # temperature 0 on the same model: the stream says what the whole answer said
            assert (
                streamed == completion.choices[0].text
                and chat_streamed == out["chat"].choices[0].message.content
            )
            lp = completion.choices[0].logprobs
            assert lp is not None and lp.tokens and len(lp.tokens) <= completion.usage.completion_tokens
            assert all(v <= 0 for v in lp.token_logprobs) and all(len(t) == 1 for t in lp.top_logprobs)
            assert lp.text_offset[0] == 0 and completion.choices[0].text.startswith(lp.tokens[0])
        if model == "mixed":
            sent = [r.json for r in provider.requests if r.path == "/v1/completions"]
            assert sent[0]["logprobs"] == 1 and sent[0]["prompt"] == PROMPT  # native completions upstream
            assert streamed == completion.choices[0].text == "a provider's answer, word by word"
        if model == "mock-gpt":
            lp = completion.choices[0].logprobs
            assert "".join(lp.tokens) == completion.choices[0].text == streamed


def test_the_worker_serves_completions_itself(served):
    """The worker's own /v1/completions (what the gateway calls): the raw prompt, no chat
    template; errors name their field."""
    gateway, port = served, served.worker_port
    direct = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=60)
    echoed = direct.completions.create(model="tiny", prompt=PROMPT, max_tokens=4, temperature=0, echo=True)
    assert echoed.choices[0].text.startswith(PROMPT)
    plain = direct.completions.create(model="tiny", prompt=PROMPT, max_tokens=4, temperature=0)
    assert echoed.choices[0].text == PROMPT + plain.choices[0].text
    templated = direct.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": PROMPT}], max_tokens=1
    )
    assert plain.usage.prompt_tokens < templated.usage.prompt_tokens  # no chat template around it
    for bad, param in (({"n": 2}, "n"), ({"logprobs": 6}, "logprobs"), ({"max_tokens": 0}, "max_tokens")):
        with pytest.raises(openai.BadRequestError) as refused:
            direct.completions.create(model="tiny", prompt=PROMPT, **bad)
        assert refused.value.body["param"] == param
    with pytest.raises(openai.BadRequestError) as streamed_logprobs:
        direct.completions.create(model="tiny", prompt=PROMPT, logprobs=1, stream=True)
    assert streamed_logprobs.value.body["param"] == "logprobs"
    too_long = "hello world " * 600  # over the tiny model's 512 positions
    with pytest.raises(openai.BadRequestError) as window:
        direct.completions.create(model="tiny", prompt=too_long, max_tokens=4)
    assert window.value.code == "context_length_exceeded"
    # and through the gateway, the same refusal
    with pytest.raises(openai.BadRequestError):
        gateway.client(timeout=60).completions.create(model="tiny", prompt=too_long, max_tokens=4)
    assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200

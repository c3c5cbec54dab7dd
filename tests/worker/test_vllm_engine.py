"""The `vllm` engine: on vLLM's AsyncLLMEngine where vllm is installed (a GPU machine; skipped
only when vllm is absent), its translation over a stand-in with vLLM's engine API everywhere,
and the clear error when vllm is missing."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
from types import SimpleNamespace

import orjson
import pytest

from polyroute.protocol.sse import SSEDecoder
from polyroute.worker.engines.vllm_engine import MISSING, VllmEngine, VllmUnavailable, load_vllm
from tests.worker.support import POLYROUTE

HAVE_VLLM = importlib.util.find_spec("vllm") is not None
MESSAGES = [{"role": "user", "content": "hello world"}]


class FakeTokenizer:
    chat_template = "{{ messages }}"

    def apply_chat_template(self, turns, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{t['role']}>{t['content']}" for t in turns) + "<assistant>"

    def encode(self, text):
        return list(range(len(text.split())))


class FakeAsyncLLM:
    """vLLM's engine API as polyroute uses it: generate() yields RequestOutputs whose text is
    cumulative; abort(request_id); get_tokenizer(); get_model_config()."""

    def __init__(self, texts, finish="stop", delay=0.0):
        self.texts, self.finish, self.delay = texts, finish, delay
        self.calls, self.aborted = [], []

    async def get_tokenizer(self):
        return FakeTokenizer()

    async def get_model_config(self):
        return SimpleNamespace(max_model_len=32)

    async def abort(self, request_id):
        self.aborted.append(request_id)

    async def generate(self, prompt, sampling_params, request_id):
        self.calls.append((prompt, sampling_params, request_id))
        for i, text in enumerate(self.texts):
            await asyncio.sleep(self.delay)
            last = i == len(self.texts) - 1
            completion = SimpleNamespace(
                text=text, token_ids=list(range(i + 1)), finish_reason=self.finish if last else None
            )
            k = sampling_params.get("logprobs")
            if k is not None:  # vLLM's shape: per token, {token_id: Logprob} for the chosen and top k
                completion.logprobs = [
                    {
                        t: SimpleNamespace(logprob=-0.5 * (t + 1), rank=2, decoded_token=f"<{t}>"),
                        100 + t: SimpleNamespace(logprob=-0.1, rank=1, decoded_token="alt"),
                    }
                    for t in completion.token_ids
                ]
            yield SimpleNamespace(prompt_token_ids=[1, 2, 3], outputs=[completion], finished=last)


async def started(llm, timeout_s=10.0):
    engine = VllmEngine("/models/x", "tiny", timeout_s, llm=llm, sampling_params=dict)
    await engine.start()
    return engine


async def read_sse(response):
    decoder, chunks = SSEDecoder(), []
    async for raw in response.stream:
        chunks += [e.data for e in decoder.feed(raw)]
    return [orjson.loads(c) for c in chunks if c != b"[DONE]"]


async def test_stream_and_plain_answers_from_cumulative_outputs():
    llm = FakeAsyncLLM(["Hel", "Hello \ufffd", "Hello \u00e9", "Hello \u00e9!"], finish="length")
    engine = await started(llm)
    assert engine.context_length == 32 and engine.count_tokens("a b c") == 3
    body = {
        "messages": MESSAGES,
        "max_tokens": 4,
        "temperature": 0,
        "stop": ["###"],
        "seed": 3,
        "stream": True,
    }
    chunks = await read_sse(await engine.chat({**body, "stream_options": {"include_usage": True}}))
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert deltas == ["", "Hel", "lo \u00e9", "!", None]  # half a character is held back
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    prompt, sampling, _ = llm.calls[0]
    assert prompt == "<user>hello world<assistant>"
    assert sampling == {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 4, "stop": ["###"], "seed": 3}
    plain = orjson.loads((await engine.chat({**body, "stream": False})).body)
    assert plain["choices"][0]["message"]["content"] == "Hello \u00e9!"
    assert llm.aborted == []  # finished requests are not aborted


async def test_legacy_completions_take_the_raw_prompt():
    llm = FakeAsyncLLM(["Once", "Once more"])
    engine = await started(llm)
    body = {"prompt": "tell me", "max_tokens": 5, "temperature": 0, "echo": True}
    plain = orjson.loads((await engine.completions(body)).body)
    assert plain["object"] == "text_completion" and plain["choices"][0]["text"] == "tell meOnce more"
    assert plain["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert llm.calls[0][0] == "tell me" and llm.calls[0][1]["max_tokens"] == 5  # no chat template
    chunks = await read_sse(await engine.completions({**body, "echo": False, "stream": True}))
    assert [c["choices"][0]["text"] for c in chunks] == ["Once", " more", ""]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    with_logprobs = orjson.loads((await engine.completions({**body, "echo": False, "logprobs": 1})).body)
    assert llm.calls[-1][1]["logprobs"] == 1
    assert with_logprobs["choices"][0]["logprobs"] == {
        "tokens": ["<0>", "<1>"],
        "token_logprobs": [-0.5, -1.0],
        "top_logprobs": [{"alt": -0.1}, {"alt": -0.1}],
        "text_offset": [0, 3],
    }
    too_long = await engine.completions({**body, "prompt": "w " * 40})  # 40 tokens, context 32
    assert too_long.status == 400 and orjson.loads(too_long.body)["error"]["param"] == "prompt"


async def test_a_client_that_leaves_or_the_timeout_aborts_the_request():
    llm = FakeAsyncLLM(["a ", "a b ", "a b c"], delay=0.05)
    engine = await started(llm)
    response = await engine.chat({"messages": MESSAGES, "stream": True})
    stream = response.stream
    await anext(stream)
    await anext(stream)
    await stream.aclose()  # the client went away mid-generation
    assert llm.aborted == [llm.calls[0][2]]
    slow = await started(FakeAsyncLLM(["a ", "a b ", "a b c"], delay=0.3), timeout_s=0.4)
    reply = orjson.loads((await slow.chat({"messages": MESSAGES})).body)
    assert reply["choices"][0]["finish_reason"] == "length"  # FASTCHAT_WORKER_API_TIMEOUT ran out
    assert reply["choices"][0]["message"]["content"] == "a "
    assert slow.llm.aborted


async def test_a_prompt_over_the_context_length_is_refused():
    engine = await started(FakeAsyncLLM(["x"]))
    response = await engine.chat({"messages": [{"role": "user", "content": "w " * 40}]})
    assert response.status == 400 and b"maximum context length is 32" in response.body
    assert engine.llm.calls == []


@pytest.mark.skipif(HAVE_VLLM, reason="vllm is installed: the error for its absence cannot happen")
def test_missing_vllm_is_a_clear_error():
    with pytest.raises(VllmUnavailable, match="pip install vllm"):
        load_vllm()
    result = subprocess.run(
        [*POLYROUTE, "worker", "--engine", "vllm", "--model-path", "/models/x", "--model-name", "m"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"polyroute worker: {MISSING}"


@pytest.mark.skipif(not HAVE_VLLM, reason="vllm is not installed (it needs a GPU machine)")
async def test_vllm_serves_a_tiny_model(tmp_path):
    from tests.worker.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny")
    engine = VllmEngine(
        str(model), "tiny", 60, engine_args={"gpu_memory_utilization": 0.2, "enforce_eager": True}
    )
    await engine.start()
    try:
        assert engine.context_length == 512 and engine.count_tokens("hello world") > 0
        body = {"messages": MESSAGES, "max_tokens": 6, "temperature": 0}
        plain = orjson.loads((await engine.chat(body)).body)
        assert 1 <= plain["usage"]["completion_tokens"] <= 6
        chunks = await read_sse(await engine.chat({**body, "stream": True}))
        streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert streamed == plain["choices"][0]["message"]["content"]  # greedy: the same either way
    finally:
        await engine.close()

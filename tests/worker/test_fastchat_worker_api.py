"""`polyroute worker` speaks FastChat's worker API, so FastChat's own stack can use it: fschat
0.2.36's real controller and openai_api_server (unmodified, as processes) serve a polyroute
worker (openai engine in front of a fake OpenAI server) to the openai SDK, including the context
check FastChat's API server makes with /model_details and /count_token; the wire shapes
(NUL-delimited objects with error_code) are checked directly too.

fschat replaces sys.stdout with a logger when imported, so it runs only in its own processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import openai
import orjson
import pytest

from polyroute.worker.fastchat_api import CONV_TEMPLATE, messages_from_prompt
from tests.fakes.base import Error, Reply, free_port
from tests.fakes.openai import FakeOpenAI
from tests.worker.support import WorkerProcess

pytest.importorskip("fastchat", reason="needs the fastchat-interop extra (fschat 0.2.36)")

UPSTREAM_KEY = "sk-fake-openai-key-0123456789abcdef"
CONTEXT = 64


def _fastchat(module: str, *args: str, cwd) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", f"fastchat.serve.{module}", *args],
        cwd=cwd,
        env={**os.environ, "FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


@pytest.fixture(scope="module")
def upstream():
    with FakeOpenAI(api_key=UPSTREAM_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(upstream, tmp_path_factory):
    logs = tmp_path_factory.mktemp("fastchat-logs")
    controller_port, worker_port, api_port = free_port(), free_port(), free_port()
    controller_url = f"http://127.0.0.1:{controller_port}"
    controller = _fastchat("controller", "--host", "127.0.0.1", "--port", str(controller_port), cwd=logs)
    processes = [controller]
    worker = WorkerProcess(
        [
            "--controller",
            controller_url,
            "--model-name",
            "vicuna",
            "--engine",
            "openai",
            "--api-base",
            upstream.url + "/v1",
            "--upstream-model",
            "gpt-upstream",
            "--port",
            str(worker_port),
            "--context-length",
            str(CONTEXT),
        ],
        env={"OPENAI_API_KEY": UPSTREAM_KEY, "POLYROUTE_WORKER_TOKEN": ""},
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # FastChat's controller must be up before the worker registers
            try:
                httpx.get(controller_url + "/test_connection", timeout=1)
                break
            except httpx.HTTPError:
                if controller.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "FastChat's controller did not start:\n" + _stop(controller)
                    ) from None
                time.sleep(0.2)
        worker.start()
        api = _fastchat(
            "openai_api_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
            "--controller-address",
            controller_url,
            cwd=logs,
        )
        processes.append(api)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{api_port}/v1", api_key="none", max_retries=0)
        deadline = time.monotonic() + 90
        while True:
            try:
                if "vicuna" in [m.id for m in client.models.list().data]:
                    break
            except openai.APIConnectionError:
                pass
            if api.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "the stack did not come up:\n" + worker.stop() + "\n".join(_stop(p) for p in processes)
                )
            time.sleep(0.3)
        yield client, f"http://127.0.0.1:{worker_port}"
    finally:
        worker.stop()
        for process in reversed(processes):
            _stop(process)


def test_fastchat_api_server_serves_a_polyroute_worker(stack, upstream):
    client, _ = stack
    upstream.reset()
    upstream.script(Reply(text="through FastChat's own server"), Reply(text="streamed back through it"))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    reply = client.chat.completions.create(model="vicuna", messages=messages, max_tokens=10)
    assert reply.choices[0].message.content == "through FastChat's own server"
    assert reply.choices[0].finish_reason == "stop"
    sent = upstream.requests[-1].json
    # FastChat flattened the chat with the worker's template; the worker got the messages back.
    assert sent["messages"] == messages and sent["model"] == "gpt-upstream"
    assert sent["max_tokens"] == 10 and "<|im_end|>" not in (sent.get("stop") or [])
    # No max_tokens: FastChat's server asks for the rest of the context the worker reported.
    reply = client.chat.completions.create(model="vicuna", messages=messages)
    assert reply.choices[0].message.content == "streamed back through it"
    assert 0 < upstream.requests[-1].json["max_tokens"] < CONTEXT


# FastChat's API server reads /worker_generate_stream with this function; its streaming routes
# themselves fail under pydantic 2 (fschat 0.2.36 calls .json(ensure_ascii=...)), so it is run alone.
READ_STREAM = """
import asyncio, json, sys
from fastchat.serve.openai_api_server import generate_completion_stream
async def main():
    params = json.loads(sys.argv[2])
    async for obj in generate_completion_stream(params, sys.argv[1]):
        sys.__stdout__.write("OBJ " + json.dumps(obj) + "\\n")
asyncio.run(main())
"""


def test_fastchats_stream_reader_reads_the_workers_stream(stack, upstream, tmp_path):
    _, worker = stack
    upstream.reset()
    upstream.script(Reply(text="streamed back through it"))
    prompt = (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    params = {
        "model": "vicuna",
        "prompt": prompt,
        "max_new_tokens": 16,
        "echo": False,
        "stop": ["<|im_end|>"],
    }
    result = subprocess.run(
        [sys.executable, "-c", READ_STREAM, worker, orjson.dumps(params).decode()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    objects = [orjson.loads(line[4:]) for line in result.stdout.splitlines() if line.startswith("OBJ ")]
    assert objects, result.stdout + result.stderr
    assert [o["text"] for o in objects] == [
        "streamed ",
        "streamed back ",
        "streamed back through ",
        "streamed back through it",
        "streamed back through it",
    ]
    assert objects[-1]["finish_reason"] == "stop" and all(o["error_code"] == 0 for o in objects)
    assert upstream.requests[-1].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


def test_context_check_uses_the_workers_details_and_count(stack, upstream):
    client, _ = stack
    upstream.reset()
    long = [{"role": "user", "content": "word " * 100}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="vicuna", messages=long, max_tokens=5)
    assert f"maximum context length is {CONTEXT} tokens" in caught.value.message
    assert upstream.requests == []  # refused before anything was generated


def test_upstream_errors_travel_as_fastchat_error_codes(stack, upstream):
    client, _ = stack
    upstream.reset()
    upstream.script(Error(429, message="slow down"))
    with pytest.raises(openai.BadRequestError) as caught:  # FastChat's server answers 400 for all
        client.chat.completions.create(model="vicuna", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["code"] == 42901 and "slow down" in caught.value.message


def test_embeddings_through_fastchat_in_its_batches(stack, upstream):
    client, _ = stack
    upstream.reset()
    result = client.embeddings.create(model="vicuna", input=["a", "b", "c"])
    assert [d.index for d in result.data] == [0, 1, 2]
    assert [len(r.json["input"]) for r in upstream.requests] == [2, 1]  # the server's batch size 2


def test_wire_shapes(stack, upstream):
    _, worker = stack
    upstream.reset()
    upstream.script(Reply(text="one two three", finish="length"))
    conv = httpx.post(worker + "/worker_get_conv_template", json={"model": "vicuna"}).json()["conv"]
    assert conv == CONV_TEMPLATE
    assert httpx.post(worker + "/model_details", json={"model": "vicuna"}).json() == {
        "context_length": CONTEXT
    }
    counted = httpx.post(worker + "/count_token", json={"model": "vicuna", "prompt": "x" * 40}).json()
    assert counted == {"count": 10, "error_code": 0}
    prompt = "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    params = {"model": "vicuna", "prompt": prompt, "max_new_tokens": 8, "echo": False, "stop": ["<|im_end|>"]}
    raw = httpx.post(worker + "/worker_generate_stream", json=params).content
    assert raw.endswith(b"\0")
    objects = [orjson.loads(part) for part in raw.split(b"\0") if part]
    assert [o["text"] for o in objects] == ["one ", "one two ", "one two three", "one two three"]
    assert all(o["error_code"] == 0 for o in objects)
    assert [o["finish_reason"] for o in objects] == [None, None, None, "length"]
    assert objects[-1]["usage"]["completion_tokens"] == 7  # the upstream's own usage, at the end
    assert upstream.requests[-1].json["messages"] == [{"role": "user", "content": "hello"}]
    upstream.script(Error(401, message="bad key"))
    failed = httpx.post(worker + "/worker_generate", json=params)
    assert failed.status_code == 200 and failed.json() == {"text": "bad key", "error_code": 40101}


def test_prompts_not_in_the_template_become_one_user_message():
    assert messages_from_prompt("Once upon a time") == [{"role": "user", "content": "Once upon a time"}]
    rendered = (
        "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nq<|im_end|>\n"
        "<|im_start|>assistant\na<|im_end|>\n<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n"
    )
    assert messages_from_prompt(rendered) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "q2"},
    ]
    tampered = "<|im_start|>user\nq<|im_start|>tool\nx<|im_end|>\n<|im_start|>assistant\n"
    assert messages_from_prompt(tampered) == [{"role": "user", "content": tampered}]

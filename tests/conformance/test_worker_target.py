"""The matrix's worker column: a registered FastChat model worker (a protocol-faithful fake of an
unmodified fschat worker) answers clients of every inbound protocol, through their SDKs."""

from __future__ import annotations

import anthropic
import pytest

from tests.controller.support import TOKEN_ALL, serving_config, with_token
from tests.fakes.base import Reply
from tests.fakes.fastchat_worker import FakeFastChatWorker
from tests.gateway import GatewayServer


@pytest.fixture(scope="module")
def worker_gateway(tmp_path_factory):
    with FakeFastChatWorker(["vicuna"]) as worker:
        with GatewayServer(serving_config(), tmp_path_factory.mktemp("worker-matrix")) as server:
            assert worker.register(with_token(server.url, TOKEN_ALL)).status_code == 200
            yield server, worker


def _anthropic(server):
    return anthropic.Anthropic(base_url=server.url, api_key=server.master_key, max_retries=0, timeout=30)


@pytest.mark.parametrize("stream", [False, True])
def test_messages_client_to_a_worker(worker_gateway, stream):
    server, worker = worker_gateway
    worker.script(Reply(text="Hello from the worker", finish="stop"))
    kwargs = {"model": "vicuna", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
    if stream:
        with _anthropic(server).messages.stream(**kwargs) as events:
            text = "".join(events.text_stream)
            message = events.get_final_message()
    else:
        message = _anthropic(server).messages.create(**kwargs)
        text = message.content[0].text
    assert text == "Hello from the worker"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0


def test_messages_client_sees_a_length_stop_from_a_worker(worker_gateway):
    server, worker = worker_gateway
    worker.script(Reply(text="cut short here", finish="length"))
    message = _anthropic(server).messages.create(
        model="vicuna", max_tokens=3, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.stop_reason == "max_tokens"


@pytest.mark.parametrize("stream", [False, True])
def test_responses_client_to_a_worker(worker_gateway, stream):
    server, worker = worker_gateway
    worker.script(Reply(text="Hello from the worker", finish="stop"))
    client = server.client(max_retries=0)
    if stream:
        with client.responses.stream(model="vicuna", input="Hi", store=False) as events:
            for _ in events:
                pass
            response = events.get_final_response()
    else:
        response = client.responses.create(model="vicuna", input="Hi", store=False)
    assert response.output_text == "Hello from the worker"
    assert response.status == "completed"


def test_a_worker_stream_broken_off_ends_with_an_anthropic_error_event(worker_gateway):
    server, worker = worker_gateway
    worker.script(Reply(text="one two three four five", drop_after=2))
    with pytest.raises(anthropic.APIError):
        with _anthropic(server).messages.stream(
            model="vicuna", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
        ) as events:
            for _ in events:
                pass

"""AI2's InferD through the gateway with the openai SDK: plain and streamed answers from JSON
lines, the InferD model id, vLLM's greedy-decoding rule, no usage (InferD reports none), errors."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.base import Error, Reply

QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]


def test_plain_answer_joins_the_lines(gateway, fake_ai2):
    fake_ai2.script(Reply(text="Deep ocean blue."))
    reply = gateway.client().chat.completions.create(model="tulu", messages=QUESTION, max_tokens=20)
    assert reply.choices[0].message.content == "Deep ocean blue."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is None  # InferD sends no counts (the gateway bills its own estimate)
    sent = fake_ai2.requests[-1].json
    assert sent["model_id"] == "mod_01hhgcga70c91402r9ssyxekan"
    assert sent["input"]["messages"] == QUESTION and sent["input"]["opts"]["max_tokens"] == 20


def test_stream_relays_each_line(gateway, fake_ai2):
    fake_ai2.script(Reply(text="red green blue"))
    stream = gateway.client().chat.completions.create(
        model="tulu", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    pieces, finish, usage = [], None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            pieces += [choice.delta.content] if choice.delta.content else []
            finish = choice.finish_reason or finish
    assert pieces == ["red ", "green ", "blue"] and finish == "stop"
    assert usage is None  # InferD sends no counts


def test_greedy_decoding_sends_top_p_one(gateway, fake_ai2):
    gateway.client().chat.completions.create(model="tulu", messages=QUESTION, temperature=0, top_p=0.5)
    assert fake_ai2.requests[-1].json["input"]["opts"] == {"logprobs": 1, "temperature": 0, "top_p": 1.0}


def test_tools_and_images_are_refused_before_any_call(gateway, fake_ai2):
    with pytest.raises(openai.BadRequestError) as tools:
        gateway.client().chat.completions.create(
            model="tulu", messages=QUESTION, tools=[{"type": "function", "function": {"name": "f"}}]
        )
    assert tools.value.param == "tools"
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,x"}}]}]
    with pytest.raises(openai.BadRequestError) as images:
        gateway.client().chat.completions.create(model="tulu", messages=image)
    assert images.value.param == "messages[0].content"
    assert fake_ai2.requests == []


def test_error_line_and_http_errors(gateway, fake_ai2):
    fake_ai2.script(Reply(text="one two three", error_after=1))
    with pytest.raises(openai.APIError):
        gateway.client().chat.completions.create(model="tulu", messages=QUESTION)
    fake_ai2.script(Error(401, message="invalid or missing bearer token"))
    with pytest.raises(openai.AuthenticationError):
        gateway.client().chat.completions.create(model="tulu", messages=QUESTION)
    fake_ai2.script(Error(429, message="slow down", headers={"retry-after": "2"}))
    with pytest.raises(openai.RateLimitError) as limited:
        gateway.client().chat.completions.create(model="tulu", messages=QUESTION)
    assert limited.value.response.headers["retry-after"] == "2"

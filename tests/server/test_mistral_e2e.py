"""Mistral's own rules through the gateway, with the openai SDK against a strict fake: fields
Mistral refuses are renamed or left out, tool-call ids from elsewhere are made nine characters,
`safe_prompt` reaches Mistral, embeddings, and Mistral's error bodies become OpenAI errors that
name the refused field. (Chat, streams, tools and images run in the parity matrix.)"""

from __future__ import annotations

import openai
import pytest

from tests.fakes.base import Error, Reply, ToolCall

QUESTION = [{"role": "user", "content": "Weather in Lyon?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_a_conversation_begun_elsewhere_continues_on_mistral(gateway, fake_mistral):
    """OpenAI-style ids (call_...) and a reasoning_content left by another model would be
    refused by Mistral; the gateway sends nine-character ids, the same in call and answer."""
    history = [
        *QUESTION,
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "thinking elsewhere",
            "tool_calls": [
                {
                    "id": "call_Xy12ab34cd56ef78",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_Xy12ab34cd56ef78", "content": "sunny"},
    ]
    fake_mistral.script(Reply(text="Sunny in Lyon."))
    reply = gateway.client().chat.completions.create(model="mistral-large", messages=history, tools=TOOLS)
    assert reply.choices[0].message.content == "Sunny in Lyon."
    sent = fake_mistral.requests[-1].json["messages"]
    call_id = sent[1]["tool_calls"][0]["id"]
    assert len(call_id) == 9 and call_id.isalnum() and sent[2]["tool_call_id"] == call_id
    assert "reasoning_content" not in sent[1]


def test_openai_names_mistral_refuses_are_renamed_or_left_out(gateway, fake_mistral):
    fake_mistral.script(Reply(text="one two"))
    text = ""
    usage = None
    for chunk in gateway.client().chat.completions.create(
        model="mistral-large",
        messages=QUESTION,
        stream=True,
        stream_options={"include_usage": True},
        max_completion_tokens=40,
        seed=7,
        user="end-user-1",
    ):
        usage = chunk.usage or usage
        text += "".join(c.delta.content or "" for c in chunk.choices)
    assert text == "one two" and usage.total_tokens == 18
    sent = fake_mistral.requests[-1].json
    assert (sent["max_tokens"], sent["random_seed"]) == (40, 7)
    assert not {"max_completion_tokens", "seed", "user", "stream_options"} & set(sent)


def test_safe_prompt_from_the_request(gateway, fake_mistral):
    gateway.client().chat.completions.create(
        model="mistral-large", messages=QUESTION, extra_body={"safe_prompt": True}
    )
    assert fake_mistral.requests[-1].json["safe_prompt"] is True


def test_embeddings_through_the_openai_sdk(gateway, fake_mistral):
    vectors = gateway.client().embeddings.create(model="mistral-embed", input=["a b", "c"], dimensions=6)
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 6
    sent = fake_mistral.requests[-1].json
    assert sent["output_dimension"] == 6 and sent["encoding_format"] == "base64"  # the SDK's default


def test_openai_params_mistral_lacks_are_refused_before_any_call(gateway, fake_mistral):
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(
            model="mistral-large", messages=QUESTION, reasoning_effort="low"
        )
    assert caught.value.param == "reasoning_effort" and fake_mistral.requests == []


def test_a_refused_field_is_named_in_the_error(gateway, fake_mistral):
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        gateway.client().chat.completions.create(
            model="mistral-large", messages=QUESTION, extra_body={"chat_template_kwargs": {"x": 1}}
        )
    assert caught.value.param == "chat_template_kwargs"
    assert "Extra inputs are not permitted" in caught.value.message


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        (
            Error(400, message="Assistant message must have either content or tool_calls"),
            openai.BadRequestError,
            400,
        ),
        (Error(404, message="Invalid model: mistral-huge"), openai.NotFoundError, 404),
        (Error(429, message="Requests rate limit exceeded"), openai.RateLimitError, 429),
        (Error(500, message="Internal server error"), openai.InternalServerError, 502),
        (Error(503, message="Service unavailable"), openai.InternalServerError, 503),
    ],
)
def test_mistral_errors_map_to_openai_errors(gateway, fake_mistral, error, expected, status):
    fake_mistral.script(error)
    with pytest.raises(expected) as caught:
        gateway.client().chat.completions.create(model="mistral-large", messages=QUESTION)
    assert caught.value.status_code == status and error.message in caught.value.message


def test_unauthorized_and_context_too_long(gateway, fake_mistral):
    too_long = "Prompt contains 40010 tokens, too large for model with 32768 maximum context length"
    fake_mistral.script(Error(400, message=too_long))
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="mistral-large", messages=QUESTION)
    assert caught.value.code == "context_length_exceeded"
    real_key, fake_mistral.api_key = fake_mistral.api_key, "another-key"
    try:
        with pytest.raises(openai.AuthenticationError):
            gateway.client().chat.completions.create(model="mistral-large", messages=QUESTION)
    finally:
        fake_mistral.api_key = real_key


def test_tool_calls_streamed_whole_by_mistral(gateway, fake_mistral):
    fake_mistral.script(Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Lyon"})]))
    calls = []
    for chunk in gateway.client().chat.completions.create(
        model="mistral-large", messages=QUESTION, tools=TOOLS, stream=True
    ):
        for choice in chunk.choices:
            calls += choice.delta.tool_calls or []
    assert len(calls) == 1 and len(calls[0].id) == 9 and calls[0].function.arguments == '{"city":"Lyon"}'

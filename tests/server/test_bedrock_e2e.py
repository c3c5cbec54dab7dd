"""AWS Bedrock through the gateway as a user meets it: the openai SDK against a gateway whose
deployments are signed with SigV4 and sent to the loopback Bedrock fake (which checks every
signature). Text, streams (AWS event-stream bytes), tools and streamed tool calls, images, usage
and cost, each documented error mapped, retry and fallback on throttling."""

from __future__ import annotations

import base64
import json

import openai
import pytest

from tests.fakes.base import Error, Reply, ToolCall
from tests.fakes.bedrock import FakeBedrock
from tests.gateway import GatewayServer

MASTER = "sk-bedrock-master-0123456789abcdef"
KEY_ID, SECRET = "AKIAGATEWAYTEST00001", "gateway/secret/key+0123456789abcdefghij"
CLIENT_KEY_ID, CLIENT_SECRET = "AKIACLIENTOWNKEY0001", "client/own/secret+0123456789abcdefgh"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
QUESTION = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def _params(fake: FakeBedrock, **more):
    return {
        "model": f"bedrock/{MODEL}",
        "api_base": fake.url,
        "aws_access_key_id": "os.environ/TEST_AWS_KEY_ID",
        "aws_secret_access_key": "os.environ/TEST_AWS_SECRET",
        **more,
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    keys = {KEY_ID: (SECRET, None), CLIENT_KEY_ID: (CLIENT_SECRET, None)}
    with FakeBedrock(keys=keys) as first, FakeBedrock(keys=keys) as second:
        config = {
            "model_list": [
                {
                    "model_name": "claude-bedrock",
                    "litellm_params": _params(first),
                    "model_info": {"id": "solo"},
                },
                {
                    "model_name": "main",
                    "litellm_params": {**_params(first), "order": 1},
                    "model_info": {"id": "one"},
                },
                {
                    "model_name": "main",
                    "litellm_params": {**_params(second), "order": 2},
                    "model_info": {"id": "two"},
                },
                {"model_name": "backup", "litellm_params": _params(second), "model_info": {"id": "backup"}},
                {
                    "model_name": "byok",
                    "litellm_params": {
                        **_params(first),
                        "configurable_clientside_auth_params": ["aws_access_key_id", "aws_secret_access_key"],
                    },
                },
                # Apart, so the cooldowns their failures cause touch no other test's deployments.
                {"model_name": "lonely", "litellm_params": _params(first), "model_info": {"id": "lonely"}},
                {
                    "model_name": "pair",
                    "litellm_params": {**_params(first), "order": 1},
                    "model_info": {"id": "p1"},
                },
                {
                    "model_name": "pair",
                    "litellm_params": {**_params(second), "order": 2},
                    "model_info": {"id": "p2"},
                },
                {
                    "model_name": "wrong-secret",
                    "litellm_params": {**_params(first), "aws_secret_access_key": "not-the-secret-at-all"},
                },
            ],
            "general_settings": {"master_key": MASTER, "allow_client_side_credentials": True},
            "router_settings": {
                "num_retries": 1,
                "allowed_fails": 0,
                "cooldown_time": 30,
                "fallbacks": [{"claude-bedrock": ["backup"]}],
                "context_window_fallbacks": [{"claude-bedrock": ["backup"]}],
            },
        }
        # The region comes from LiteLLM's variable: no aws_region_name in the entries.
        env = {"TEST_AWS_KEY_ID": KEY_ID, "TEST_AWS_SECRET": SECRET, "AWS_REGION_NAME": "us-east-1"}
        with GatewayServer(config, tmp_path_factory.mktemp("bedrock"), env=env) as gateway:
            yield gateway, first, second


@pytest.fixture
def gw(setup):
    gateway, first, second = setup
    first.reset()
    second.reset()
    return gateway, first, second


def _no_retry(**more):
    return {"extra_body": {"num_retries": 0, "fallbacks": [], "context_window_fallbacks": [], **more}}


def test_text_answer_usage_and_cost(gw):
    gateway, fake, _ = gw
    fake.script(Reply(text="Sunny.", prompt_tokens=1000, completion_tokens=200))
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="claude-bedrock", messages=QUESTION, max_tokens=50, temperature=0.3, stop=["END"]
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Sunny." and answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1000, 200)
    assert raw.headers["x-polyroute-provider"] == "bedrock"
    assert float(raw.headers["x-polyroute-response-cost"]) == pytest.approx(1000 * 8e-7 + 200 * 4e-6)
    sent = fake.requests[-1]
    assert sent.path == f"/model/{MODEL}/converse"
    assert sent.json["system"] == [{"text": "You are terse."}]
    assert sent.json["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.3, "stopSequences": ["END"]}
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")


def test_stream_of_event_stream_bytes(gw):
    gateway, fake, _ = gw
    fake.script(Reply(text="one two three four", cached_tokens=3))
    stream = gateway.client().chat.completions.create(
        model="claude-bedrock", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (11, 7)
    assert usage.prompt_tokens_details.cached_tokens == 3
    assert fake.requests[-1].path == f"/model/{MODEL}/converse-stream"


def test_tool_call_and_result_round_trip(gw):
    gateway, fake, _ = gw
    fake.script(
        Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"})], prompt_tokens=20),
        Reply(text="Sunny, 21 C."),
    )
    client = gateway.client()
    first = client.chat.completions.create(model="claude-bedrock", messages=QUESTION, tools=TOOLS)
    choice = first.choices[0]
    (call,) = choice.message.tool_calls
    assert choice.finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    spec = fake.requests[-1].json["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "get_weather" and spec["inputSchema"]["json"]["required"] == ["city"]
    follow_up = [
        *QUESTION,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    second = client.chat.completions.create(
        model="claude-bedrock", messages=follow_up, tools=TOOLS, tool_choice="required"
    )
    assert second.choices[0].message.content == "Sunny, 21 C."
    sent = fake.requests[-1].json
    assert sent["messages"][-1]["content"][0]["toolResult"]["toolUseId"] == call.id
    assert sent["toolConfig"]["toolChoice"] == {"any": {}}


def test_streamed_tool_call(gw):
    gateway, fake, _ = gw
    fake.script(
        Reply(text="Checking.", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="tooluse_abc")])
    )
    chunks = list(
        gateway.client().chat.completions.create(
            model="claude-bedrock", messages=QUESTION, tools=TOOLS, stream=True
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "tooluse_abc" and calls[0].function.name == "get_weather" and calls[0].index == 0
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_image_goes_inline(gw):
    gateway, fake, _ = gw
    fake.script(Reply(text="A red dot."))
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
    ]
    answer = gateway.client().chat.completions.create(
        model="claude-bedrock", messages=[{"role": "user", "content": content}]
    )
    assert answer.choices[0].message.content == "A red dot."
    image = fake.requests[-1].json["messages"][0]["content"][1]["image"]
    assert image == {"format": "png", "source": {"bytes": PIXEL}}
    assert base64.b64decode(image["source"]["bytes"]).startswith(b"\x89PNG")


def test_image_url_is_refused_naming_the_field(gw):
    gateway, fake, _ = gw
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    with pytest.raises(openai.BadRequestError) as refused:
        gateway.client().chat.completions.create(
            model="claude-bedrock", messages=[{"role": "user", "content": content}]
        )
    assert refused.value.body["param"] == "messages[0].content[0].image_url.url"
    assert not fake.requests


@pytest.mark.parametrize(
    "error, expected, status",
    [
        (
            Error(429, message="Too many requests, please wait before trying again."),
            openai.RateLimitError,
            429,
        ),
        (
            Error(429, type="ModelNotReadyException", message="Model is not ready for inference."),
            openai.InternalServerError,
            503,
        ),
        (Error(400, message="Input is too long for requested model."), openai.BadRequestError, 400),
        (
            Error(400, message="Malformed input request: extraneous key [foo] is not permitted"),
            openai.BadRequestError,
            400,
        ),
        (Error(503, message="Bedrock is unable to process your request."), openai.InternalServerError, 503),
        (Error(500, message="The server encountered an internal error."), openai.InternalServerError, 502),
        (
            Error(403, message="You don't have access to the model with the specified model ID."),
            openai.PermissionDeniedError,
            403,
        ),
        (Error(404, message="The provided model identifier is invalid."), openai.NotFoundError, 404),
        (Error(408, message="Model has timed out in processing the request."), openai.APIStatusError, 504),
    ],
)
def test_documented_errors_are_mapped(gw, error, expected, status):
    gateway, fake, _ = gw
    fake.script(error)
    with pytest.raises(expected) as raised:
        gateway.client(max_retries=0).chat.completions.create(
            model="lonely", messages=QUESTION, **_no_retry()
        )
    assert raised.value.status_code == status
    assert error.message in raised.value.message


def test_context_too_long_is_the_context_window_error(gw):
    gateway, fake, _ = gw
    fake.script(Error(400, message="Input is too long for requested model."))
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.client().chat.completions.create(model="lonely", messages=QUESTION, **_no_retry())
    assert raised.value.code == "context_length_exceeded"


def test_bad_signature_is_an_authentication_error(gw):
    gateway, fake, _ = gw
    with pytest.raises(openai.AuthenticationError) as raised:
        gateway.client(max_retries=0).chat.completions.create(model="wrong-secret", messages=QUESTION)
    assert "InvalidSignatureException" in raised.value.message
    assert "not-the-secret-at-all" not in str(raised.value.body)


def test_in_stream_throttling_before_any_text_is_retried(gw):
    gateway, fake, second = gw
    fake.script(Reply(text="never", error_after=0, extra={"stream_exception": "throttlingException"}))
    second.script(Reply(text="from two"))
    chunks = list(gateway.client().chat.completions.create(model="pair", messages=QUESTION, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "from two"


def test_mid_stream_exception_reaches_the_client(gw):
    gateway, fake, _ = gw
    fake.script(Reply(text="one two three four five", error_after=3))
    # Unretried: when the failure comes in the same read as the text, nothing reached the client
    # yet and the router would rightly retry; either way the client sees Bedrock's error.
    with pytest.raises(openai.APIError) as raised:
        list(
            gateway.client(max_retries=0).chat.completions.create(
                model="lonely", messages=QUESTION, stream=True, **_no_retry()
            )
        )
    assert "ModelStreamErrorException" in str(raised.value)


def test_truncated_event_stream_is_an_error(gw):
    gateway, fake, _ = gw
    fake.script(Reply(text="one two three four five", drop_after=3))
    with pytest.raises(openai.APIError):
        list(
            gateway.client(max_retries=0).chat.completions.create(
                model="lonely", messages=QUESTION, stream=True, **_no_retry()
            )
        )


def test_throttled_deployment_fails_over_to_the_other(gw):
    gateway, first, second = gw
    first.script(Error(429, message="Too many requests, please wait before trying again."))
    second.script(Reply(text="from two"))
    raw = gateway.client().chat.completions.with_raw_response.create(model="main", messages=QUESTION)
    assert raw.parse().choices[0].message.content == "from two"
    assert raw.headers["x-polyroute-deployment"] == "two" and raw.headers["x-polyroute-attempts"] == "2"


def test_throttled_group_falls_back_to_its_fallback_group(gw):
    gateway, first, second = gw
    first.script(Error(429, message="Too many requests"), Error(429, message="Too many requests"))
    second.script(Reply(text="from backup"))
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="claude-bedrock", messages=QUESTION, extra_body={"num_retries": 0}
    )
    assert raw.parse().choices[0].message.content == "from backup"
    assert raw.headers["x-polyroute-fallback"] == "true"


def test_legacy_completion_over_converse(gw):
    gateway, fake, _ = gw
    fake.script(Reply(text="the end"))
    completion = gateway.client().completions.create(
        model="lonely", prompt="Finish the story:", max_tokens=10
    )
    assert completion.choices[0].text == "the end" and completion.object == "text_completion"
    assert fake.requests[-1].json["messages"][0]["content"] == [{"text": "Finish the story:"}]


def test_a_clients_own_aws_keys_sign_its_request(gw):
    gateway, fake, _ = gw
    keys = {"aws_access_key_id": CLIENT_KEY_ID, "aws_secret_access_key": CLIENT_SECRET}
    answer = gateway.client().chat.completions.create(model="byok", messages=QUESTION, extra_body=keys)
    assert answer.choices[0].message.content
    assert (
        fake.requests[-1].headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={CLIENT_KEY_ID}/")
    )
    assert CLIENT_SECRET.encode() not in fake.requests[-1].body  # the keys sign; they are not sent
    gateway.client().chat.completions.create(model="byok", messages=QUESTION)  # without: the operator's
    assert fake.requests[-1].headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")

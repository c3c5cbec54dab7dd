"""Google Vertex AI through the gateway as a user meets it: the openai SDK against a gateway
whose Vertex deployments get their OAuth token from the fake's token endpoint (google-auth with
a generated service-account JSON) and call Gemini (generateContent, SSE streams), Claude
(rawPredict, streamRawPredict) and text embeddings (predict) on the loopback fake."""

from __future__ import annotations

import json

import openai
import pytest

from tests.fakes.base import Error, Reply, ToolCall
from tests.fakes.vertex import FakeVertex
from tests.gateway import GatewayServer

MASTER = "sk-vertex-master-0123456789abcdef"
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
GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4-5@20250929"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vertex")
    with FakeVertex() as first, FakeVertex() as second:
        key_file = tmp / "service-account.json"
        key_file.write_text(json.dumps(first.service_account_info()))

        def entry(name, fake, model, **more):
            # The first fake's key as a file (GOOGLE_APPLICATION_CREDENTIALS-style path), the
            # second's inline JSON through os.environ/ as LiteLLM configs carry it.
            creds = str(key_file) if fake is first else "os.environ/TEST_VERTEX_JSON"
            params = {
                "model": f"vertex_ai/{model}",
                "api_base": fake.url,
                "vertex_credentials": creds,
                **more,
            }
            return {"model_name": name, "litellm_params": params}

        config = {
            "model_list": [
                {**entry("gemini", first, GEMINI), "model_info": {"id": "gemini-solo"}},
                entry("claude", first, CLAUDE),
                entry("embed", first, "text-embedding-005"),
                {**entry("main", first, GEMINI, order=1), "model_info": {"id": "one"}},
                {**entry("main", second, GEMINI, order=2), "model_info": {"id": "two"}},
                entry("backup", second, GEMINI),
                entry("lonely", first, GEMINI),
                entry("claude-lonely", first, CLAUDE),
            ],
            "general_settings": {"master_key": MASTER},
            "router_settings": {
                "num_retries": 1,
                "allowed_fails": 0,
                "cooldown_time": 30,
                "fallbacks": [{"gemini": ["backup"]}],
            },
        }
        env = {
            "GCP_PROJECT_ID": first.project,  # FastChat's variables name the project and location
            "GCP_LOCATION": "us-central1",
            "TEST_VERTEX_JSON": json.dumps(second.service_account_info()),
        }
        with GatewayServer(config, tmp, env=env) as gateway:
            yield gateway, first, second


@pytest.fixture
def gw(setup):
    gateway, first, second = setup
    first.reset()
    second.reset()
    return gateway, first, second


def _no_retry():
    return {"extra_body": {"num_retries": 0, "fallbacks": [], "context_window_fallbacks": []}}


def test_gemini_text_usage_and_cost_with_one_token_exchange(gw):
    gateway, fake, _ = gw
    client = gateway.client()
    for _ in range(3):
        fake.script(Reply(text="Sunny.", prompt_tokens=1000, completion_tokens=200))
        raw = client.chat.completions.with_raw_response.create(
            model="lonely", messages=QUESTION, max_tokens=30
        )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Sunny."
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1000, 200)
    assert raw.headers["x-polyroute-provider"] == "vertex_ai"
    assert float(raw.headers["x-polyroute-response-cost"]) == pytest.approx(1000 * 3e-7 + 200 * 2.5e-6)
    sent = fake.requests[-1]
    where = f"/v1/projects/{fake.project}/locations/us-central1"
    assert sent.path == f"{where}/publishers/google/models/{GEMINI}:generateContent"
    assert sent.json["generationConfig"]["maxOutputTokens"] == 30
    assert sent.headers["authorization"].startswith("Bearer ya29.")
    assert fake.token_requests <= 1  # the token is reused, not fetched per request


def test_gemini_stream_tools_and_image(gw):
    gateway, fake, _ = gw
    fake.script(Reply(text="Checking.", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    content = [
        {"type": "text", "text": "Weather where this is?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
    ]
    chunks = list(
        gateway.client().chat.completions.create(
            model="lonely",
            messages=[{"role": "user", "content": content}],
            tools=TOOLS,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert text == "Checking." and calls[0].function.name == "get_weather"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Paris"}
    assert chunks[-1].usage.completion_tokens == 7
    sent = fake.requests[-1]
    assert sent.path.endswith(":streamGenerateContent") and sent.query["alt"] == "sse"
    assert sent.json["contents"][0]["parts"][1]["inlineData"]["data"] == PIXEL


def test_claude_on_vertex_text_tools_and_stream(gw):
    gateway, fake, _ = gw
    client = gateway.client()
    fake.script(Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    first = client.chat.completions.create(model="claude", messages=QUESTION, tools=TOOLS)
    (call,) = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls" and json.loads(call.function.arguments) == {
        "city": "Paris"
    }
    sent = fake.requests[-1]
    assert sent.path.endswith(f"/publishers/anthropic/models/{CLAUDE}:rawPredict")
    assert sent.json["anthropic_version"] == "vertex-2023-10-16" and "model" not in sent.json
    fake.script(Reply(text="Sunny in Paris."))
    follow_up = [
        *QUESTION,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "21 C"},
    ]
    chunks = list(
        client.chat.completions.create(model="claude", messages=follow_up, tools=TOOLS, stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Sunny in Paris."
    assert fake.requests[-1].path.endswith(":streamRawPredict") and fake.requests[-1].json["stream"] is True


def test_claude_streamed_tool_call(gw):
    gateway, fake, _ = gw
    fake.script(Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    chunks = list(
        gateway.client().chat.completions.create(model="claude", messages=QUESTION, tools=TOOLS, stream=True)
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Paris"}


def test_embeddings(gw):
    gateway, fake, _ = gw
    vectors = gateway.client().embeddings.create(model="embed", input=["alpha beta", "gamma"], dimensions=8)
    assert [item.index for item in vectors.data] == [0, 1] and len(vectors.data[0].embedding) == 8
    assert vectors.usage.prompt_tokens == 3
    sent = fake.requests[-1]
    assert sent.path.endswith("/models/text-embedding-005:predict")
    assert sent.json == {
        "instances": [{"content": "alpha beta"}, {"content": "gamma"}],
        "parameters": {"outputDimensionality": 8},
    }


@pytest.mark.parametrize(
    "model, error, expected, status",
    [
        (
            "lonely",
            Error(429, message="Quota exceeded for aiplatform.googleapis.com"),
            openai.RateLimitError,
            429,
        ),
        ("lonely", Error(400, message="Request contains an invalid argument."), openai.BadRequestError, 400),
        (
            "lonely",
            Error(503, message="The service is currently unavailable."),
            openai.InternalServerError,
            503,
        ),
        (
            "lonely",
            Error(403, message="Permission denied on resource project."),
            openai.PermissionDeniedError,
            403,
        ),
        (
            "claude-lonely",
            Error(
                429,
                type="rate_limit_error",
                message="Number of request tokens has exceeded your per-minute rate limit",
            ),
            openai.RateLimitError,
            429,
        ),
        (
            "claude-lonely",
            Error(400, message="prompt is too long: 210000 tokens > 200000 maximum"),
            openai.BadRequestError,
            400,
        ),
        (
            "claude-lonely",
            Error(529, type="overloaded_error", message="Overloaded"),
            openai.InternalServerError,
            503,
        ),
    ],
)
def test_errors_are_mapped(gw, model, error, expected, status):
    gateway, fake, _ = gw
    fake.script(error)
    with pytest.raises(expected) as raised:
        gateway.client(max_retries=0).chat.completions.create(model=model, messages=QUESTION, **_no_retry())
    assert raised.value.status_code == status and error.message in raised.value.message


def test_throttled_deployment_fails_over_and_group_falls_back(gw):
    gateway, first, second = gw
    first.script(Error(429, message="Quota exceeded"))
    second.script(Reply(text="from two"))
    raw = gateway.client().chat.completions.with_raw_response.create(model="main", messages=QUESTION)
    assert raw.parse().choices[0].message.content == "from two"
    assert raw.headers["x-polyroute-deployment"] == "two"
    first.script(Error(429, message="Quota exceeded"), Error(429, message="Quota exceeded"))
    second.script(Reply(text="from backup"))
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="gemini", messages=QUESTION, extra_body={"num_retries": 0}
    )
    assert (
        raw.parse().choices[0].message.content == "from backup"
        and raw.headers["x-polyroute-fallback"] == "true"
    )
    assert second.token_requests <= 1 and "authorization" in second.requests[-1].headers


def test_legacy_completion_on_both_vertex_apis(gw):
    gateway, fake, _ = gw
    for model in ("lonely", "claude-lonely"):
        fake.script(Reply(text="the end"))
        completion = gateway.client().completions.create(
            model=model, prompt="Finish the story:", max_tokens=10
        )
        assert completion.choices[0].text == "the end"


def test_mid_stream_failure_reaches_the_client(gw):
    gateway, fake, _ = gw
    for model in ("lonely", "claude-lonely"):
        fake.script(Reply(text="one two three four five", drop_after=3))
        with pytest.raises(openai.APIError):
            list(
                gateway.client(max_retries=0).chat.completions.create(
                    model=model, messages=QUESTION, stream=True, **_no_retry()
                )
            )


def test_params_follow_the_models_api(gw):
    gateway, fake, _ = gw
    # Gemini takes seed; Anthropic does not: refused naming the param, before any call.
    fake.script(Reply(text="ok"))
    gateway.client().chat.completions.create(model="lonely", messages=QUESTION, seed=7)
    assert fake.requests[-1].json["generationConfig"]["seed"] == 7
    with pytest.raises(openai.BadRequestError) as refused:
        gateway.client().chat.completions.create(model="claude-lonely", messages=QUESTION, seed=7)
    assert refused.value.body["param"] == "seed" and len(fake.requests) == 1

"""The fake Gemini API, checked with raw HTTP for exact frames and error bodies, then driven by the
Gemini adapter end to end (request -> fake -> translation) so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from polyroute import errors
from polyroute.protocol.sse import SSEDecoder
from polyroute.providers.base import ProviderCall
from polyroute.providers.gemini.adapter import GeminiAdapter
from polyroute.secrets import Secret
from tests.fakes.base import Error, Reply, ToolCall
from tests.fakes.gemini import FakeGemini, embedding_values

KEY = "AIzaSyFAKE-test-key-0001"
MODEL = "gemini-2.0-flash"
USER_TURN = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
NEGLIGIBLE = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGemini) -> FakeGemini:
    server.reset()
    server.valid_keys = None
    return server


def post(
    fake: FakeGemini,
    method: str,
    body: Any = None,
    *,
    key: str | None = KEY,
    params: dict | None = None,
    model: str = MODEL,
    timeout: float = 5.0,
) -> httpx.Response:
    headers = {"x-goog-api-key": key} if key else {}
    return httpx.post(
        f"{fake.url}/v1beta/models/{model}:{method}",
        content=orjson.dumps(USER_TURN if body is None else body),
        headers={"content-type": "application/json", **headers},
        params=params,
        timeout=timeout,
    )


def sse_frames(raw: bytes, separator: bytes = b"\n\n") -> list[bytes]:
    assert raw.endswith(separator)
    return raw[: -len(separator)].split(separator)


def frame_json(frame: bytes) -> dict[str, Any]:
    assert frame.startswith(b"data: ")
    return orjson.loads(frame[len(b"data: ") :])


# ---- generateContent -------------------------------------------------------------------------------


def test_generate_default_reply_exact_body(fake: FakeGemini) -> None:
    response = post(fake, "generateContent")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.pop("responseId"), str)
    assert body == {
        "candidates": [
            {
                "content": {"parts": [{"text": "Hello from the fake upstream."}], "role": "model"},
                "finishReason": "STOP",
                "safetyRatings": NEGLIGIBLE,
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 11,
            "candidatesTokenCount": 7,
            "totalTokenCount": 18,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
        },
        "modelVersion": MODEL,
    }
    recorded = fake.requests[-1]
    assert recorded.path == f"/v1beta/models/{MODEL}:generateContent"
    assert recorded.headers["x-goog-api-key"] == KEY
    assert recorded.json == USER_TURN


def test_generate_tool_calls_usage_details_and_model(fake: FakeGemini) -> None:
    fake.script(
        Reply(
            text=None,
            tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_time", {})],
            cached_tokens=4,
            reasoning_tokens=9,
            model="gemini-2.5-flash-001",
            headers={"x-fake": "1"},
        )
    )
    response = post(fake, "generateContent")
    body = response.json()
    assert response.headers["x-fake"] == "1"
    assert body["candidates"][0]["content"] == {
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {}}},
        ],
        "role": "model",
    }
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert body["usageMetadata"] == {
        "promptTokenCount": 11,
        "candidatesTokenCount": 7,
        "totalTokenCount": 27,
        "cachedContentTokenCount": 4,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 4}],
        "thoughtsTokenCount": 9,
    }
    assert body["modelVersion"] == "gemini-2.5-flash-001"


def test_generate_safety_block_has_no_content(fake: FakeGemini) -> None:
    fake.script(Reply(text=None, finish="SAFETY"))
    candidate = post(fake, "generateContent").json()["candidates"][0]
    assert "content" not in candidate
    assert candidate["finishReason"] == "SAFETY"
    assert candidate["safetyRatings"][1] == {
        "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
        "probability": "HIGH",
        "blocked": True,
    }


def test_generate_prompt_block_has_no_candidates(fake: FakeGemini) -> None:
    fake.script(Reply(text=None, extra={"promptFeedback": {"blockReason": "SAFETY"}}))
    body = post(fake, "generateContent").json()
    assert "candidates" not in body
    assert body["promptFeedback"] == {"blockReason": "SAFETY"}
    assert body["usageMetadata"] == {"promptTokenCount": 11, "totalTokenCount": 11}


def test_generate_malformed(fake: FakeGemini) -> None:
    fake.script(Reply(malformed=True))
    response = post(fake, "generateContent")
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


# ---- auth and validation ---------------------------------------------------------------------------


def test_missing_key_is_403_permission_denied(fake: FakeGemini) -> None:
    response = post(fake, "generateContent", key=None)
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": 403,
            "message": "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
            "status": "PERMISSION_DENIED",
        }
    }


def test_key_in_query_is_accepted(fake: FakeGemini) -> None:
    response = post(fake, "generateContent", key=None, params={"key": KEY})
    assert response.status_code == 200
    assert fake.requests[-1].query == {"key": KEY}


def test_unknown_key_is_400_api_key_invalid(fake: FakeGemini) -> None:
    fake.valid_keys = {"AIza-the-only-good-key"}
    response = post(fake, "generateContent", key="AIza-wrong")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"], error["message"]) == (
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
    )
    assert error["details"][0] == {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
    assert post(fake, "generateContent", key="AIza-the-only-good-key").status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"contents": []}, "* GenerateContentRequest.contents: contents is not specified\n"),
        ({}, "* GenerateContentRequest.contents: contents is not specified\n"),
        (
            {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
            "Please use a valid role: user, model.",
        ),
        (
            {"contents": [{"role": "user", "parts": []}]},
            "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
        ),
    ],
)
def test_invalid_requests_are_400_invalid_argument(fake: FakeGemini, body: dict, message: str) -> None:
    fake.script(Reply(text="must not be consumed"))
    response = post(fake, "generateContent", body)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
    assert fake.next_behaviour().text == "must not be consumed"


def test_non_json_body_is_400(fake: FakeGemini) -> None:
    response = httpx.post(
        f"{fake.url}/v1beta/models/{MODEL}:generateContent", content=b"{nope", headers={"x-goog-api-key": KEY}
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_unknown_method_is_404(fake: FakeGemini) -> None:
    response = post(fake, "countTokens")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


# ---- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "rpc"),
    [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
def test_scripted_error_natural_status(fake: FakeGemini, status: int, rpc: str) -> None:
    fake.script(Error(status, message="scripted"))
    response = post(fake, "generateContent")
    assert response.status_code == status
    assert response.json() == {"error": {"code": status, "message": "scripted", "status": rpc}}


def test_scripted_429_with_retry_after_has_retry_info(fake: FakeGemini) -> None:
    fake.script(Error(429, message="quota", headers={"retry-after": "12"}))
    response = post(fake, "generateContent")
    assert response.headers["retry-after"] == "12"
    assert response.json() == {
        "error": {
            "code": 429,
            "message": "quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
        }
    }


def test_scripted_error_type_code_and_body_override(fake: FakeGemini) -> None:
    fake.script(
        Error(400, type="FAILED_PRECONDITION", message="billing"),
        Error(400, code="API_KEY_INVALID", message="API key not valid. Please pass a valid API key."),
        Error(502, body=b"<html>bad gateway</html>"),
    )
    first = post(fake, "generateContent").json()["error"]
    assert (first["status"], first["message"], "details" in first) == (
        "FAILED_PRECONDITION",
        "billing",
        False,
    )
    second = post(fake, "generateContent").json()["error"]
    assert second["details"][0]["reason"] == "API_KEY_INVALID"
    third = post(fake, "generateContent")
    assert (third.status_code, third.content) == (502, b"<html>bad gateway</html>")


# ---- streamGenerateContent -------------------------------------------------------------------------


def test_stream_sse_frames(fake: FakeGemini) -> None:
    fake.script(Reply(text="Hello big world", tool_calls=[ToolCall("f", {"a": 1})], reasoning_tokens=3))
    response = post(fake, "streamGenerateContent", params={"alt": "sse"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert b"[DONE]" not in response.content
    frames = [frame_json(f) for f in sse_frames(response.content)]
    assert len(frames) == 4
    assert [f["candidates"][0].get("content") for f in frames] == [
        {"parts": [{"text": "Hello "}], "role": "model"},
        {"parts": [{"text": "big "}], "role": "model"},
        {"parts": [{"text": "world"}], "role": "model"},
        {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}], "role": "model"},
    ]
    assert [f["candidates"][0].get("finishReason") for f in frames] == [None, None, None, "STOP"]
    assert len({f["responseId"] for f in frames}) == 1
    assert {f["modelVersion"] for f in frames} == {MODEL}
    partial = {
        "promptTokenCount": 11,
        "totalTokenCount": 14,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
        "thoughtsTokenCount": 3,
    }
    assert [f["usageMetadata"] for f in frames[:3]] == [partial] * 3
    assert frames[3]["usageMetadata"] == {
        "promptTokenCount": 11,
        "candidatesTokenCount": 7,
        "totalTokenCount": 21,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
        "thoughtsTokenCount": 3,
    }


def test_stream_crlf_framing() -> None:
    with FakeGemini(crlf=True) as fake:
        fake.script(Reply(text="a b"))
        raw = post(fake, "streamGenerateContent", params={"alt": "sse"}).content
    frames = sse_frames(raw, b"\r\n\r\n")
    assert len(frames) == 2 and b"\n\n" not in raw.replace(b"\r\n\r\n", b"")
    assert frame_json(frames[1])["candidates"][0]["finishReason"] == "STOP"


def test_stream_without_alt_sse_is_a_json_array(fake: FakeGemini) -> None:
    fake.script(Reply(text="one two", chunks=None))
    response = post(fake, "streamGenerateContent")
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.content.startswith(b"[{") and response.content.endswith(b"}]")
    frames = response.json()
    assert [f["candidates"][0]["content"]["parts"][0]["text"] for f in frames] == ["one ", "two"]
    assert frames[-1]["candidates"][0]["finishReason"] == "STOP"


def test_stream_safety_block_and_prompt_block(fake: FakeGemini) -> None:
    fake.script(
        Reply(text="Sure", finish="SAFETY"),
        Reply(text=None, extra={"promptFeedback": {"blockReason": "SAFETY"}}),
    )
    frames = [
        frame_json(f) for f in sse_frames(post(fake, "streamGenerateContent", params={"alt": "sse"}).content)
    ]
    assert [f["candidates"][0].get("content") for f in frames] == [
        {"parts": [{"text": "Sure"}], "role": "model"},
        None,
    ]
    assert frames[-1]["candidates"][0]["finishReason"] == "SAFETY"
    raw = post(fake, "streamGenerateContent", params={"alt": "sse"}).content
    (blocked,) = [frame_json(f) for f in sse_frames(raw)]
    assert "candidates" not in blocked and blocked["promptFeedback"] == {"blockReason": "SAFETY"}


def test_stream_error_after_sends_error_frame_and_closes(fake: FakeGemini) -> None:
    fake.script(Reply(text="a b c", error_after=1))
    frames = sse_frames(post(fake, "streamGenerateContent", params={"alt": "sse"}).content)
    assert len(frames) == 2
    assert frame_json(frames[0])["candidates"][0]["content"]["parts"] == [{"text": "a "}]
    assert frame_json(frames[1]) == {
        "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        }
    }


def test_stream_error_after_in_json_array_mode(fake: FakeGemini) -> None:
    fake.script(Reply(text="a b c", error_after=1))
    items = post(fake, "streamGenerateContent").json()
    assert len(items) == 2 and items[1]["error"]["status"] == "UNAVAILABLE"


def test_stream_drop_after_tears_the_connection_down(fake: FakeGemini) -> None:
    fake.script(Reply(text="a b c", drop_after=1))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream(
            "POST",
            f"{fake.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
            content=orjson.dumps(USER_TURN),
            headers={"x-goog-api-key": KEY},
        ) as response:
            for chunk in response.iter_raw():
                received += chunk
    assert [frame_json(f)["candidates"][0]["content"]["parts"][0]["text"] for f in sse_frames(received)] == [
        "a "
    ]


def test_stream_stall_after_keeps_the_connection_open(fake: FakeGemini) -> None:
    fake.script(Reply(text="a b c", stall_after=2))
    received = b""
    with pytest.raises(httpx.ReadTimeout):
        with httpx.stream(
            "POST",
            f"{fake.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
            content=orjson.dumps(USER_TURN),
            headers={"x-goog-api-key": KEY},
            timeout=httpx.Timeout(5.0, read=0.5),
        ) as response:
            for chunk in response.iter_raw():
                received += chunk
    assert len(sse_frames(received)) == 2


def test_stream_malformed_frame(fake: FakeGemini) -> None:
    fake.script(Reply(malformed=True))
    (frame,) = sse_frames(post(fake, "streamGenerateContent", params={"alt": "sse"}).content)
    with pytest.raises(orjson.JSONDecodeError):
        frame_json(frame)


# ---- embeddings ------------------------------------------------------------------------------------


def embed_body(*texts: str, model: str = "text-embedding-004", **extra: Any) -> dict[str, Any]:
    return {
        "requests": [
            {"model": f"models/{model}", "content": {"parts": [{"text": t}]}, **extra} for t in texts
        ]
    }


def test_batch_embed_is_deterministic(fake: FakeGemini) -> None:
    first = post(fake, "batchEmbedContents", embed_body("alpha", "beta"), model="text-embedding-004").json()
    again = post(fake, "batchEmbedContents", embed_body("alpha"), model="text-embedding-004").json()
    vectors = [e["values"] for e in first["embeddings"]]
    assert list(first) == ["embeddings"]
    assert len(vectors) == 2 and all(len(v) == 8 for v in vectors)
    assert all(-1.0 <= x <= 1.0 for v in vectors for x in v)
    assert vectors[0] == again["embeddings"][0]["values"] == embedding_values("alpha")
    assert vectors[0] != vectors[1]


def test_batch_embed_dimensions_and_model_check(fake: FakeGemini) -> None:
    body = embed_body("alpha", outputDimensionality=3)
    assert [
        len(e["values"])
        for e in post(fake, "batchEmbedContents", body, model="text-embedding-004").json()["embeddings"]
    ] == [3]
    mismatch = post(fake, "batchEmbedContents", embed_body("x", model="other"), model="text-embedding-004")
    assert mismatch.status_code == 400 and mismatch.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_embed_content_single(fake: FakeGemini) -> None:
    body = {"content": {"parts": [{"text": "alpha"}]}}
    assert post(fake, "embedContent", body, model="text-embedding-004").json() == {
        "embedding": {"values": embedding_values("alpha")}
    }


# ---- the adapter against the fake ------------------------------------------------------------------

adapter = GeminiAdapter()


def gateway_call(fake: FakeGemini, model: str = MODEL) -> ProviderCall:
    return ProviderCall("gemini", model, api_base=fake.url, api_key=Secret(KEY))


def send(wire) -> httpx.Response:
    return httpx.request(wire.method, wire.url, content=wire.body, headers=wire.headers, timeout=5.0)


def test_adapter_round_trip_chat(fake: FakeGemini) -> None:
    fake.script(Reply(text="It is sunny.", cached_tokens=2, reasoning_tokens=5))
    body = {
        "model": "alias",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}],
    }
    response = send(adapter.chat_request(gateway_call(fake), body, stream=False))
    assert response.status_code == 200
    result = adapter.chat_response(gateway_call(fake), response.json())
    assert result["choices"][0]["message"]["content"] == "It is sunny."
    assert result["choices"][0]["finish_reason"] == "stop"
    assert result["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 12,
        "total_tokens": 23,
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 5},
    }
    recorded = fake.requests[-1]
    assert "key" not in recorded.query
    assert recorded.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


def translate_stream(fake: FakeGemini, reply: Reply) -> tuple[list[dict], Any]:
    fake.script(reply)
    body = {"messages": [{"role": "user", "content": "go"}]}
    response = send(adapter.chat_request(gateway_call(fake), body, stream=True))
    assert fake.requests[-1].query == {"alt": "sse"}
    translator = adapter.chat_stream(gateway_call(fake), body)
    decoder = SSEDecoder()
    chunks = []
    for event in decoder.feed(response.content) + decoder.flush():
        chunks.extend(translator.on_event(event))
    chunks.extend(translator.on_end())
    return chunks, translator


def test_adapter_round_trip_stream_with_tool_call(fake: FakeGemini) -> None:
    chunks, translator = translate_stream(
        fake, Reply(text="Looking up", tool_calls=[ToolCall("lookup", {"q": "x"})])
    )
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[:3] == [{"role": "assistant", "content": ""}, {"content": "Looking "}, {"content": "up"}]
    assert deltas[3]["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"q":"x"}'}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.usage["total_tokens"] == 18


def test_adapter_stream_error_frame(fake: FakeGemini) -> None:
    with pytest.raises(errors.ServiceUnavailableError):
        translate_stream(fake, Reply(text="a b c", error_after=2))


def test_adapter_stream_prompt_block(fake: FakeGemini) -> None:
    chunks, _ = translate_stream(fake, Reply(text=None, extra={"promptFeedback": {"blockReason": "OTHER"}}))
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"


def test_adapter_maps_fake_errors(fake: FakeGemini) -> None:
    fake.script(Error(429, message="slow down", headers={"retry-after": "4"}))
    response = send(
        adapter.chat_request(gateway_call(fake), {"messages": [{"role": "user", "content": "x"}]}, False)
    )
    error = adapter.map_error(response.status_code, response.content, response.headers)
    assert isinstance(error, errors.RateLimitError) and error.retry_after == 4.0
    missing_key = ProviderCall("gemini", MODEL, api_base=fake.url)
    response = send(
        adapter.chat_request(missing_key, {"messages": [{"role": "user", "content": "x"}]}, False)
    )
    assert isinstance(
        adapter.map_error(response.status_code, response.content, response.headers),
        errors.PermissionDeniedError,
    )


def test_adapter_round_trip_embeddings(fake: FakeGemini) -> None:
    body = {"model": "alias", "input": ["alpha", "beta"], "dimensions": 4}
    call = gateway_call(fake, "text-embedding-004")
    response = send(adapter.embeddings_request(call, body))
    assert response.status_code == 200
    result = adapter.embeddings_response(call, response.json(), body)
    assert [d["embedding"] for d in result["data"]] == [
        embedding_values("alpha", 4),
        embedding_values("beta", 4),
    ]
    assert result["usage"] == {"prompt_tokens": 3, "total_tokens": 3}

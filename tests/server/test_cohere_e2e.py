"""Cohere through the gateway as a user meets it: embeddings through the openai SDK, rerank on
POST /v1/rerank in LiteLLM's shape, Cohere-only request fields, and each documented error
status as the OpenAI error a client expects. (Chat, streams, tools and images run in the
parity matrix of test_providers_e2e.py; throttling in test_api_providers_e2e.py.)"""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.base import Error, Reply

QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


def rerank(gateway, **body):
    return httpx.post(
        gateway.url + "/v1/rerank", json=body, headers={"authorization": f"Bearer {gateway.master_key}"}
    )


def test_embeddings_through_the_openai_sdk(gateway, fake_cohere):
    vectors = gateway.client().embeddings.create(
        model="cohere-embed", input=["alpha beta", "gamma"], dimensions=8
    )
    assert [item.index for item in vectors.data] == [0, 1] and len(vectors.data[0].embedding) == 8
    assert vectors.usage.prompt_tokens == 3  # Cohere's billed input tokens
    sent = fake_cohere.requests[-1]
    assert sent.path == "/v2/embed"
    assert sent.json["input_type"] == "search_document" and sent.json["output_dimension"] == 8


def test_embeddings_input_type_from_the_client_wins(gateway, fake_cohere):
    gateway.client().embeddings.create(
        model="cohere-embed", input="q", extra_body={"input_type": "search_query"}
    )
    assert fake_cohere.requests[-1].json["input_type"] == "search_query"


def test_rerank_in_litellms_shape(gateway, fake_cohere):
    answer = rerank(
        gateway,
        model="cohere-rerank",
        query="red apple",
        documents=["blue sky", "a red apple", "red car"],
        top_n=2,
        return_documents=True,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["index"] for r in body["results"]] == [1, 2]
    assert body["results"][0]["document"] == {"text": "a red apple"}
    assert body["meta"]["billed_units"]["search_units"] == 1
    # rerank-v3.5: USD 2 per 1,000 searches, one search unit billed
    assert float(answer.headers["x-polyroute-response-cost"]) == pytest.approx(0.002)
    assert answer.headers["x-polyroute-provider"] == "cohere"
    sent = fake_cohere.requests[-1]
    assert sent.path == "/v2/rerank" and sent.json["top_n"] == 2 and "return_documents" not in sent.json


def test_rerank_documents_as_objects_use_rank_fields(gateway, fake_cohere):
    documents = [{"title": "Apples", "body": "red apple pie"}, {"title": "Sky", "body": "blue"}]
    answer = rerank(gateway, model="cohere-rerank", query="apple", documents=documents, rank_fields=["body"])
    assert answer.status_code == 200
    assert fake_cohere.requests[-1].json["documents"] == ["body: red apple pie", "body: blue"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": "", "documents": ["a"]}, "query"),
        ({"query": "q", "documents": []}, "documents"),
        ({"query": "q", "documents": ["a", 3]}, "documents[1]"),
        ({"query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
    ],
)
def test_rerank_bad_input_names_the_field(gateway, fake_cohere, body, param):
    answer = rerank(gateway, model="cohere-rerank", **body)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param
    assert fake_cohere.requests == []


def test_rerank_on_a_provider_without_it_is_unsupported(gateway):
    answer = rerank(gateway, model="claude", query="q", documents=["a"])
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "unsupported_model"


def test_cohere_fields_pass_through_and_openai_ones_are_renamed(gateway, fake_cohere):
    fake_cohere.script(Reply(text="ok"))
    gateway.client().chat.completions.create(
        model="cohere-command",
        messages=QUESTION,
        top_p=0.5,
        stop="END",
        max_tokens=20,
        extra_body={"safety_mode": "STRICT", "k": 10},
    )
    sent = fake_cohere.requests[-1].json
    assert (sent["p"], sent["stop_sequences"], sent["max_tokens"]) == (0.5, ["END"], 20)
    assert (sent["safety_mode"], sent["k"]) == ("STRICT", 10)
    assert "top_p" not in sent and "stop" not in sent


def test_logprobs_are_refused_before_any_call(gateway, fake_cohere):
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="cohere-command", messages=QUESTION, logprobs=True)
    assert caught.value.param == "logprobs" and fake_cohere.requests == []


def test_tool_plan_arrives_as_reasoning_content(gateway, fake_cohere):
    from tests.fakes.base import ToolCall

    fake_cohere.script(Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    reply = gateway.client().chat.completions.create(model="cohere-command", messages=QUESTION)
    assert reply.choices[0].message.model_extra["reasoning_content"] == "I will call the tool."


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        (Error(401, message="invalid api token"), openai.AuthenticationError, 401),
        (Error(498, message="invalid api token"), openai.AuthenticationError, 401),
        (Error(402, message="please add a payment method"), openai.PermissionDeniedError, 403),
        (Error(404, message="model 'x' not found"), openai.NotFoundError, 404),
        (Error(422, message="unprocessable"), openai.UnprocessableEntityError, 422),
        (Error(429, message="You are using a Trial key"), openai.RateLimitError, 429),
        (Error(499, message="request cancelled"), openai.InternalServerError, 502),
        (Error(500, message="internal server error"), openai.InternalServerError, 502),
        (Error(503, message="service unavailable"), openai.InternalServerError, 503),
    ],
)
def test_documented_statuses_map_to_openai_errors(gateway, fake_cohere, error, expected, status):
    fake_cohere.script(error)
    with pytest.raises(expected) as caught:
        gateway.client().chat.completions.create(model="cohere-command", messages=QUESTION)
    assert caught.value.status_code == status
    assert error.message in caught.value.message


def test_too_many_tokens_is_a_context_window_error(gateway, fake_cohere):
    message = "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4292."
    fake_cohere.script(Error(400, message=message))
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="cohere-command", messages=QUESTION)
    assert caught.value.code == "context_length_exceeded"


def test_in_stream_error_event_fails_the_stream(gateway, fake_cohere):
    fake_cohere.script(Reply(text="one two three four", error_after=3))
    with pytest.raises(openai.APIError):
        list(gateway.client().chat.completions.create(model="cohere-command", messages=QUESTION, stream=True))


def test_cost_from_cohere_list_prices(gateway, fake_cohere):
    fake_cohere.script(Reply(text="ok", prompt_tokens=20, completion_tokens=6))
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="cohere-command", messages=QUESTION
    )
    # command-a-03-2025: USD 2.50 per million input tokens, 10.00 per million output
    assert float(raw.headers["x-polyroute-response-cost"]) == pytest.approx(20 * 2.5e-6 + 6 * 1e-5)
    embedded = gateway.client().embeddings.with_raw_response.create(
        model="cohere-embed", input="one two three"
    )
    assert float(embedded.headers["x-polyroute-response-cost"]) == pytest.approx(3 * 1.2e-7)

"""schemathesis against the model routes (raw ASGI, so no OpenAPI of their own): a small
OpenAPI document of OpenAI's request and answer shapes for the routes polyroute serves, run
against a real loopback gateway over mock models. Valid and invalid requests alike must never
get a 5xx, and every answer must be OpenAI's JSON: the answer's shape on 200, the error object
({"error": {"message", "type", "param", "code"}}) on anything else."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from tests.conftest import MASTER_KEY
from tests.gateway import GatewayServer

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
MODELS = ["mock-chat", "no-such-model"]

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "integer", "null"]},
            },
        }
    },
}
USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "total_tokens"],
    "properties": {"prompt_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}},
}
MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"enum": ["system", "user", "assistant"]},
        "content": {"type": "string", "maxLength": 40},
        "name": {"type": "string", "maxLength": 10},
    },
}
SAMPLING = {
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 64},
    "n": {"type": "integer", "minimum": 1, "maximum": 2},
    "stop": {"type": ["string", "array"], "items": {"type": "string"}, "maxItems": 4},
    "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
    "user": {"type": "string", "maxLength": 20},
    "seed": {"type": "integer"},
}


def operation(request: dict, answer: dict) -> dict:
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": {
            "200": {"description": "the answer", "content": {"application/json": {"schema": answer}}},
            "default": {"description": "an OpenAI error", "content": {"application/json": {"schema": ERROR}}},
        },
    }


SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "polyroute model routes (OpenAI shapes)", "version": "1"},
    "paths": {
        "/v1/chat/completions": {"post": operation(
            {"type": "object", "required": ["model", "messages"], "properties": {
                "model": {"enum": MODELS}, "messages": {"type": "array", "items": MESSAGE, "maxItems": 3},
                "stream": {"enum": [False]}, **SAMPLING}},
            {"type": "object", "required": ["id", "object", "choices", "model"], "properties": {
                "object": {"enum": ["chat.completion"]}, "usage": USAGE,
                "choices": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["index", "message", "finish_reason"]}}}},
        )},
        "/v1/completions": {"post": operation(
            {"type": "object", "required": ["model", "prompt"], "properties": {
                "model": {"enum": MODELS}, "prompt": {"type": ["string", "array"], "maxLength": 40,
                                                      "items": {"type": "string"}, "maxItems": 2},
                "stream": {"enum": [False]}, **SAMPLING}},
            {"type": "object", "required": ["id", "object", "choices"], "properties": {
                "object": {"enum": ["text_completion"]}, "choices": {"type": "array", "minItems": 1}}},
        )},
        "/v1/embeddings": {"post": operation(
            {"type": "object", "required": ["model", "input"], "properties": {
                "model": {"enum": ["mock-embed", "no-such-model"]},
                "input": {"type": ["string", "array"], "maxLength": 40, "items": {"type": "string"},
                          "maxItems": 3},
                "encoding_format": {"enum": ["float", "base64"]}}},
            {"type": "object", "required": ["object", "data"], "properties": {
                "object": {"enum": ["list"]}, "data": {"type": "array"}}},
        )},
    },
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    config = {
        "model_list": [
            {"model_name": "mock-chat", "litellm_params": {"model": "mock/chat"}},
            {"model_name": "mock-embed", "litellm_params": {"model": "mock/embed"}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    with GatewayServer(config, tmp_path_factory.mktemp("model-schema")) as server:
        yield server


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_model_routes_answer_in_openai_shapes_and_never_fail(gateway, mode):
    schema = schemathesis.openapi.from_dict(SPEC)
    schema.config.base_url = gateway.url
    for result in schema.get_all_operations():
        op = result.ok()

        @given(op.as_strategy(generation_mode=mode))
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            case.call_and_validate(headers=AUTH, checks=CHECKS)

        call()


@pytest.mark.parametrize(
    ("body_input", "status", "param"),
    [
        ([None, None], 400, "input[0]"),
        (["a", {"x": 1}], 400, "input[1]"),
        (["a", []], 400, "input[1]"),
        ([1, 2, 3], 200, None),  # one input as token ids
        ([[1, 2], [3]], 200, None),
        (["a", "b"], 200, None),
    ],
)
def test_embedding_inputs_are_openai_forms_or_a_400_naming_the_item(gateway, body_input, status, param):
    """What the negative run found as 500s (a TypeError in the batching): items that are not
    strings or token ids, and one input given as token ids."""
    answer = httpx.post(
        gateway.url + "/v1/embeddings", json={"model": "mock-embed", "input": body_input}, headers=AUTH
    )
    assert answer.status_code == status, answer.text
    if param:
        assert answer.json()["error"]["param"] == param
    else:
        assert len(answer.json()["data"]) == (1 if body_input == [1, 2, 3] else len(body_input))

"""Mistral adapter translation: Mistral's strict request rules (renamed and unsent fields,
message keys, nine-character tool-call ids) and its error bodies (fixtures/mistral/errors.json)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from polyroute import errors
from polyroute.providers.base import ProviderCall
from polyroute.providers.mistral.adapter import MistralAdapter
from polyroute.providers.mistral.request import TOOL_CALL_ID, mistral_tool_call_id
from polyroute.secrets import Secret

FIXTURES = Path(__file__).parent / "fixtures" / "mistral"
adapter = MistralAdapter()


def call(**kwargs) -> ProviderCall:
    return ProviderCall("mistral", "mistral-large-latest", api_key=Secret("m-key"), **kwargs)


@pytest.mark.parametrize(
    "original", ["call_abc123def456", "toolu_01A09q90qw90lq917835lq9", "x", "", "ab-cd-efg"]
)
def test_foreign_ids_become_nine_stable_characters(original):
    rewritten = mistral_tool_call_id(original)
    assert TOOL_CALL_ID.match(rewritten) and mistral_tool_call_id(original) == rewritten


def test_mistral_ids_are_kept_and_distinct_ids_stay_distinct():
    assert mistral_tool_call_id("D681PevKs") == "D681PevKs"
    ids = {mistral_tool_call_id(f"call_{i}") for i in range(2000)}
    assert len(ids) == 2000


def test_request_rules():
    body = {
        "model": "client-name",
        "messages": [
            {"role": "user", "content": "hi", "name": "ann"},
            {
                "role": "assistant",
                "content": "",
                "reasoning_content": "elsewhere",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        ],
        "max_tokens": 10,
        "max_completion_tokens": 20,
        "seed": 3,
        "user": "u",
        "stream": True,
        "stream_options": {"include_usage": True},
        "safe_prompt": True,
    }
    wire = orjson.loads(adapter.chat_request(call(), body, True).body)
    new_id = mistral_tool_call_id("call_1")
    assert wire == {
        "model": "mistral-large-latest",
        "messages": [
            {"role": "user", "content": "hi", "name": "ann"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": new_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": new_id, "content": "ok"},
        ],
        "max_tokens": 20,
        "random_seed": 3,
        "stream": True,
        "safe_prompt": True,
    }


def test_safe_prompt_from_the_deployment_unless_the_request_sets_it():
    deployment = call(extras={"safe_prompt": True})
    hello = {"messages": [{"role": "user", "content": "hi"}]}
    assert orjson.loads(adapter.chat_request(deployment, hello, False).body)["safe_prompt"] is True
    own = {**hello, "safe_prompt": False}
    assert orjson.loads(adapter.chat_request(deployment, own, False).body)["safe_prompt"] is False


@pytest.mark.parametrize(
    "case", orjson.loads((FIXTURES / "errors.json").read_bytes())["cases"], ids=lambda c: c["error"]
)
def test_documented_errors(case):
    error = adapter.map_error(case["status"], orjson.dumps(case["body"]), case.get("headers", {}))
    assert type(error) is getattr(errors, case["error"])
    assert (error.message, error.param) == (case["message"], case["param"])
    assert error.retry_after == case.get("retry_after")

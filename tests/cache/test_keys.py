"""The exact key: what makes two requests the same question, and whose answers a caller may read."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from polyroute.cache.keys import (
    NO_CONTROLS,
    caller_scope,
    exact_key,
    prompt_text,
    request_controls,
    semantic_partition,
    uncacheable,
)
from polyroute.errors import InvalidRequestError

BODY = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}


def key(body, scope="key:a", namespace=None, group="gpt"):
    return exact_key("chat_completion", group, body, scope, namespace)


def test_delivery_and_routing_params_do_not_change_the_key() -> None:
    same = {
        **BODY,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u1",
        "metadata": {"a": 1},
        "num_retries": 3,
        "fallbacks": ["other"],
        "timeout": 30,
        "cache": {"ttl": 5},
    }
    assert key(same) == key(BODY)


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.3},
        {"messages": [{"role": "user", "content": "hi!"}]},
        {"max_tokens": 5},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"response_format": {"type": "json_object"}},
        {"seed": 1},
        {"n": 2},
        {"mock_response": "x"},
    ],
)
def test_every_answer_changing_param_changes_the_key(change) -> None:
    assert key({**BODY, **change}) != key(BODY)


def test_key_order_of_the_body_does_not_matter() -> None:
    assert key(dict(reversed(list(BODY.items())))) == key(BODY)


def test_scope_namespace_group_and_call_type_separate_entries() -> None:
    base = key(BODY)
    assert key(BODY, scope="key:b") != base
    assert key(BODY, namespace="ns") != base
    assert key(BODY, group="other") != base
    assert exact_key("text_completion", "gpt", BODY, "key:a", None) != base


def test_semantic_partition_ignores_the_prompt_only() -> None:
    other_prompt = {**BODY, "messages": [{"role": "user", "content": "something else"}]}
    assert semantic_partition("chat_completion", "gpt", other_prompt, "s", None) == semantic_partition(
        "chat_completion", "gpt", BODY, "s", None
    )
    assert semantic_partition("chat_completion", "gpt", {**BODY, "temperature": 1}, "s", None) != (
        semantic_partition("chat_completion", "gpt", BODY, "s", None)
    )


def test_caller_scope() -> None:
    team_key = SimpleNamespace(key=SimpleNamespace(token="hash1", team_id="t1"), role="virtual_key")
    solo_key = SimpleNamespace(key=SimpleNamespace(token="hash2", team_id=None), role="virtual_key")
    master = SimpleNamespace(key=None, role="proxy_admin")
    assert caller_scope(team_key, "key") == "key:hash1"
    assert caller_scope(team_key, "team") == "team:t1"
    assert caller_scope(solo_key, "team") == "key:hash2"
    assert caller_scope(master, "key") == "role:proxy_admin"
    assert caller_scope(team_key, "global") == caller_scope(master, "global") == "global"


def test_controls_from_body_and_extra_body() -> None:
    assert request_controls(BODY) is NO_CONTROLS
    got = request_controls(
        {**BODY, "cache": {"no-cache": True, "no-store": True, "ttl": 5, "namespace": "n"}}
    )
    assert (got.no_cache, got.no_store, got.ttl, got.namespace) == (True, True, 5.0, "n")
    assert request_controls({**BODY, "extra_body": {"cache": {"s-maxage": 10}}}).s_maxage == 10.0


@pytest.mark.parametrize(
    ("cache", "param"),
    [
        ("yes", "cache"),
        ({"no-cache": "true"}, "cache.no-cache"),
        ({"ttl": -1}, "cache.ttl"),
        ({"ttl": True}, "cache.ttl"),
        ({"namespace": ""}, "cache.namespace"),
        ({"namespace": "x" * 200}, "cache.namespace"),
    ],
)
def test_bad_controls_are_a_400_naming_the_field(cache, param) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        request_controls({**BODY, "cache": cache})
    assert raised.value.param == param


def test_client_chosen_upstreams_are_never_cached() -> None:
    assert uncacheable({**BODY, "api_key": "sk-x"})
    assert uncacheable({**BODY, "api_base": "http://x"})
    assert uncacheable({**BODY, "user_config": {}})
    assert not uncacheable(BODY)


def test_prompt_text_covers_the_whole_conversation() -> None:
    text = prompt_text(
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            ]
        }
    )
    assert text.startswith("system: be brief\nuser: ")
    assert '"hi"' in text
    assert prompt_text({"prompt": "complete me"}) == "complete me"

"""count_tokens_local: the gateway's own estimate for /v1/messages/count_tokens."""

from __future__ import annotations

import pytest

from polyroute.errors import InvalidRequestError
from polyroute.inbound.anthropic_messages import count_tokens_local


def test_counts_grow_with_system_and_tools() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "Hello there, how are you?"}]}
    plain = count_tokens_local(base)["input_tokens"]
    with_system = count_tokens_local({**base, "system": "x" * 400})["input_tokens"]
    tools = [{"name": "search", "description": "d" * 400, "input_schema": {"type": "object"}}]
    with_tools = count_tokens_local({**base, "tools": tools})["input_tokens"]
    assert plain >= 1
    assert with_system >= plain + 100
    assert with_tools >= plain + 100


def test_invalid_body_is_refused_like_messages() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        count_tokens_local({"model": "m", "messages": [{"role": "robot", "content": "x"}]})
    assert caught.value.param == "messages.0.role"

"""The outbound Anthropic adapter sends an assistant message's `thinking_blocks` back first in
its turn (providers/anthropic/messages.py), as the Messages inbound protocol sets them."""

from __future__ import annotations

import pytest

from polyroute.errors import InvalidRequestError
from polyroute.providers.anthropic.messages import convert_messages


def test_signed_and_redacted_blocks_lead_the_turn_unsigned_ones_are_left_out() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": "answer",
            "reasoning_content": "r",
            "thinking_blocks": [
                {"type": "thinking", "thinking": "r", "signature": "sig-1"},
                {"type": "thinking", "thinking": "from another model", "signature": ""},
                {"type": "redacted_thinking", "data": "EmwK"},
                "junk",
            ],
        },
    ]
    _, out = convert_messages(messages)
    assert out[1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "r", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "EmwK"},
            {"type": "text", "text": "answer"},
        ],
    }


def test_a_plain_assistant_string_stays_a_string() -> None:
    _, out = convert_messages([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])
    assert out[1] == {"role": "assistant", "content": "a"}


def test_thinking_blocks_must_be_a_list() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        convert_messages([{"role": "assistant", "content": "a", "thinking_blocks": "x"}])
    assert caught.value.param == "messages[0].thinking_blocks"

"""`/v1/messages/count_tokens` answered by the gateway itself, for deployments that are not
Anthropic's (Anthropic deployments get `native.native_count_request`).

The figure is the gateway's own estimate (router/tokens.py: about four characters a token,
system, tools and tool calls included), the one admission control uses; it is not the model's
tokenizer. The body is validated as a Messages body, except that max_tokens is not needed.
"""

from __future__ import annotations

from typing import Any

from polyroute.inbound.anthropic_messages.request import to_chat
from polyroute.router.tokens import estimate_prompt_tokens


def count_tokens_local(body: dict[str, Any]) -> dict[str, int]:
    chat = to_chat(body, count_tokens=True)
    return {"input_tokens": estimate_prompt_tokens(chat)}

"""Pass-through to Anthropic deployments: the client's own Messages body goes upstream, the
answer's bytes come back, and `AnthropicNativeUsage` reads the usage for billing.

The body sent is the client's with `model` set to the deployment's model id, the gateway's
own keys (fallbacks, num_retries, ...) taken out, and thinking blocks without a signature left
out of assistant turns (thinking another provider produced, which this gateway relays unsigned
and a client sends back; Anthropic refuses it). The client's bytes go as they are when nothing
must change (`raw` given, model already the deployment's, no gateway key, `stream` as asked);
otherwise the parsed body is re-encoded once (orjson: key order and values kept, whitespace
not). Deployment defaults (`litellm_params` such as max_tokens, temperature) fill only Anthropic
fields the client left out. The URL and headers (x-api-key, anthropic-version, the deployment's
extra headers) are the outbound AnthropicAdapter's; the client's `anthropic-beta` header value
is added to the deployment's own beta flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import orjson

from polyroute.errors import UpstreamMalformedError
from polyroute.inbound.anthropic_messages.request import MESSAGES_FIELDS
from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.sse import SSEEvent
from polyroute.providers.anthropic.errors import PROVIDER, error_from_payload
from polyroute.providers.anthropic.response import openai_usage
from polyroute.providers.base import ProviderCall, WireRequest
from polyroute.providers.registry import get_adapter

if TYPE_CHECKING:
    from polyroute.providers.anthropic.adapter import AnthropicAdapter

#: the fields /v1/messages/count_tokens takes (it refuses max_tokens, stream, sampling params)
COUNT_TOKENS_FIELDS: frozenset[str] = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management"}
)


def _outbound() -> AnthropicAdapter:
    """The outbound Anthropic adapter (its URL and headers), the registry's own: a process
    without Anthropic deployments never imports its translation code (issue 20: idle RSS)."""
    adapter = get_adapter(PROVIDER)
    assert adapter is not None  # a built-in provider
    return cast("AnthropicAdapter", adapter)


def native_request(
    call: ProviderCall,
    body: dict[str, Any],
    stream: bool,
    beta: str | None = None,
    raw: bytes | None = None,
) -> WireRequest:
    """The upstream request for a Messages body sent to an Anthropic deployment as it is."""
    defaults = {
        k: v
        for k, v in call.defaults.items()
        if k in MESSAGES_FIELDS and k not in ("model", "messages", "stream") and k not in body
    }
    messages = _without_unsigned_thinking(body.get("messages"))
    unchanged = (
        not defaults
        and messages is None
        and body.get("model") == call.model
        and bool(body.get("stream")) == stream
        and not any(key in GATEWAY_KEYS for key in body)
    )
    if raw is not None and unchanged:
        payload = raw
    else:
        out = {k: v for k, v in body.items() if k not in GATEWAY_KEYS}
        out["model"] = call.model
        out.update(defaults)
        if messages is not None:
            out["messages"] = messages
        if stream:
            out["stream"] = True
        else:
            out.pop("stream", None)
        payload = orjson.dumps(out)
    return WireRequest(_outbound().messages_url(call), _headers(call, beta), payload)


def _without_unsigned_thinking(messages: Any) -> list[Any] | None:
    """The messages without thinking blocks that carry no signature, or None when there are
    none (the usual case: one pass over the blocks, no copy). Such blocks are thinking another
    provider produced, relayed by this gateway without a signature; Anthropic refuses them."""
    if not isinstance(messages, list):
        return None
    if not any(_unsigned_blocks(message) for message in messages):
        return None
    out = []
    for message in messages:
        if _unsigned_blocks(message):
            kept = [block for block in message["content"] if not _unsigned(block)]
            message = {**message, "content": kept}
        out.append(message)
    return out


def _unsigned_blocks(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") == "assistant"
        and isinstance(message.get("content"), list)
        and any(_unsigned(block) for block in message["content"])
    )


def _unsigned(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "thinking" and not block.get("signature")


def native_count_request(call: ProviderCall, body: dict[str, Any], beta: str | None = None) -> WireRequest:
    """POST /v1/messages/count_tokens for a count_tokens (or full Messages) body."""
    out = {k: v for k, v in body.items() if k in COUNT_TOKENS_FIELDS}
    out["model"] = call.model
    url = _outbound().messages_url(call) + "/count_tokens"
    return WireRequest(url, _headers(call, beta), orjson.dumps(out))


def _headers(call: ProviderCall, beta: str | None) -> dict[str, str]:
    headers = _outbound().headers(call)
    if beta:
        own = [b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
        flags = own + [b.strip() for b in beta.split(",") if b.strip() and b.strip() not in own]
        if flags:
            headers["anthropic-beta"] = ",".join(flags)
    return headers


class AnthropicNativeUsage:
    """`NativeUsage` for Anthropic's own answers and streams, in OpenAI's usage shape (prompt
    tokens include cache reads and writes: providers/anthropic/response.py `openai_usage`)."""

    #: the events a native stream's relay parses: usage (start, delta), the end, errors
    markers = (b"message_start", b"message_delta", b"message_stop", b"error")

    @staticmethod
    def output_events(data: bytes) -> int:
        """Events of a batch carrying generated content (text, thinking, tool input pieces)."""
        return data.count(b"event: content_block_delta")

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self._done = False

    def answer_usage(self, data: dict[str, Any]) -> dict[str, Any] | None:
        usage = data.get("usage") if isinstance(data, dict) else None
        return openai_usage(usage) if isinstance(usage, dict) else None

    def on_event(self, event: SSEEvent) -> None:
        if not event.data:
            return
        try:
            data = event.json()
        except orjson.JSONDecodeError as exc:
            raise UpstreamMalformedError(
                f"{PROVIDER} sent a stream event that is not JSON", provider=PROVIDER
            ) from exc
        if not isinstance(data, dict):
            return
        kind = event.event or data.get("type")
        if kind == "error":
            raise error_from_payload(data, None)
        if kind == "message_start":
            message = data.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):
                self._usage.update({k: v for k, v in usage.items() if v is not None})
        elif kind == "message_delta":
            usage = data.get("usage")
            if isinstance(usage, dict):
                # Cumulative totals: a field sent replaces message_start's, one left out keeps it.
                self._usage.update({k: v for k, v in usage.items() if v is not None})
        elif kind == "message_stop":
            self._done = True

    @property
    def usage(self) -> dict[str, Any] | None:
        return openai_usage(self._usage) if self._usage else None

    @property
    def done(self) -> bool:
        return self._done

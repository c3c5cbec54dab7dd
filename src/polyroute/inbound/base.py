"""The inbound protocols: one request pipeline serves whichever API a client speaks.

A client may speak OpenAI's Chat Completions (`/v1/chat/completions`), Anthropic's Messages
(`/v1/messages`) or OpenAI's Responses (`/v1/responses`). Every provider adapter speaks OpenAI chat
on its inner side (providers/base.py), so an inbound protocol is a pair of translations at the
pipeline's edges (server/pipeline.py):

    client body --decode--> OpenAI chat body --(admit, route, adapter, relay)--> chat answer
                                                                    --encode--> client answer

* `to_chat(body)` validates the client's body and returns the chat body every adapter takes.
  Errors are `InvalidRequestError`s naming the client's own field (`messages[2].content[0].type`,
  `input[1].call_id`), so they leave in the client's shape with the right `param`.
* `from_chat(answer, body)` turns an OpenAI `chat.completion` into the protocol's answer.
* `stream_encoder(body, request_id)` is a fresh `StreamEncoder` for one stream: fed OpenAI
  `chat.completion.chunk` dicts (content, tool_calls, reasoning_content deltas, finish_reason, a
  usage-only chunk), it writes the protocol's own event sequence, finishes it, and ends it with the
  protocol's error event when the stream breaks after its first byte.
* `error_body(error, request_id)` is the protocol's error shape (Anthropic:
  `{"type":"error","error":{"type","message"}}`); the status stays the error's own.
* `native_providers`: providers whose own API this protocol is. To them the pipeline sends the
  client's body as it came (model and credentials the deployment's) and relays the answer's
  bytes; `NativeUsage` reads the usage out of such an answer or stream for billing.

Chat itself is the identity protocol (`CHAT`): no copy, no re-encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from polyroute.errors import GatewayError
from polyroute.protocol.sse import SSEEvent

if TYPE_CHECKING:
    from polyroute.providers.base import WireRequest
    from polyroute.router.deployment import Deployment


def in_client_terms(error: GatewayError, names: dict[str, str]) -> GatewayError:
    """`error` naming the client's own fields: an adapter refuses a chat field (`response_format`)
    that the client sent under its protocol's name (`text.format`). Renames `param` and the
    quoted name in the message."""
    param = error.param
    if param is None:
        return error
    head, _, rest = param.partition(".")
    head, bracket, index = head.partition("[")
    own = names.get(head)
    if own is None:
        return error
    error.param = own + (bracket + index if bracket else "") + ("." + rest if rest else "")
    error.message = error.message.replace(f"'{head}'", f"'{own}'")
    return error


class StreamEncoder(Protocol):
    """One stream's translation from OpenAI chat chunks to the client's protocol."""

    def chunks(self, chunks: list[dict[str, Any]]) -> bytes:
        """The protocol's bytes for these chat chunks (possibly b"" while it buffers nothing)."""
        ...

    def finish(self, usage: dict[str, Any] | None) -> bytes:
        """The protocol's closing events after the last chunk (usage in OpenAI's shape)."""
        ...

    def error(self, error: GatewayError, request_id: str) -> bytes:
        """The protocol's in-stream error event, for a stream that breaks after its first byte."""
        ...


class NativeUsage(Protocol):
    """Reads a native (pass-through) answer's usage for billing, in OpenAI's usage shape.

    In a stream only the events containing one of `markers` (bytes) are parsed and handed to
    `on_event`; `output_events(data)` counts the events of a batch that carry generated content
    (the output estimate of a stream broken off before its usage)."""

    markers: tuple[bytes, ...]

    def output_events(self, data: bytes) -> int: ...

    def answer_usage(self, data: dict[str, Any]) -> dict[str, Any] | None: ...

    def on_event(self, event: SSEEvent) -> None:
        """Called for each event of a native stream; raises GatewayError for an error event."""
        ...

    @property
    def usage(self) -> dict[str, Any] | None: ...

    @property
    def done(self) -> bool:
        """The stream's own end marker was seen (a stream without it broke off)."""
        ...


class InboundProtocol(Protocol):
    #: recorded on spend rows, metrics and traces: "chat", "messages", "responses"
    name: str
    #: the spend row's call type (LiteLLM's names: chat_completion, anthropic_messages, responses)
    call_type: str
    #: providers whose own API this is: the body passes through to them
    native_providers: frozenset[str]

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def from_chat(self, answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]: ...

    def stream_encoder(self, body: dict[str, Any], request_id: str) -> StreamEncoder: ...

    def error_body(self, error: GatewayError, request_id: str) -> bytes: ...

    def stream_error(self, error: GatewayError, request_id: str) -> bytes:
        """The in-stream error event when no encoder is at hand (a native stream)."""
        ...

    def native_usage(self) -> NativeUsage: ...

    def native_request(
        self, deployment: Deployment, body: dict[str, Any], stream: bool, headers: Mapping[str, str]
    ) -> WireRequest:
        """The client's body for a native deployment: as it came, less the gateway's own keys,
        with the deployment's model and credentials (`headers`: the client's request headers, for
        what passes through, like `anthropic-beta`)."""
        ...

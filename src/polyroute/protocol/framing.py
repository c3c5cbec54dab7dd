"""Stream framings: how an upstream's streamed bytes become events, whatever the wire framing.

Providers stream in different framings: server-sent events (OpenAI, Anthropic, Gemini with
`alt=sse`; `BoundedSSEDecoder`), JSON lines (YandexGPT, AI2's InferD; `JSONLinesDecoder`),
NUL-delimited JSON (FastChat workers; `NulJSONDecoder`), AWS's binary event-stream (Bedrock; in
its package). A `StreamDecoder` undoes one framing; the provider's
`StreamTranslator` then turns the events into OpenAI chunks. The relay never knows which framing
it reads: it asks the deployment's adapter for a decoder (`ProviderAdapter.stream_decoder`).

The decoder contract (one instance per upstream response, never shared):
  * `feed(chunk)` takes the bytes exactly as the transport delivered them (a chunk may hold
    part of an event, or many) and returns the events completed so far, in order.
  * `flush()` is called once when the upstream closed cleanly: it returns the events the close
    completed (an SSE event missing its final blank line, a last JSON line without a newline)
    and raises `UpstreamError` when the bytes left cannot be a whole event (a truncated binary
    frame). A translator's own end-of-stream check (`on_end`) comes after it.
  * Events are `StreamEvent(event, data)`: `event` is the framing's name for the event when it
    has one (SSE's `event:` field, event-stream's `:event-type` header), else None; `data` is
    the payload bytes (usually JSON: `event.json()`).
  * A decoder bounds what it buffers (`max_event_bytes`): an upstream that never ends an event
    is answered with `UpstreamError`, not with unbounded memory.
  * `framing` names the framing for people (the README provider table, docs).

A provider names its decoder class in its spec (`ProviderSpec.stream_decoder`, default SSE); a
framing of one provider only (AWS event-stream) lives in that provider's package.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from polyroute.errors import UpstreamError
from polyroute.protocol.sse import SSEDecoder, SSEEvent

#: the one event type every decoder yields (SSE's event is the general shape: a name and bytes)
StreamEvent = SSEEvent

#: an event larger than this is a broken or hostile upstream (no real answer chunk comes close)
MAX_EVENT_BYTES = 16 * 1024 * 1024


class StreamDecoder(Protocol):
    framing: ClassVar[str]

    def feed(self, chunk: bytes) -> list[StreamEvent]: ...

    def flush(self) -> list[StreamEvent]: ...


class DelimitedJSONDecoder:
    """JSON objects separated by one delimiter byte (blank parts skipped): each object is one
    event with no name. A last object without its delimiter is completed by `flush`."""

    framing: ClassVar[str] = "delimited JSON"
    delimiter: ClassVar[bytes] = b"\n"
    __slots__ = ("_buffer", "max_event_bytes")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._buffer = b""
        self.max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        buffer = self._buffer + chunk if self._buffer else chunk
        end = buffer.rfind(self.delimiter)
        if end < 0:
            self._hold(buffer)
            return []
        self._hold(buffer[end + 1 :])
        return self._events(buffer[:end])

    def flush(self) -> list[StreamEvent]:
        rest, self._buffer = self._buffer, b""
        return self._events(rest)

    def _events(self, block: bytes) -> list[StreamEvent]:
        return [StreamEvent(None, part) for raw in block.split(self.delimiter) if (part := raw.strip())]

    def _hold(self, tail: bytes) -> None:
        if len(tail) > self.max_event_bytes:
            raise UpstreamError(f"upstream sent a {self.framing} object over {self.max_event_bytes} bytes")
        self._buffer = tail


class JSONLinesDecoder(DelimitedJSONDecoder):
    """Newline-delimited JSON, one object per line (YandexGPT, AI2's InferD)."""

    framing: ClassVar[str] = "JSON lines"
    __slots__ = ()


class NulJSONDecoder(DelimitedJSONDecoder):
    """NUL-delimited JSON (FastChat's /worker_generate_stream), with no end marker."""

    framing: ClassVar[str] = "NUL-delimited JSON"
    delimiter: ClassVar[bytes] = b"\0"
    __slots__ = ()


class BoundedSSEDecoder(SSEDecoder):
    """SSE with the decoder contract's bound on a pending event (the relay's SSE decoder)."""

    framing: ClassVar[str] = "SSE"
    __slots__ = ("max_event_bytes",)

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        super().__init__()
        self.max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        events = super().feed(chunk)
        if len(self._buffer) > self.max_event_bytes:
            raise UpstreamError(f"upstream sent an SSE event over {self.max_event_bytes} bytes")
        return events

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
  * A decoder bounds what it buffers (`max_event_bytes`, the relay passes
    `general_settings.upstream_max_event_kb`) and finds event ends in time linear in the bytes
    fed: an upstream that never ends an event is answered with an error, not with unbounded
    memory or CPU. `overflow` is None, or that error when it was found after events `feed`
    returned: the relay sends those first, then raises it (a decoder may also raise at once).
  * `framing` names the framing for people (the README provider table, docs).

A provider names its decoder class in its spec (`ProviderSpec.stream_decoder`, default SSE); a
framing of one provider only (AWS event-stream) lives in that provider's package.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from polyroute.errors import GatewayError, UpstreamError
from polyroute.protocol.sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder, SSEEvent

#: the one event type every decoder yields (SSE's event is the general shape: a name and bytes)
StreamEvent = SSEEvent

#: an event larger than this is a broken or hostile upstream (no real answer chunk comes close)
MAX_EVENT_BYTES = DEFAULT_MAX_EVENT_BYTES


class StreamDecoder(Protocol):
    framing: ClassVar[str]

    def feed(self, chunk: bytes) -> list[StreamEvent]: ...

    def flush(self) -> list[StreamEvent]: ...

    @property
    def overflow(self) -> GatewayError | None: ...


class DelimitedJSONDecoder:
    """JSON objects separated by one delimiter byte (blank parts skipped): each object is one
    event with no name. A last object without its delimiter is completed by `flush`."""

    framing: ClassVar[str] = "delimited JSON"
    delimiter: ClassVar[bytes] = b"\n"
    overflow: ClassVar[None] = None  # an oversized object raises at once
    __slots__ = ("_pieces", "_held", "max_event_bytes")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        # An unfinished object is kept as pieces and each chunk is searched once: re-joining the
        # whole buffer per chunk would be quadratic in a slow, long object.
        self._pieces: list[bytes] = []
        self._held = 0
        self.max_event_bytes = max_event_bytes

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        cut = chunk.rfind(self.delimiter)
        if cut < 0:
            self._hold(chunk)
            return []
        complete = b"".join((*self._pieces, chunk[:cut])) if self._pieces else chunk[:cut]
        self._pieces, self._held = [], 0
        self._hold(chunk[cut + 1 :])
        return self._events(complete)

    def flush(self) -> list[StreamEvent]:
        rest = b"".join(self._pieces)
        self._pieces, self._held = [], 0
        return self._events(rest)

    def _events(self, block: bytes) -> list[StreamEvent]:
        return [StreamEvent(None, part) for raw in block.split(self.delimiter) if (part := raw.strip())]

    def _hold(self, tail: bytes) -> None:
        if not tail:
            return
        self._held += len(tail)
        if self._held > self.max_event_bytes:
            raise UpstreamError(f"upstream sent a {self.framing} object over {self.max_event_bytes} bytes")
        self._pieces.append(tail)


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
    """SSE under the decoder contract: protocol/sse.py's linear, bounded decoder (an oversized
    event becomes `overflow`, after the events before it)."""

    framing: ClassVar[str] = "SSE"
    __slots__ = ()

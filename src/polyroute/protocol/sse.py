"""Server-sent events: an incremental decoder fed raw bytes, and encoders for what we send.

The decoder follows the WHATWG event-stream rules that matter for LLM APIs: events end at a blank
line, `data:` lines of one event are joined with "\\n", one optional space after the colon is
dropped, `:` lines are comments, and CRLF / CR line ends are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from polyroute.errors import UpstreamTooLargeError

DONE = b"[DONE]"
# The largest event an upstream may send (general_settings.upstream_max_event_kb overrides it):
# LLM stream events are a few hundred bytes; a whole tool call's arguments fit in well under this.
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: bytes

    def json(self) -> Any:
        return orjson.loads(self.data)


class SSEDecoder:
    """Feed bytes as they arrive; get back the events completed so far (each at most
    `max_event_bytes`, see SSEFramer)."""

    __slots__ = ("_framer",)

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._framer = SSEFramer(max_event_bytes)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        complete = self._framer.feed(chunk)
        if not complete:
            return []
        events = []
        for block in complete[:-2].split(b"\n\n"):
            event = parse_event_block(block)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream closed without a final blank line."""
        rest = self._framer.take_tail().strip(b"\n")
        if not rest:
            return []
        event = parse_event_block(rest)
        return [event] if event is not None else []

    @property
    def pending(self) -> bool:
        return bool(self._framer.tail.strip())

    @property
    def overflow(self) -> UpstreamTooLargeError | None:
        """See SSEFramer.overflow: raise it once the events `feed` returned were handled."""
        return self._framer.overflow


def parse_event_block(block: bytes) -> SSEEvent | None:
    name: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data and name is None:
        return None
    return SSEEvent(name, b"\n".join(data))


_FIELDS = (b"data", b"event", b"id", b"retry")
_UNDISPATCHED_HINTS = (b"data:\n", b"data: \n", b"event:", b"id:", b"retry:")


def drop_undispatched(events: bytes) -> bytes:
    """`events` (complete events, as SSEFramer returns them) without the ones a client never
    dispatches: an empty `data:` keep-alive, or `event: ping` alone. Some servers send them
    between chunks; relayed, the openai SDK would try to parse their empty data as JSON, and
    ending the stream for them would cut a good answer. Comment lines (`: ping`) stay."""
    if not any(hint in events for hint in _UNDISPATCHED_HINTS):
        return events  # the usual case: one substring scan per hint, in C
    kept = [block for block in events.split(b"\n\n") if not _undispatched(block)]
    return b"\n\n".join(kept)


def _undispatched(block: bytes) -> bool:
    lines = [line for line in block.split(b"\n") if line and not line.startswith(b":")]
    if not lines or any(line.partition(b":")[0] not in _FIELDS for line in lines):
        return False  # a comment-only block, or not SSE at all (first_malformed_event's to judge)
    event = parse_event_block(block)
    return event is None or not event.data


def first_malformed_event(events: bytes) -> int:
    """The offset of the first event in `events` (complete events, as SSEFramer returns them)
    whose data is neither JSON nor [DONE], or -1. A pass-through relay sends upstream bytes on
    unparsed; this keeps it from relaying garbage, stray fields or HTML as if it were a chunk."""
    return -1 if all_json_events(events) else _first_malformed_careful(events)


def _first_malformed_careful(events: bytes) -> int:
    """first_malformed_event, one event at a time: every shape SSE allows, and the offset."""
    start, size = 0, len(events)
    while start < size:
        end = events.find(b"\n\n", start)
        end = size if end < 0 else end
        if end > start and not _well_formed(events[start:end]):
            return start
        start = end + 2
    return -1


def all_json_events(events: bytes) -> bool:
    """The usual batch at C speed: every event one `data: {...}` line (the last may be [DONE]),
    each parsed on its own (a per-event loop in Python was the top cost of relaying a stream).
    True means first_malformed_event finds nothing and drop_undispatched drops nothing; False
    sends the batch to the event-by-event checks, which find the offending offset."""
    blocks = events.split(b"\n\n")
    if blocks[-1]:
        return False  # not cut at an event boundary: the careful path judges it
    del blocks[-1]
    if blocks and blocks[-1] == b"data: [DONE]":
        del blocks[-1]
    # A block holding a single newline is a multi-line event: the careful path parses those.
    if events.count(b"\n") != 2 * len(blocks) + (2 if events.endswith(b"data: [DONE]\n\n") else 0):
        return False
    if not all(block.startswith(b"data: {") for block in blocks):
        return False
    try:
        for _ in map(orjson.loads, [block[6:] for block in blocks]):
            pass
    except orjson.JSONDecodeError:
        return False
    return True


def _well_formed(block: bytes) -> bool:
    if block.startswith(b"data: {") and b"\n" not in block:  # the usual shape: one JSON line
        data = block[6:]
    else:
        event = parse_event_block(block)
        if event is None:
            return not any(line and not line.startswith(b":") for line in block.split(b"\n"))
        data = event.data
        if data == DONE:
            return True
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


class SSEFramer:
    """Splits a raw SSE byte stream at event boundaries without parsing events.

    Used for pass-through relays: complete events go on at once, a partial tail is held, so a
    stream that breaks mid-event never leaves half an event in front of our error event.
    Linear in the bytes fed: each chunk is searched once, and an unfinished event is kept as a
    list of pieces (never re-joined per chunk). An event longer than `max_event_bytes` raises
    UpstreamTooLargeError: an upstream cannot make the gateway hold an endless event.
    """

    __slots__ = ("_pieces", "_held", "_skip_lf", "_max", "overflow")

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._pieces: list[bytes] = []
        self._held = 0
        # A chunk ended in CR: that CR was a line end already, and an LF starting the next chunk
        # is the rest of the same CRLF (kept, the pair would be a blank line ending the event).
        self._skip_lf = False
        self._max = max_event_bytes
        #: set when the unfinished event outgrew the bound after complete events were returned:
        #: the caller sends those, then raises this (the upstream may send nothing more)
        self.overflow: UpstreamTooLargeError | None = None

    def feed(self, chunk: bytes) -> bytes:
        """The complete events the stream holds now (ending in a blank line), or b""."""
        if self.overflow is not None:
            raise self.overflow
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = chunk.rfind(b"\n\n")
        if end < 0:
            if chunk[:1] == b"\n" and self._pieces and self._pieces[-1].endswith(b"\n"):
                end = -1  # the blank line straddles two chunks
            else:
                self._hold(chunk)
                return b""
        done = chunk[: end + 2]
        if self._pieces:
            done = b"".join(self._pieces) + done
            self._pieces.clear()
        rest = chunk[end + 2 :]
        self._held = 0
        if len(rest) > self._max:
            self.overflow = _too_large(self._max)
        elif rest:
            self._hold(rest)
        if len(done) > self._max:
            oversized = _first_oversized(done, self._max)
            if oversized >= 0:  # the events before it still go out; then the caller raises
                self.overflow = _too_large(self._max)
                self._pieces.clear()
                return done[:oversized]
        return done

    def _hold(self, piece: bytes) -> None:
        if not piece:
            return
        self._held += len(piece)
        if self._held > self._max:
            raise _too_large(self._max)
        self._pieces.append(piece)

    @property
    def tail(self) -> bytes:
        """The unfinished event held now."""
        if self.overflow is not None:
            raise self.overflow
        return b"".join(self._pieces)

    def take_tail(self) -> bytes:
        tail = self.tail
        self._pieces.clear()
        self._held = 0
        self._skip_lf = False
        return tail


def _first_oversized(events: bytes, limit: int) -> int:
    """The offset of the first of `events` (complete, blank-line separated) longer than
    `limit`, or -1."""
    start = 0
    while start < len(events):
        end = events.find(b"\n\n", start)
        end = len(events) if end < 0 else end
        if end - start > limit:
            return start
        start = end + 2
    return -1


def _too_large(limit: int) -> UpstreamTooLargeError:
    return UpstreamTooLargeError(f"an upstream event is larger than {limit} bytes")


def encode_data(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def encode_done() -> bytes:
    return b"data: [DONE]\n\n"


def encode_event(event: str, payload: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

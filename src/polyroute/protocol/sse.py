"""Server-sent events: an incremental decoder fed raw bytes, and encoders for what we send.

The decoder follows the WHATWG event-stream rules that matter for LLM APIs: events end at a blank
line, `data:` lines of one event are joined with "\\n", one optional space after the colon is
dropped, `:` lines are comments, and CRLF / CR line ends are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

DONE = b"[DONE]"


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: bytes

    def json(self) -> Any:
        return orjson.loads(self.data)


class SSEDecoder:
    """Feed bytes as they arrive; get back the events completed so far."""

    __slots__ = ("_buffer", "_after_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        chunk, self._after_cr = skip_split_crlf(chunk, self._after_cr)
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._buffer = buffer
            return []
        complete, self._buffer = buffer[:end], buffer[end + 2 :]
        events = []
        for block in complete.split(b"\n\n"):
            event = parse_event_block(block)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream closed without a final blank line."""
        rest, self._buffer = self._buffer.strip(b"\n"), b""
        if not rest:
            return []
        event = parse_event_block(rest)
        return [event] if event is not None else []

    @property
    def pending(self) -> bool:
        return bool(self._buffer.strip())


def skip_split_crlf(chunk: bytes, after_cr: bool) -> tuple[bytes, bool]:
    """A CRLF cut between two reads: the CR ending the last read was already a line end, so an LF
    starting this one is dropped (kept, the pair would be two line ends: a blank line that ends
    the event early). Returns the chunk and whether it ends in a CR."""
    if not chunk:
        return chunk, after_cr
    if after_cr and chunk.startswith(b"\n"):
        return chunk[1:], False if len(chunk) == 1 else chunk.endswith(b"\r")
    return chunk, chunk.endswith(b"\r")


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


class SSEFramer:
    """Splits a raw SSE byte stream at event boundaries without parsing events.

    Used for pass-through relays: complete events go on at once, a partial tail is held, so a
    stream that breaks mid-event never leaves half an event in front of our error event.
    """

    __slots__ = ("_tail", "_after_cr")

    def __init__(self) -> None:
        self._tail = b""
        self._after_cr = False

    def feed(self, chunk: bytes) -> bytes:
        chunk, self._after_cr = skip_split_crlf(chunk, self._after_cr)
        data = self._tail + chunk if self._tail else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n\n")
        if end < 0:
            self._tail = data
            return b""
        self._tail = data[end + 2 :]
        return data[: end + 2]

    @property
    def tail(self) -> bytes:
        return self._tail


def encode_data(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def encode_done() -> bytes:
    return b"data: [DONE]\n\n"


def encode_event(event: str, payload: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

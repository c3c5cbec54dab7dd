"""AWS's binary event-stream framing (`application/vnd.amazon.eventstream`): Bedrock's
ConverseStream answers in it, not in SSE.

Each message is a prelude (total length, headers length, prelude CRC32), typed headers, the
payload and a CRC32 of the whole message. botocore's `EventStreamBuffer` parses and checks
them (lengths bounded, CRCs verified); this decoder adapts it to the `StreamDecoder` contract
(`protocol/framing.py`):

  * an `event` message becomes `StreamEvent(<:event-type>, payload)` (`messageStart`,
    `contentBlockDelta`, `metadata`, ...);
  * an `exception` message becomes `StreamEvent("exception:<:exception-type>", payload)` and an
    `error` message `StreamEvent("error:<:error-code>", <:error-message>)`: the translator maps
    them to gateway errors (a throttled stream is retryable like a throttled request);
  * bytes the parser rejects (a bad CRC, an impossible length) and bytes left over when the
    upstream closes (a frame cut short) are an `UpstreamError`.
"""

from __future__ import annotations

from typing import ClassVar

from polyroute.errors import UpstreamError
from polyroute.protocol.framing import MAX_EVENT_BYTES, StreamEvent

CONTENT_TYPE = "application/vnd.amazon.eventstream"


class EventStreamDecoder:
    framing: ClassVar[str] = "AWS event-stream"
    overflow: ClassVar[None] = None  # an oversized frame raises at once
    __slots__ = ("_buffer", "_fed", "_used", "max_event_bytes")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        # botocore is the 'bedrock' extra: imported when a Bedrock stream starts, not at start-up
        from botocore.eventstream import EventStreamBuffer

        self._buffer = EventStreamBuffer()
        self._fed = 0  # bytes received
        self._used = 0  # bytes of the messages completed so far

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        from botocore.eventstream import ParserError

        self._fed += len(chunk)
        if self._fed - self._used > self.max_event_bytes:  # botocore's own cap is 16 MB a frame
            raise UpstreamError(f"bedrock sent an event-stream frame over {self.max_event_bytes} bytes")
        self._buffer.add_data(chunk)
        events = []
        try:
            for message in self._buffer:
                self._used += message.prelude.total_length
                events.append(_event_of(message.headers, message.payload))
        except ParserError as exc:
            raise UpstreamError(f"bedrock sent a broken event-stream frame ({type(exc).__name__})") from None
        return events

    def flush(self) -> list[StreamEvent]:
        if self._fed != self._used:
            raise UpstreamError(
                f"bedrock's event-stream ended inside a frame ({self._fed - self._used} bytes left over)"
            )
        return []


def _event_of(headers: dict[str, object], payload: bytes) -> StreamEvent:
    kind = headers.get(":message-type")
    if kind == "exception":
        return StreamEvent(f"exception:{headers.get(':exception-type')}", payload)
    if kind == "error":
        message = str(headers.get(":error-message") or "").encode()
        return StreamEvent(f"error:{headers.get(':error-code')}", message)
    return StreamEvent(str(headers.get(":event-type") or ""), payload)

"""Stream decoders (protocol/framing.py): bytes cut anywhere come out as the same events, the
close completes a last event, and a pending event is bounded."""

from __future__ import annotations

import orjson
import pytest

from polyroute.errors import UpstreamError
from polyroute.protocol.framing import BoundedSSEDecoder, JSONLinesDecoder, NulJSONDecoder
from polyroute.providers.registry import get_adapter

OBJECTS = [{"text": "Hel"}, {"text": "Hello, wor"}, {"text": "Hello, world", "done": True}]


def _decode_in_pieces(decoder, data: bytes, size: int) -> list:
    events = []
    for at in range(0, len(data), size):
        events += decoder.feed(data[at : at + size])
    return events + decoder.flush()


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
@pytest.mark.parametrize(("decoder_class", "separator"), [(JSONLinesDecoder, b"\n"), (NulJSONDecoder, b"\0")])
def test_delimited_json_events_survive_any_cut(decoder_class, separator, size):
    # A blank part between objects and a last object without its delimiter, as servers send.
    data = separator.join(orjson.dumps(o) for o in OBJECTS[:2]) + separator * 2 + orjson.dumps(OBJECTS[2])
    events = _decode_in_pieces(decoder_class(), data, size)
    assert [e.json() for e in events] == OBJECTS
    assert all(e.event is None for e in events)


def test_json_lines_accepts_crlf_line_ends():
    decoder = JSONLinesDecoder()
    events = decoder.feed(b'{"a":1}\r\n{"a":2}\r\n')
    assert [e.json() for e in events] == [{"a": 1}, {"a": 2}]
    assert decoder.flush() == []


@pytest.mark.parametrize("decoder_class", [JSONLinesDecoder, NulJSONDecoder, BoundedSSEDecoder])
def test_an_event_that_never_ends_is_refused_not_buffered(decoder_class):
    decoder = decoder_class(max_event_bytes=64)
    decoder.feed(b"data: " if decoder_class is BoundedSSEDecoder else b"{")
    try:  # a decoder raises at once, or (SSE) returns what came before and sets `overflow`
        decoder.feed(b"x" * 100)
        error = decoder.overflow
    except UpstreamError as exc:
        error = exc
    assert isinstance(error, UpstreamError) and "64 bytes" in str(error)


def test_sse_decoder_keeps_event_names_and_completes_at_close():
    decoder = BoundedSSEDecoder()
    events = decoder.feed(b'event: message_start\ndata: {"a":1}\n\nevent: ping\nda')
    events += decoder.feed(b"ta: {}")
    events += decoder.flush()
    assert [(e.event, e.json()) for e in events] == [("message_start", {"a": 1}), ("ping", {})]


def test_adapters_hand_out_their_specs_decoder_fresh_per_call():
    worker = get_adapter("fastchat_worker")
    anthropic = get_adapter("anthropic")
    assert worker is not None and anthropic is not None
    call = None  # the default decoder does not depend on the call
    first, second = worker.stream_decoder(call), worker.stream_decoder(call)  # type: ignore[arg-type]
    assert isinstance(first, NulJSONDecoder) and first is not second
    assert isinstance(anthropic.stream_decoder(call), BoundedSSEDecoder)  # type: ignore[arg-type]

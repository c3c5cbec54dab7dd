"""The SSE framer and decoder: event boundaries across chunks, bounded events, linear work."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyroute.errors import UpstreamError, UpstreamTooLargeError
from polyroute.protocol.framing import NulJSONDecoder
from polyroute.protocol.sse import (
    SSEDecoder,
    SSEFramer,
    _first_malformed_careful,
    all_json_events,
    drop_undispatched,
    first_malformed_event,
)
from polyroute.providers.bounds import BoundedBody

STREAM = b'data: {"a":1}\r\n\r\ndata: {"b":2}\n\nevent: x\ndata: {"c":3}\r\rdata: [DONE]\n\n'


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_events_split_anywhere_come_out_whole(size):
    framer, decoder, out, events = SSEFramer(), SSEDecoder(), b"", []
    for i in range(0, len(STREAM), size):
        out += framer.feed(STREAM[i : i + size])
        events += decoder.feed(STREAM[i : i + size])
    assert out == b'data: {"a":1}\n\ndata: {"b":2}\n\nevent: x\ndata: {"c":3}\n\ndata: [DONE]\n\n'
    assert [(e.event, e.data) for e in events] == [
        (None, b'{"a":1}'),
        (None, b'{"b":2}'),
        ("x", b'{"c":3}'),
        (None, b"[DONE]"),
    ]
    assert framer.tail == b"" and not decoder.pending


def test_an_unfinished_event_is_held_in_pieces_up_to_the_bound():
    framer = SSEFramer(max_event_bytes=1000)
    for _ in range(9):
        assert framer.feed(b"x" * 100) == b""
    assert framer.tail == b"x" * 900
    with pytest.raises(UpstreamTooLargeError, match="larger than 1000 bytes"):
        framer.feed(b"x" * 101)


def test_complete_events_before_an_oversized_tail_are_returned_first():
    framer = SSEFramer(max_event_bytes=100)
    assert framer.feed(b"data: {}\n\n" + b"y" * 101) == b"data: {}\n\n"
    assert isinstance(framer.overflow, UpstreamTooLargeError)
    with pytest.raises(UpstreamTooLargeError):
        framer.feed(b"more")


def test_an_oversized_event_inside_one_chunk_is_refused_after_the_events_before_it():
    decoder = SSEDecoder(max_event_bytes=100)
    assert len(decoder.feed(b"data: {}\n\n" * 50)) == 50  # many small events in one chunk pass
    events = decoder.feed(b"data: {}\n\ndata: " + b"z" * 200 + b"\n\ndata: {}\n\n")
    assert [e.data for e in events] == [b"{}"]
    assert isinstance(decoder.overflow, UpstreamTooLargeError)
    with pytest.raises(UpstreamTooLargeError):
        decoder.feed(b"data: {}\n\n")


def test_malformed_events_are_found_by_offset():
    good = b'data: {"a":1}\n\n: comment\n\ndata: [DONE]\n\n'
    assert first_malformed_event(good) == -1
    assert first_malformed_event(b'data: {"a":1}\n\ndata: {oops}\n\n') == 15
    assert first_malformed_event(b"retry: 5\n\n") == 0
    assert first_malformed_event(b'data: {"a":\ndata: 1}\n\n') == -1  # multi-line data joins to JSON


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def test_bounded_body_unpacks_in_steps_and_stops_a_bomb_early():
    bomb = _gzip(b"\0" * (8 * 1024 * 1024))
    body = BoundedBody("gzip", 64 * 1024 * 1024, 100, "the answer")
    with pytest.raises(UpstreamTooLargeError, match="100 times"):
        for _ in body.feed(bomb):
            pass
    assert body.size <= 512 * 1024  # one or two bounded steps, not 8 MB


def test_bounded_body_takes_gzip_members_raw_deflate_and_refuses_unasked_encodings():
    two_members = _gzip(b"hello ") + _gzip(b"world")
    assert b"".join(BoundedBody("gzip", 1000, 100, "x").feed(two_members)) == b"hello world"
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    packed = raw.compress(b"raw deflate") + raw.flush()
    assert b"".join(BoundedBody("deflate", 1000, 100, "x").feed(packed)) == b"raw deflate"
    with pytest.raises(UpstreamError, match="did not ask for"):
        BoundedBody("br", 1000, 100, "x")
    with pytest.raises(UpstreamError, match="not valid gzip"):
        list(BoundedBody("gzip", 1000, 100, "x").feed(b"not gzip at all"))


class _Chunks:
    """An UpstreamResponse that yields the given chunks (the worker's NUL-framed stream)."""

    status = 200
    headers: dict[str, str] = {}

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def iter_chunks(self):
        for chunk in self.chunks:
            yield chunk


def test_fastchat_worker_objects_are_decoded_across_any_split():
    stream = b'{"text": "a"}\0{"text": "ab"}\0{"text": "abc"}'
    for size in (1, 2, 5, len(stream)):
        decoder = NulJSONDecoder()
        events = [e for i in range(0, len(stream), size) for e in decoder.feed(stream[i : i + size])]
        events += decoder.flush()
        assert [e.json()["text"] for e in events] == ["a", "ab", "abc"]


def test_a_worker_object_without_end_is_cut_at_the_bound():
    decoder = NulJSONDecoder(max_event_bytes=1000)
    decoder.feed(b'{"text": "')
    with pytest.raises(UpstreamError, match="over 1000 bytes"):
        for _ in range(11):
            decoder.feed(b"x" * 100)


_BLOCKS = st.sampled_from(
    [
        b'data: {"choices":[{"delta":{"content":"hi"}}]}',
        b"data: {}",
        b'data: {"a":[1,2]}',
        b"data: [DONE]",
        b'data: {"a":1',  # cut short
        b'data: {"a":1}}',  # one brace too many
        b"data: {}{}",  # two values in one event
        b'data: {"a":[1}',
        b"data: <html>",
        b": keep-alive",
        b'event: x\ndata: {"a":1}',
        b'data: {"a":\ndata: 1}',  # one JSON value over two data lines
        b"data: 42",
        b"data:",  # keep-alives a client never dispatches
        b"data: ",
        b"event: ping",
        b'data: {"content":"event: id: retry:"}',  # the hints inside a chunk's text
        b"",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_BLOCKS, max_size=12), st.booleans())
def test_the_fast_check_of_a_batch_agrees_with_the_event_by_event_one(blocks: list[bytes], cut: bool) -> None:
    """The batch fast path (every event one `data: {...}` line, parsed in one C loop) must find
    exactly what the careful event-by-event check finds, offset included."""
    events = b"\n\n".join(blocks) + (b"" if cut else b"\n\n")
    assert first_malformed_event(events) == _first_malformed_careful(events)


@settings(max_examples=300, deadline=None)
@given(st.lists(_BLOCKS, max_size=12))
def test_a_batch_the_fast_check_passes_has_nothing_to_drop_or_refuse(blocks: list[bytes]) -> None:
    """The relay skips drop_undispatched and the careful check for batches all_json_events
    passes: that must change nothing it would have sent."""
    events = b"\n\n".join(blocks) + b"\n\n"
    if all_json_events(events):
        assert drop_undispatched(events) == events
        assert _first_malformed_careful(events) == -1

"""Property tests of the SSE decoder and framer (protocol/sse.py): how an upstream's bytes are
cut into TCP reads must never change what is decoded or relayed, and no byte string makes
either raise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from polyroute.protocol.sse import SSEDecoder, SSEEvent, SSEFramer

# A field value: any text without line breaks (a line end inside a value is not expressible).
VALUE = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12)
NAME = st.text(
    st.characters(blacklist_characters="\r\n:", blacklist_categories=("Cs",)), min_size=1, max_size=8
)
LINE = st.one_of(
    st.tuples(st.just("data"), VALUE),
    st.tuples(st.just("event"), NAME),
    st.tuples(st.just("comment"), VALUE),
)
EVENTS = st.lists(st.lists(LINE, min_size=1, max_size=4), min_size=1, max_size=5)
LINE_END = st.sampled_from(["\n", "\r\n", "\r"])


def render(events: list[list[tuple[str, str]]], end: str) -> tuple[bytes, list[SSEEvent]]:
    """The wire bytes of `events` and the events a correct decoder gets from them."""
    wire, expected = [], []
    for lines in events:
        name, data = None, []
        for kind, value in lines:
            if kind == "comment":
                wire.append(":" + value + end)
                continue
            wire.append(f"{kind}: {value}{end}")
            if kind == "data":
                data.append(value.encode())
            else:
                name = value
        wire.append(end)  # the blank line that ends the event
        if data or name is not None:
            expected.append(SSEEvent(name, b"\n".join(data)))
    return "".join(wire).encode(), expected


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = sorted({min(p, len(data)) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def decode(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.flush()


@settings(max_examples=300, deadline=None)
@given(EVENTS, LINE_END, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_chunking_of_a_stream_decodes_to_its_events(events, end, points):
    wire, expected = render(events, end)
    assert decode([wire]) == expected
    assert decode(cut(wire, points)) == expected
    assert decode([wire[i : i + 1] for i in range(len(wire))]) == expected


@settings(max_examples=200, deadline=None)
@given(EVENTS, LINE_END, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_the_framer_relays_whole_events_whatever_the_chunking(events, end, points):
    """What the pass-through relay sends on is the same events, cut only at event ends."""
    wire, expected = render(events, end)
    framer = SSEFramer()
    relayed = b"".join(framer.feed(chunk) for chunk in cut(wire, points))
    assert framer.tail == b""
    assert relayed == b"" or relayed.endswith(b"\n\n")
    assert decode([relayed]) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_arbitrary_bytes_never_raise(chunks):
    decoder, framer = SSEDecoder(), SSEFramer()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            assert isinstance(event.data, bytes)
        framer.feed(chunk)
    decoder.flush()
    assert decoder.pending is False


def test_a_crlf_cut_between_its_two_bytes_is_one_line_end():
    """The case the chunking property found: "\\r" ending one read and "\\n" starting the next
    were two line ends (a blank line), splitting one event's data lines into two events."""
    wire = b"data: a\r\ndata: b\r\n\r\n"
    assert decode([wire[:8], wire[8:]]) == [SSEEvent(None, b"a\nb")]
    framer = SSEFramer()
    assert framer.feed(wire[:8]) + framer.feed(wire[8:]) == b"data: a\ndata: b\n\n"
    # an LF read alone completes the CRLF; the next LF is a line end of its own
    assert decode([b"data: a\r", b"\n", b"\n"]) == [SSEEvent(None, b"a")]

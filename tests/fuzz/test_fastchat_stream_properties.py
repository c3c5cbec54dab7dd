"""Property tests of the FastChat worker stream parser (providers/fastchat_worker): the
worker's NUL-delimited JSON objects, cut into reads anywhere, decoded (NulJSONDecoder, the
decoder the relay asks the FastChat adapter for) and translated, give the same text; and no
bytes a worker (or an OpenAI-compatible upstream) sends make the stream translators raise
anything but a GatewayError, the error the relay turns into an error event."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyroute.errors import GatewayError
from polyroute.protocol.framing import NulJSONDecoder
from polyroute.protocol.sse import SSEEvent
from polyroute.providers.fastchat_worker.adapter import FastChatStreamTranslator
from polyroute.providers.openai_compat import OpenAIStreamReader


def translate(chunks: list[bytes]) -> tuple[str, list[dict]]:
    """What the relay does with a worker's stream: NUL-delimited objects -> OpenAI chunks."""
    decoder, translator = NulJSONDecoder(), FastChatStreamTranslator("vicuna")
    out = []
    for chunk in chunks:
        out += [c for event in decoder.feed(chunk) for c in translator.on_event(event)]
    out += [c for event in decoder.flush() for c in translator.on_event(event)]
    out += translator.on_end()
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in out)
    return text, out


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = sorted({min(p, len(data)) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
# How a worker may write its JSON: fschat's compact json.dumps, spaced, or pretty-printed (JSON
# allows line breaks between tokens; never inside a string).
STYLES = st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 2}, {"indent": "\r\n"}])


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=5), STYLES, st.booleans(),
       st.lists(st.integers(min_value=0, max_value=600), max_size=10))
def test_any_chunking_of_a_worker_stream_gives_its_text(pieces, style, last_nul, points):
    """Each object carries the cumulative text (FastChat's way); the last may lack its NUL."""
    texts = ["".join(pieces[: i + 1]) for i in range(len(pieces))]
    objects = [{"text": t, "error_code": 0, "usage": {"prompt_tokens": 3, "completion_tokens": i + 1,
                "total_tokens": i + 4}, "finish_reason": "stop" if i == len(texts) - 1 else None}
               for i, t in enumerate(texts)]
    wire = b"\0".join(json.dumps(o, **style).encode() for o in objects) + (b"\0" if last_nul else b"")
    expected = texts[-1].replace("\ufffd", "")  # FastChat drops U+FFFD (a cut UTF-8 sequence)
    text, chunks = translate(cut(wire, points))
    assert text == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=48) | st.sampled_from(
    [b"\0", b'{"text": "a", "error_code": 0}', b'{"text": 1}', b"[1]", b'{"error_code": 50001}',
     b'{"text": "\\ud800"}', b"data: x\n\n", b"\n\n"]), max_size=8))
def test_arbitrary_worker_bytes_raise_only_gateway_errors(chunks):
    try:
        translate(chunks)
    except GatewayError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.sampled_from(
    [b"[DONE]", b'{"usage": {"prompt_tokens": 1', b'{"error": {"message": "x"}}', b"[]", b"null"]))
def test_openai_stream_reader_raises_only_gateway_errors(data):
    """The pass-through relay parses the events that hold usage, errors or [DONE]: a malformed
    one must be an upstream error (an error event for the client), not an exception that cuts
    the stream with no word."""
    try:
        OpenAIStreamReader().on_event(SSEEvent(None, data))
    except GatewayError:
        pass


def test_a_malformed_worker_object_is_an_upstream_error():
    with pytest.raises(GatewayError, match="not JSON"):
        translate([b'{"text": "a", "error_code": 0}\0{"text": "ab", "err\0'])

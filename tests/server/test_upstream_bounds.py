"""An upstream cannot make the gateway hold or unpack more than its bounds (issue 13).

A real OpenAI-protocol fake sends gzip bombs (a few MB unpacked from a few KB), answers over the
configured body bound, endless events and malformed events; the gateway answers with an
OpenAI-shaped error (before the first byte) or ends the stream with an error event (after it),
and keeps serving. The bounds are set small here so the inputs stay a little over them.
"""

from __future__ import annotations

import openai
import orjson
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Reply
from tests.fakes.openai import FakeOpenAI, chat_chunks, chat_completion
from tests.gateway import GatewayServer

KEY = "sk-fake-openai-key-0123456789abcdef"
MASTER = "sk-bounds-master-0123456789"
MESSAGES = [{"role": "user", "content": "hi"}]
BODY_MB = 1.0
EVENT_KB = 64
STREAM_MB = 2.0


@pytest.fixture(scope="module")
def upstream():
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def anthropic():
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture(scope="module")
def gw(upstream, anthropic, tmp_path_factory):
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-a", "api_base": upstream.url + "/v1", "api_key": KEY},
            },
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-x",
                    "api_base": anthropic.url,
                    "api_key": "sk-ant-x",
                },
            },
        ],
        "general_settings": {
            "master_key": MASTER,
            "upstream_max_body_mb": BODY_MB,
            "upstream_max_event_kb": EVENT_KB,
            "upstream_max_stream_mb": STREAM_MB,
            "upstream_max_decompression_ratio": 100,
        },
        "router_settings": {"num_retries": 0},
    }
    with GatewayServer(config, tmp_path_factory.mktemp("bounds")) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(upstream):
    upstream.reset()


def _event(chunk: dict) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _stream_events(text: str = "hello there") -> list[bytes]:
    return [_event(c) for c in chat_chunks(Reply(text=text), "gpt-a", False)] + [b"data: [DONE]\n\n"]


def _still_serves(gw: GatewayServer) -> None:
    reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert reply.choices[0].message.content


def _stream_error(gw: GatewayServer) -> tuple[list[str], openai.APIError]:
    """Streams one answer; returns the text received and the error that ended it."""
    texts: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True):
            texts += [c.delta.content or "" for c in chunk.choices]
    return texts, caught.value


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_answers_within_bounds_are_decompressed(gw, upstream, encoding):
    text = "compressed text " * 50
    body = orjson.dumps(chat_completion(Reply(text=text), "gpt-a"))
    upstream.script(Reply(raw_body=body, content_encoding=encoding))
    reply = gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert reply.choices[0].message.content == text
    assert upstream.requests[-1].headers["accept-encoding"] == "gzip, deflate"
    upstream.script(Reply(raw_events=_stream_events("a compressed stream"), content_encoding=encoding))
    stream = gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "a compressed stream"


def test_a_gzip_bomb_answer_is_refused_by_its_ratio(gw, upstream):
    # Valid JSON, 4 MB of it whitespace: about 4 KB of gzip, a ratio near 1000.
    body = orjson.dumps(chat_completion(Reply(text="hi"), "gpt-a"))
    bomb = body[:-1] + b" " * (4 * 1024 * 1024) + b"}"
    upstream.script(Reply(raw_body=bomb, content_encoding="gzip"))
    with pytest.raises(openai.APIStatusError) as caught:
        gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_answer_too_large"
    assert "times its compressed size" in caught.value.message
    _still_serves(gw)


def test_an_answer_over_the_body_bound_is_refused_compressed_or_not(gw, upstream):
    # 1.2 MB of JSON that compresses only ~4:1 (distinct numbers): under the ratio, over the size.
    filler = orjson.dumps([i * 7919 for i in range(150_000)])
    assert len(filler) > BODY_MB * 1024 * 1024
    body = orjson.dumps(chat_completion(Reply(text="hi"), "gpt-a"))[:-1] + b',"filler":' + filler + b"}"
    for encoding in ("gzip", None):
        upstream.script(Reply(raw_body=body, content_encoding=encoding))
        with pytest.raises(openai.APIStatusError) as caught:
            gw.client().chat.completions.create(model="gpt", messages=MESSAGES)
        assert caught.value.code == "upstream_answer_too_large"
        assert f"larger than {int(BODY_MB * 1024 * 1024)} bytes" in caught.value.message
    _still_serves(gw)


def test_a_gzip_bomb_stream_ends_with_an_error_event(gw, upstream):
    # A valid start, then the same chunk repeated to 3 MB: a few KB of gzip.
    events = _stream_events("start")[:2]
    filler = _event(chat_chunks(Reply(text="x"), "gpt-a", False)[1])
    events += [filler] * (3 * 1024 * 1024 // len(filler))
    upstream.script(Reply(raw_events=events + [b"data: [DONE]\n\n"], content_encoding="gzip"))
    texts, error = _stream_error(gw)
    assert error.code == "upstream_answer_too_large"
    assert len(texts) < 600_000 // len(filler)  # stopped after a step or two, not at 3 MB
    _still_serves(gw)


def test_a_stream_over_its_total_bound_ends_with_an_error_event(gw, upstream):
    # Uncompressed: 2.2 MB of small, valid events; each is fine, the stream as a whole is not.
    filler = _event(chat_chunks(Reply(text="x"), "gpt-a", False)[1])
    events = _stream_events("start")[:2] + [filler] * int(2.2 * 1024 * 1024 // len(filler))
    upstream.script(Reply(raw_events=events + [b"data: [DONE]\n\n"]))
    texts, error = _stream_error(gw)
    assert error.code == "upstream_answer_too_large"
    assert texts  # the events before the bound reached the client
    _still_serves(gw)


def test_an_endless_event_is_cut_at_the_event_bound(gw, upstream):
    # One event a little over 64 KB that never ends, on a connection the fake keeps open.
    start = _stream_events("start")[:2]
    endless = b'data: {"choices":[{"index":0,"delta":{"content":"' + b"a" * (EVENT_KB * 1024 + 512)
    upstream.script(Reply(raw_events=[*start, endless, b"never sent"], stall_after=3))
    texts, error = _stream_error(gw)
    assert error.code == "upstream_answer_too_large"
    assert f"larger than {EVENT_KB * 1024} bytes" in error.message
    assert "".join(texts) == "start"
    _still_serves(gw)


def test_an_event_just_under_the_event_bound_passes(gw, upstream):
    big = "b" * (EVENT_KB * 1024 - 1024)
    upstream.script(Reply(raw_events=_stream_events(big)))
    stream = gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == big


@pytest.mark.parametrize(
    "bad",
    [b"data: this is not json\n\n", b"<html>502 Bad Gateway</html>\n\n", b"event: ping\nstatus: 1\n\n"],
    ids=["text", "html", "stray-field"],
)
def test_malformed_events_are_not_relayed(gw, upstream, bad):
    events = _stream_events("before after")
    upstream.script(Reply(raw_events=[*events[:2], bad, *events[2:]]))
    texts, error = _stream_error(gw)
    assert error.code == "upstream_malformed_event"
    assert "".join(texts) == "before "  # what came before it, never the bad event itself
    _still_serves(gw)


@pytest.mark.parametrize(
    "keep_alive",
    [b"data:\n\n", b"data: \n\n", b"event: ping\n\n", b"event: ping\ndata:\n\n", b": ping\n\n"],
    ids=["empty-data", "empty-data-space", "event-alone", "event-empty-data", "comment"],
)
def test_keep_alive_events_neither_end_nor_break_the_stream(gw, upstream, keep_alive):
    """Events a client never dispatches (empty data) are dropped, not relayed (the SDK would
    parse their empty data as JSON) and not taken for malformed events (which end the stream)."""
    events = _stream_events("before after")
    upstream.script(Reply(raw_events=[*events[:2], keep_alive, keep_alive, *events[2:]]))
    stream = gw.client().chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "before after"


def test_translated_streams_are_bounded_too(gw, anthropic):
    """An Anthropic stream goes through the decoder and a translator, not the raw framer."""
    anthropic.script(Reply(text="start " + "c" * (EVENT_KB * 1024 + 512)))
    texts: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in gw.client().chat.completions.create(model="claude", messages=MESSAGES, stream=True):
            texts += [c.delta.content or "" for c in chunk.choices]
    assert caught.value.code == "upstream_answer_too_large"
    assert "".join(texts) == "start "
    _still_serves(gw)

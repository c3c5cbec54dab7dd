"""Chat chunks encoded as a Responses event stream, read by the real openai SDK over loopback HTTP.

The encoder's bytes are served, piece by piece as the encoder wrote them, by a small HTTP server
on loopback; `client.responses.stream(...)` and `client.responses.create(stream=True)` read them
exactly as they would read OpenAI (the SDK checks event order, item identities and indexes).
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import orjson
import pytest
from aiohttp import web
from openai.types.responses import Response

from polyroute.errors import RateLimitError, UpstreamError
from polyroute.inbound.responses import RESPONSES
from polyroute.protocol.sse import SSEDecoder
from tests.fakes.base import FakeUpstream, RecordedRequest

BODY = {"model": "my-alias", "input": "hi", "instructions": "Be brief.", "max_output_tokens": 50}


class EncodedStream(FakeUpstream):
    """Serves the next scripted list of byte pieces as one SSE response to POST /v1/responses."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/responses", self.handler(self._serve))]

    async def _serve(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        pieces = self.next_behaviour()
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in pieces:
            if piece:
                await response.write(piece)
        await response.write_eof()
        return response


@pytest.fixture(scope="module")
def server() -> Iterator[EncodedStream]:
    with EncodedStream() as fake:
        yield fake


@pytest.fixture
def client(server: EncodedStream) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0, timeout=20)


def _chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
    choices = (
        []
        if delta is None and finish is None
        else [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    )
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "dep", "choices": choices}
    if usage is not None:
        chunk["usage"] = usage
    return chunk


USAGE = {
    "prompt_tokens": 9,
    "completion_tokens": 6,
    "total_tokens": 15,
    "completion_tokens_details": {"reasoning_tokens": 2},
}


def _encode(chunks: list[dict], usage: dict | None = USAGE, body: dict = BODY):
    encoder = RESPONSES.stream_encoder(body, "req-1")
    pieces = [encoder.chunks([chunk]) for chunk in chunks]
    pieces.append(encoder.finish(usage))
    return encoder, pieces


def _events(pieces: list[bytes]) -> list[dict]:
    decoder = SSEDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    assert all(event.event == event.json()["type"] for event in events)
    return [event.json() for event in events]


def test_text_with_reasoning_in_openais_order_and_the_sdks_final_response(server, client) -> None:
    encoder, pieces = _encode(
        [
            _chunk({"role": "assistant", "content": ""}),
            _chunk({"reasoning_content": "Think"}),
            _chunk({"reasoning_content": "ing."}),
            _chunk({"content": "Hel"}),
            _chunk({"content": "lo!"}),
            _chunk({}, "stop"),
            _chunk(usage=USAGE),
        ]
    )
    events = _events(pieces)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    server.script(pieces)
    with client.responses.stream(model="my-alias", input="hi") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Hel", "lo!"]
    assert final.id == encoder.response["id"] == events[0]["response"]["id"]
    assert final.status == "completed" and final.output_text == "Hello!" and final.model == "my-alias"
    assert final.output[0].type == "reasoning" and final.output[0].summary[0].text == "Thinking."
    assert final.usage is not None and final.usage.input_tokens == 9 and final.usage.output_tokens == 6
    assert final.usage.output_tokens_details.reasoning_tokens == 2
    assert final.instructions == "Be brief." and final.max_output_tokens == 50
    assert final.model_dump(mode="json", exclude_none=True)["output"][1]["content"][0]["text"] == "Hello!"
    assert final.output[1].id == encoder.response["output"][1]["id"]
    # what the store keeps is a valid Response too
    assert Response.model_validate(encoder.response).output_text == "Hello!"


def test_parallel_function_calls_with_interleaved_deltas(server, client) -> None:
    encoder, pieces = _encode(
        [
            _chunk({"content": "Checking."}),
            _chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "weather", "arguments": ""},
                        }
                    ]
                }
            ),
            _chunk(
                {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "time", "arguments": "{"},
                        }
                    ]
                }
            ),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
            _chunk({"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}),
            _chunk({}, "tool_calls"),
        ]
    )
    types = [e["type"] for e in _events(pieces)]
    assert types.count("response.function_call_arguments.delta") == 4
    assert types.count("response.function_call_arguments.done") == 2
    assert types[-1] == "response.completed"
    server.script(pieces)
    with client.responses.stream(model="my-alias", input="hi") as stream:
        argument_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert argument_deltas == ["{", '{"city":', '"Oslo"}', "}"]
    message, first, second = final.output
    assert message.type == "message" and final.output_text == "Checking."
    assert (first.type, first.call_id, first.name, first.arguments) == (
        "function_call",
        "call_a",
        "weather",
        '{"city":"Oslo"}',
    )
    assert (second.call_id, second.name, second.arguments) == ("call_b", "time", "{}")
    assert first.status == second.status == "completed"
    assert [item["arguments"] for item in encoder.response["output"][1:]] == ['{"city":"Oslo"}', "{}"]


def test_a_length_stop_ends_with_response_incomplete(server, client) -> None:
    encoder, pieces = _encode([_chunk({"content": "Once upon"}), _chunk({}, "length")])
    events = _events(pieces)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert encoder.response["status"] == "incomplete"
    server.script(pieces)
    stream = client.responses.create(model="my-alias", input="hi", stream=True)
    seen = list(stream)
    assert seen[-1].type == "response.incomplete"
    assert (
        seen[-1].response.status == "incomplete"
        and seen[-1].response.output[0].content[0].text == "Once upon"
    )


def test_an_empty_stream_is_one_empty_message(server, client) -> None:
    _, pieces = _encode([_chunk({}, "stop")], usage=None)
    server.script(pieces)
    with client.responses.stream(model="my-alias", input="hi") as stream:
        final = stream.get_final_response()
    assert final.output_text == "" and len(final.output) == 1 and final.usage is None


@pytest.mark.parametrize(
    ("error", "code"),
    [(RateLimitError("slow down"), "rate_limit_exceeded"), (UpstreamError("upstream broke"), "server_error")],
)
def test_a_stream_that_breaks_ends_with_response_failed(server, client, error, code) -> None:
    encoder = RESPONSES.stream_encoder(BODY, "req-9")
    pieces = [encoder.chunks([_chunk({"content": "partial"})]), encoder.error(error, "req-9")]
    events = _events(pieces)
    failed = events[-1]
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["code"] == code
    assert (
        error.message in failed["response"]["error"]["message"]
        and "req-9" in failed["response"]["error"]["message"]
    )
    server.script(pieces)
    seen = list(client.responses.create(model="my-alias", input="hi", stream=True))
    assert seen[-1].type == "response.failed"
    assert seen[-1].response.error is not None and seen[-1].response.error.code == code


def test_an_error_before_any_output_still_opens_the_stream(server, client) -> None:
    encoder = RESPONSES.stream_encoder(BODY, "req-2")
    events = _events([encoder.error(UpstreamError("no"), "req-2")])
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert orjson.loads(orjson.dumps(encoder.response))["status"] == "failed"

"""Property tests of the Responses codec.

* Any sequence of chat chunks (text, reasoning and tool-call deltas interleaved, finish reasons,
  usage) encodes to a well-formed Responses stream: sequence numbers count from 0, every item
  added is done once, deltas only name open items, and the final response (a valid openai SDK
  `Response`) holds exactly the text, reasoning and arguments the chunks carried.
* Any JSON-ish request body decodes to a chat body or fails with an InvalidRequestError (a 400
  naming a field), never another exception.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from openai.types.responses import Response

from polyroute.errors import InvalidRequestError
from polyroute.inbound.responses import RESPONSES
from polyroute.protocol.sse import SSEDecoder

TEXT = st.text(max_size=6)
DELTA = st.one_of(
    st.builds(lambda t: {"content": t}, TEXT),
    st.builds(lambda t: {"reasoning_content": t}, TEXT),
    st.builds(
        lambda i, name, args: {
            "tool_calls": [
                {
                    "index": i,
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": args},
                }
            ]
        },
        st.integers(0, 2),
        st.sampled_from(["f", "g"]),
        TEXT,
    ),
    st.just({"role": "assistant"}),
)
CHUNK = st.builds(
    lambda delta, finish: {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]},
    DELTA,
    st.one_of(st.none(), st.sampled_from(["stop", "length", "tool_calls"])),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(CHUNK, max_size=25), st.booleans())
def test_any_chunk_sequence_is_a_well_formed_stream(chunks: list[dict], with_usage: bool) -> None:
    encoder = RESPONSES.stream_encoder({"model": "m", "input": "x"}, "req")
    data = b"".join(encoder.chunks([chunk]) for chunk in chunks)
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3} if with_usage else None
    data += encoder.finish(usage)
    events = [event.json() for event in SSEDecoder().feed(data)]

    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] in ("response.completed", "response.incomplete")
    open_items: dict[int, str] = {}
    done: set[int] = set()
    for event in events[2:-1]:
        index = event.get("output_index")
        if event["type"] == "response.output_item.added":
            assert index not in open_items and index not in done
            open_items[index] = event["item"]["id"]
        elif event["type"] == "response.output_item.done":
            assert open_items.pop(index) == event["item"]["id"]
            done.add(index)
        else:
            assert open_items.get(index) == event["item_id"], event
    assert not open_items

    final = events[-1]["response"]
    Response.model_validate(final)
    assert final == encoder.response
    deltas = [c["choices"][0]["delta"] for c in chunks]
    text = "".join(d.get("content", "") for d in deltas)
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    output_text = "".join(
        part["text"] for item in final["output"] if item["type"] == "message" for part in item["content"]
    )
    summary = "".join(
        part["text"] for item in final["output"] if item["type"] == "reasoning" for part in item["summary"]
    )
    assert output_text == text and summary == reasoning
    calls = {
        item["call_id"]: item["arguments"] for item in final["output"] if item["type"] == "function_call"
    }
    wanted: dict[str, str] = {}
    for d in deltas:
        for call in d.get("tool_calls", []):
            wanted[call["id"]] = wanted.get(call["id"], "") + call["function"]["arguments"]
    assert calls == wanted
    assert (final["usage"] is None) == (not with_usage)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
ITEM_KEYS = st.sampled_from(
    [
        "type",
        "role",
        "content",
        "call_id",
        "name",
        "arguments",
        "output",
        "text",
        "image_url",
        "file_data",
        "id",
    ]
)
ITEM_VALUES = JSONISH | st.sampled_from(
    [
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "user",
        "assistant",
        "system",
        "input_text",
        "input_image",
        "output_text",
        "c1",
    ]
)
ITEM = st.dictionaries(
    ITEM_KEYS,
    ITEM_VALUES | st.lists(st.dictionaries(ITEM_KEYS, ITEM_VALUES, max_size=3), max_size=3),
    max_size=6,
)
BODY = st.fixed_dictionaries(
    {"model": st.just("m"), "input": st.text(max_size=4) | st.lists(ITEM, max_size=5) | JSONISH},
    optional={
        "instructions": JSONISH,
        "tools": JSONISH
        | st.lists(st.dictionaries(st.sampled_from(["type", "name", "parameters"]), ITEM_VALUES)),
        "tool_choice": JSONISH,
        "text": JSONISH | st.fixed_dictionaries({"format": JSONISH}),
        "reasoning": JSONISH,
        "max_output_tokens": JSONISH,
        "background": JSONISH,
        "stream": st.booleans(),
    },
)


@settings(max_examples=300, deadline=None)
@given(BODY)
@example({"model": "m", "input": [{"role": ["user"], "content": "x"}]})  # an unhashable role, found once
def test_any_body_decodes_or_is_a_400_naming_a_field(body: dict) -> None:
    try:
        chat = RESPONSES.to_chat(body)
    except InvalidRequestError as error:
        assert error.status == 400 and error.param
        return
    assert chat["model"] == "m" and isinstance(chat["messages"], list)

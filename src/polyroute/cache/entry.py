"""One cached answer: what is stored, how it is read back from the bytes a route sent, and how it
is served again as JSON or as a stream.

Stored: a JSON answer (chat completion or text completion object) whole, or a stream's chunks in
order, plus the usage and cost of the original request (what a hit saves). A stream request hit
by a JSON answer gets synthesised chunks (one content chunk per choice, then the finish chunk,
then usage when asked for); a JSON request hit by a stored stream is a miss (the fresh JSON answer
then replaces the entry), since re-assembling tool-call deltas is not worth its risk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from polyroute.protocol.sse import encode_data, encode_done

FORMAT = 1


@dataclass(slots=True)
class CachedAnswer:
    kind: str  # "json" or "stream"
    answer: dict[str, Any] | None  # kind json
    chunks: list[dict[str, Any]] | None  # kind stream
    usage: dict[str, Any] | None  # the original request's usage, OpenAI-shaped
    cost: float  # USD the original request cost: what a hit saves
    stored_at: float  # seconds (the cache's clock)
    #: the SSE bytes `stream_body` made, by include_usage: an entry the in-memory backend holds is
    #: decoded once and served many times, and re-encoding 20 chunks cost 10 µs a hit
    streamed: dict[bool, bytes] = field(default_factory=dict, repr=False, compare=False)

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": FORMAT,
                "kind": self.kind,
                "answer": self.answer,
                "chunks": self.chunks,
                "usage": self.usage,
                "cost": self.cost,
                "stored_at": self.stored_at,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> CachedAnswer | None:
        """None for bytes this build cannot read (another format version, corruption)."""
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(raw, dict) or raw.get("v") != FORMAT or raw.get("kind") not in ("json", "stream"):
            return None
        return cls(
            kind=raw["kind"],
            answer=raw.get("answer"),
            chunks=raw.get("chunks"),
            usage=raw.get("usage"),
            cost=float(raw.get("cost") or 0.0),
            stored_at=float(raw.get("stored_at") or 0.0),
        )

    def serves(self, stream: bool) -> bool:
        return stream or self.kind == "json"

    @classmethod
    def of_chat(
        cls,
        *,
        answer: dict[str, Any] | None = None,
        chunks: list[dict[str, Any]] | None = None,
        usage: dict[str, Any] | None = None,
        cost: float = 0.0,
        now: float,
    ) -> CachedAnswer:
        """An entry from an OpenAI chat answer or a complete stream's chat chunks (for callers
        that hold the chat form before encoding it for their client's protocol)."""
        if answer is not None:
            return cls("json", answer, None, answer.get("usage") or usage, cost, now)
        return cls("stream", None, list(chunks or ()), usage, cost, now)

    def chat_chunks(self) -> list[dict[str, Any]]:
        """The answer as OpenAI chunks: a stored stream's own, or a JSON answer's synthesised."""
        return list(self.chunks or ()) if self.kind == "stream" else synthesised_chunks(self.answer or {})


def from_sent(
    body: bytes, is_stream: bool, usage: dict[str, Any] | None, cost: float, now: float
) -> CachedAnswer | None:
    """The answer a route sent (its whole response body), or None when it is not a complete
    success: an error object, a stream without `[DONE]` or with an error event."""
    if not is_stream:
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(answer, dict) or "error" in answer or not answer.get("choices"):
            return None
        return CachedAnswer("json", answer, None, answer.get("usage") or usage, cost, now)
    chunks: list[dict[str, Any]] = []
    done = False
    for event in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = b"\n".join(line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:"))
        if not data:
            continue
        if data == b"[DONE]":
            done = True
            continue
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(chunk, dict) or "error" in chunk:
            return None
        chunks.append(chunk)
    if not done or not chunks:
        return None
    return CachedAnswer("stream", None, chunks, usage, cost, now)


def _usage_only(chunk: dict[str, Any]) -> bool:
    return chunk.get("choices") == [] and bool(chunk.get("usage"))


def stream_body(entry: CachedAnswer, include_usage: bool) -> bytes:
    """The SSE bytes of a hit served as a stream, `[DONE]`-terminated. The usage chunk goes out
    only when the client asked for it (stream_options.include_usage), as the relay does."""
    made = entry.streamed.get(include_usage)
    if made is None:
        made = entry.streamed[include_usage] = _stream_body(entry, include_usage)
    return made


def _stream_body(entry: CachedAnswer, include_usage: bool) -> bytes:
    chunks = entry.chat_chunks()
    out = [c for c in chunks if not _usage_only(c)]
    if include_usage:
        usage = next((c["usage"] for c in chunks if _usage_only(c)), None) or entry.usage
        if usage:
            template = out[-1] if out else {}
            out.append(
                {
                    "id": template.get("id"),
                    "object": template.get("object", "chat.completion.chunk"),
                    "created": template.get("created"),
                    "model": template.get("model"),
                    "choices": [],
                    "usage": usage,
                }
            )
    return b"".join(encode_data(c) for c in out) + encode_done()


def synthesised_chunks(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSON answer as stream chunks: per choice its whole message as one delta, then its finish."""
    text = answer.get("object") == "text_completion"
    base = {
        "id": answer.get("id"),
        "object": "text_completion" if text else "chat.completion.chunk",
        "created": answer.get("created"),
        "model": answer.get("model"),
    }
    if answer.get("system_fingerprint") is not None:
        base["system_fingerprint"] = answer["system_fingerprint"]
    chunks = []
    for choice in answer.get("choices") or ():
        index = choice.get("index", 0)
        if text:
            content = {"text": choice.get("text") or "", "index": index, "logprobs": choice.get("logprobs")}
            chunks.append({**base, "choices": [{**content, "finish_reason": None}]})
            chunks.append(
                {
                    **base,
                    "choices": [
                        {
                            "text": "",
                            "index": index,
                            "logprobs": None,
                            "finish_reason": choice.get("finish_reason"),
                        }
                    ],
                }
            )
            continue
        message = choice.get("message") or {}
        delta = {k: v for k, v in message.items() if v is not None and k not in ("annotations", "refusal")}
        if isinstance(delta.get("tool_calls"), list):
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(delta["tool_calls"])]
        first: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": None}
        if choice.get("logprobs") is not None:
            first["logprobs"] = choice["logprobs"]
        chunks.append({**base, "choices": [first]})
        chunks.append(
            {**base, "choices": [{"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}]}
        )
    return chunks

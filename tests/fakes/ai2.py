"""A fake of AI2's InferD endpoint as FastChat's arena uses it (`POST /api/v1/infer`).

Bearer auth (401 `{"error": {"code": 401, "message": ...}}` without a valid key); the body must
be `{"model_id", "input": {"messages", "opts"}}` with vLLM's rule that greedy decoding
(temperature 0) comes with `top_p` 1 (a 400 otherwise). The answer is JSON lines
`{"result": {"output": {"text": [<piece>], "token_ids": [...]}}}`, one per piece of text, with no
end marker (the close ends it); `error_after=N` sends a line `{"error": {...}}` after N lines.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import Error, FakeUpstream, RecordedRequest, json_response, stream_events


class FakeAI2(FakeUpstream):
    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/v1/infer", self.handler(self._infer))]

    async def _infer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token or (self.api_key is not None and token != self.api_key):
            return error_response(401, "invalid or missing bearer token")
        body = rec.json if rec.body else None
        problem = _problem(body)
        if problem:
            return error_response(400, problem)
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            if behaviour.ttfb:
                await asyncio.sleep(behaviour.ttfb)
            return error_response(behaviour.status, behaviour.message, behaviour.headers)
        pieces = behaviour.pieces() or [""]
        lines = [
            orjson.dumps({"result": {"output": {"text": [piece], "token_ids": [i]}}}) + b"\n"
            for i, piece in enumerate(pieces)
        ]
        if behaviour.malformed:
            lines = [b'{"result": {"output": \n']
        error_line = orjson.dumps({"error": {"code": 500, "message": "worker failed"}}) + b"\n"
        headers = {"Content-Type": "application/jsonl", **behaviour.headers}
        return await stream_events(request, lines, behaviour, error_line, headers=headers)


def _problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("model_id"), str):
        return "model_id is required"
    data = body.get("input")
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list) or not data["messages"]:
        return "input.messages is required"
    for message in data["messages"]:
        if set(message) != {"role", "content"} or not isinstance(message["content"], str):
            return "each message must be {role, content} with string content"
    opts = data.get("opts") or {}
    if opts.get("temperature") == 0 and opts.get("top_p", 1) < 1:
        return "top_p must be 1 when temperature is 0"
    return None


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": {"code": status, "message": message}}, status=status, headers=headers)

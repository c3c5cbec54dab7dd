"""A fake FastChat model worker: the HTTP API of fschat's model_worker, byte for byte where it
matters, driven by the shared scripted behaviours.

Shapes (recorded from fschat 0.2.36's model_worker on a tiny model):
  POST /worker_get_status          {"model_names": [...], "speed": 1, "queue_length": 0}
  POST /worker_get_conv_template   {"conv": {name, system_template, system_message, roles, messages,
                                    offset, sep_style, sep, sep2, stop_str, stop_token_ids}}
  POST /model_details              {"context_length": 512}
  POST /count_token                {"count": N, "error_code": 0}
  POST /worker_generate_stream     JSON objects each followed by b"\\0", no end marker; each holds
                                   the whole text so far: {"text", "error_code": 0, "usage":
                                   {prompt_tokens, completion_tokens, total_tokens},
                                   "finish_reason": null|"stop"|"length", "logprobs": null}
  POST /worker_get_embeddings      {"embedding": [[...], ...], "token_num": N}
Errors are FastChat's: {"text": "<message>", "error_code": <ErrorCode>} in place of a chunk.

Like FastChat's worker it registers itself with a controller (`register()`), whose URL may carry
`worker:TOKEN@` credentials (sent as HTTP Basic auth, as the `requests` library does), and
heartbeats on demand (`heartbeat()`).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import orjson
from aiohttp import web

from tests.fakes.base import Error, FakeUpstream, RecordedRequest, Reply, json_response

SERVER_ERROR_MSG = "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**"
# fschat 0.2.36's "one_shot" template, shortened few-shot answer.
ONE_SHOT = {
    "name": "one_shot",
    "system_template": "{system_message}",
    "system_message": "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    "roles": ["Human", "Assistant"],
    "messages": [
        ["Human", "Got any creative ideas for a 10 year old’s birthday?"],
        ["Assistant", "Of course!"],
    ],
    "offset": 2,
    "sep_style": 1,
    "sep": "\n### ",
    "sep2": None,
    "stop_str": "###",
    "stop_token_ids": None,
}


def _logprobs(tokens: list[str]) -> dict[str, Any]:
    """fschat's logprobs object (inference.py) for the tokens so far: cumulative, no alternatives."""
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    values = [-0.25 * (i + 1) for i in range(len(tokens))]
    return {
        "text_offset": offsets,
        "tokens": tokens,
        "token_logprobs": values,
        "top_logprobs": [{}] * len(tokens),
    }


def _frame(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\0"


class FakeFastChatWorker(FakeUpstream):
    def __init__(
        self, model_names: list[str], speed: float = 1, template: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.model_names = list(model_names)
        self.speed = speed
        self.queue_length = 0
        self.context_length = 512
        self.template = template or ONE_SHOT

    @property
    def address(self) -> str:
        return self.url

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/worker_get_status", self.handler(self._status)),
            web.post("/worker_get_conv_template", self.handler(self._template)),
            web.post("/model_details", self.handler(self._details)),
            web.post("/count_token", self.handler(self._count)),
            web.post("/worker_generate_stream", self.handler(self._generate)),
            web.post("/worker_get_embeddings", self.handler(self._embeddings)),
        ]

    def status(self) -> dict[str, Any]:
        return {"model_names": self.model_names, "speed": self.speed, "queue_length": self.queue_length}

    # -- the worker's side of the controller protocol -------------------------------------------------
    def register(
        self, controller_url: str, worker_name: str | None = None, multimodal: bool = False
    ) -> httpx.Response:
        body = {
            "worker_name": worker_name or self.address,
            "check_heart_beat": True,
            "worker_status": self.status(),
            "multimodal": multimodal,
        }
        return httpx.post(controller_url + "/register_worker", json=body, timeout=10)

    def heartbeat(self, controller_url: str) -> httpx.Response:
        body = {"worker_name": self.address, "queue_length": self.queue_length}
        return httpx.post(controller_url + "/receive_heart_beat", json=body, timeout=10)

    # -- endpoints ------------------------------------------------------------------------------------
    async def _status(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return json_response(self.status())

    async def _template(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return json_response({"conv": self.template})

    async def _details(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        return json_response({"context_length": self.context_length})

    async def _count(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        prompt = (rec.json or {}).get("prompt") or ""
        return json_response({"count": len(prompt.split()), "error_code": 0})

    async def _generate(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error) and behaviour.status >= 400 and behaviour.type == "http":
            return web.Response(status=behaviour.status, text="Internal Server Error")
        params = rec.json or {}
        prompt_tokens = len(str(params.get("prompt", "")).split())
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        if isinstance(behaviour, Error):
            # FastChat sends the error as the (only, or next) object of the stream.
            code = int(behaviour.code or 50001)
            await response.write(
                _frame({"text": f"{SERVER_ERROR_MSG}\n\n({behaviour.message})", "error_code": code})
            )
            await response.write_eof()
            return response
        reply: Reply = behaviour
        if reply.ttfb:
            await asyncio.sleep(reply.ttfb)
        pieces = reply.pieces()
        text = ""
        for i, piece in enumerate(pieces):
            if reply.drop_after is not None and i >= reply.drop_after:
                if request.transport is not None:
                    request.transport.abort()
                return response
            if reply.error_after is not None and i >= reply.error_after:
                await response.write(
                    _frame({"text": f"{SERVER_ERROR_MSG}\n\n(CUDA out of memory)", "error_code": 50002})
                )
                await response.write_eof()
                return response
            if i and reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            text += piece
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": i,
                "total_tokens": prompt_tokens + i,
            }
            logprobs = _logprobs(pieces[: i + 1]) if params.get("logprobs") is not None else None
            await response.write(
                _frame(
                    {
                        "text": text,
                        "error_code": 0,
                        "usage": usage,
                        "finish_reason": None,
                        "logprobs": logprobs,
                    }
                )
            )
        n = len(pieces)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
        finish = reply.finish or "stop"
        logprobs = _logprobs(pieces) if params.get("logprobs") is not None else None
        await response.write(
            _frame(
                {"text": text, "error_code": 0, "usage": usage, "finish_reason": finish, "logprobs": logprobs}
            )
        )
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        behaviour = self.next_behaviour()
        if isinstance(behaviour, Error):
            return json_response({"text": SERVER_ERROR_MSG, "error_code": int(behaviour.code or 50001)})
        inputs = (rec.json or {}).get("input") or []
        vectors = [[b / 255.0 for b in hashlib.sha256(text.encode()).digest()[:4]] for text in inputs]
        return json_response({"embedding": vectors, "token_num": sum(len(t.split()) for t in inputs)})

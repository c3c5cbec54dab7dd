"""FastChat's worker API on a polyroute worker, so FastChat's own controller and API server
(`fastchat.serve.openai_api_server`) can use it like one of fschat's model workers.

| endpoint | body | answer |
|---|---|---|
| POST /worker_get_conv_template | {model} | {conv} (the template below) |
| POST /model_details | {model} | {context_length} |
| POST /count_token | {model, prompt} | {count, error_code: 0} |
| POST /worker_generate_stream | FastChat's generation params | JSON objects each ended by a NUL byte |
| POST /worker_generate | the same | the last of those objects |
| POST /worker_get_embeddings | {model, input: [str]} | {embedding: [[float]], token_num} |

Each generated object holds the whole text so far (`text`), `error_code` (0, or one of FastChat's
ErrorCode values), `usage`, `finish_reason` and `logprobs`; errors are answered with HTTP 200
and the error in the object, as FastChat's workers do.

FastChat's API server flattens a chat into one prompt with the worker's conversation template.
The template served here is ChatML, and a prompt in that form is parsed back into messages, so
the engine still applies the model's own chat template (the `transformers` engine) or sends the
messages to its upstream's chat API (`openai`, `vllm`). A prompt that is not in that form (a raw
/v1/completions prompt) becomes one user message.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from polyroute.asgi import AsgiRequest as Request
from polyroute.errors import InvalidRequestError
from polyroute.protocol.sse import DONE, SSEDecoder

if TYPE_CHECKING:
    from polyroute.worker.app import WorkerApp

MAX_BODY_BYTES = 32 * 1024 * 1024
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
ASSISTANT_TURN = IM_START + "assistant\n"
# A FastChat Conversation (fschat 0.2.36's field names; sep_style 9 is its SeparatorStyle.CHATML).
CONV_TEMPLATE: dict[str, Any] = {
    "name": "polyroute-chatml",
    "system_template": IM_START + "system\n{system_message}",
    "system_message": "",
    "roles": [IM_START + "user", IM_START + "assistant"],
    "messages": [],
    "offset": 0,
    "sep_style": 9,
    "sep": IM_END,
    "sep2": None,
    "stop_str": IM_END,
    "stop_token_ids": None,
}
ROLES = ("system", "user", "assistant")
FASTCHAT_DEFAULT_MAX_NEW_TOKENS = 256  # fschat's generate_stream without max_new_tokens
# An OpenAI error status from the engine -> FastChat's ErrorCode.
ERROR_CODES = {400: 40001, 401: 40101, 403: 40103, 404: 40301, 429: 42901, 503: 42903, 504: 50006}
CONTEXT_OVERFLOW = 40303
INTERNAL_ERROR = 50001
CUDA_OUT_OF_MEMORY = 50002


def messages_from_prompt(prompt: str) -> list[dict[str, str]]:
    """The messages a prompt rendered with CONV_TEMPLATE came from; any other prompt is one user turn."""
    if prompt.endswith(ASSISTANT_TURN) and prompt.startswith(IM_START):
        messages: list[dict[str, str]] = []
        for segment in prompt[: -len(ASSISTANT_TURN)].split(IM_START)[1:]:
            role, newline, rest = segment.partition("\n")
            if role not in ROLES or not newline:
                break
            if rest.endswith(IM_END + "\n"):
                rest = rest[: -len(IM_END) - 1]
            elif rest:  # not this template after all
                break
            if role == "system" and not rest:
                continue  # the template's empty system message
            messages.append({"role": role, "content": rest})
        else:
            if messages:
                return messages
    return [{"role": "user", "content": prompt}]


def error_object(code: int, message: str) -> dict[str, Any]:
    return {"text": message, "error_code": code}


def engine_error(status: int, body: bytes) -> dict[str, Any]:
    """An engine's OpenAI error answer as FastChat's error object."""
    message, code = f"the engine answered HTTP {status}", None
    try:
        error = orjson.loads(body).get("error") or {}
        message = str(error.get("message") or message)
        code = error.get("code")
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        pass
    number = (
        CONTEXT_OVERFLOW if code == "context_length_exceeded" else ERROR_CODES.get(status, INTERNAL_ERROR)
    )
    return error_object(number, message)


def _stops(value: Any) -> list[str]:
    stops = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    # The template's own end marker: the engine ends the turn itself.
    return [s for s in stops if isinstance(s, str) and s and s != IM_END]


def chat_body(params: dict[str, Any]) -> dict[str, Any]:
    """FastChat's generation params -> the OpenAI chat request the engine serves (streamed)."""
    prompt = params.get("prompt")
    if not isinstance(prompt, str):
        raise InvalidRequestError("prompt must be a string", param="prompt")
    max_new_tokens = params.get("max_new_tokens", FASTCHAT_DEFAULT_MAX_NEW_TOKENS)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise InvalidRequestError("max_new_tokens must be a positive integer", param="max_new_tokens")
    body: dict[str, Any] = {
        "model": params.get("model"),
        "messages": messages_from_prompt(prompt),
        "max_tokens": max_new_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed"):
        value = params.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            body[name] = value
    stops = _stops(params.get("stop"))
    if stops:
        body["stop"] = stops
    return body


def _frame(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\0"


class FastChatWorkerAPI:
    """The FastChat endpoints of one `WorkerApp`, sharing its engine and concurrency limit."""

    def __init__(self, app: WorkerApp) -> None:
        self.app = app
        self.routes: dict[tuple[str, str], Callable[[Request], Awaitable[None]]] = {
            ("POST", "/worker_get_conv_template"): self.conv_template,
            ("POST", "/model_details"): self.model_details,
            ("POST", "/count_token"): self.count_token,
            ("POST", "/worker_generate_stream"): self.generate_stream,
            ("POST", "/worker_generate"): self.generate,
            ("POST", "/worker_get_embeddings"): self.embeddings,
        }

    async def conv_template(self, request: Request) -> None:
        await request.respond(200, orjson.dumps({"conv": CONV_TEMPLATE}))

    async def model_details(self, request: Request) -> None:
        await request.respond(200, orjson.dumps({"context_length": self.app.engine.context_length}))

    async def count_token(self, request: Request) -> None:
        body = await request.read_json(MAX_BODY_BYTES, 64)
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise InvalidRequestError("prompt must be a string", param="prompt")
        await request.respond(
            200, orjson.dumps({"count": self.app.engine.count_tokens(prompt), "error_code": 0})
        )

    # -- generation ---------------------------------------------------------------------------------
    async def generate_stream(self, request: Request) -> None:
        params = await request.read_json(MAX_BODY_BYTES, 64)
        body = chat_body(params)
        async with self.app.limit.slot():
            await request.send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")],
                }
            )
            request.started = True
            async with contextlib.aclosing(self.objects(params, body)) as objects:
                async for obj in objects:
                    await request.write(_frame(obj))
            await request.end_stream()

    async def generate(self, request: Request) -> None:
        params = await request.read_json(MAX_BODY_BYTES, 64)
        body = chat_body(params)
        last: dict[str, Any] = error_object(INTERNAL_ERROR, "the engine produced no output")
        async with self.app.limit.slot():
            async for obj in self.objects(params, body):
                last = obj
        await request.respond(200, orjson.dumps(last))

    async def objects(self, params: dict[str, Any], body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """FastChat's objects for one generation: cumulative text, then a last one with the
        finish reason and usage; an error ends the sequence with an error object."""
        engine = self.app.engine
        prefix = params["prompt"] if params.get("echo", True) else ""
        prompt_tokens = engine.count_tokens(params["prompt"])
        response = await engine.chat(body)
        if response.status != 200:
            yield engine_error(response.status, response.body)
            return
        text, pieces, usage, finish = "", 0, None, None

        def current() -> dict[str, Any]:
            if usage is not None:
                return usage
            return {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": pieces,
                "total_tokens": prompt_tokens + pieces,
            }

        chunks = contextlib.aclosing(_chat_chunks(response))
        try:
            async with chunks as engine_chunks:
                async for data in engine_chunks:
                    if "error" in data:
                        yield error_object(
                            INTERNAL_ERROR, str((data["error"] or {}).get("message") or "engine error")
                        )
                        return
                    if isinstance(data.get("usage"), dict):
                        usage = _usage(data["usage"])
                    added = ""
                    for choice in data.get("choices") or ():
                        added += (choice.get("delta") or choice.get("message") or {}).get("content") or ""
                        finish = choice.get("finish_reason") or finish
                    if added:
                        text, pieces = text + added, pieces + 1
                        yield {
                            "text": prefix + text,
                            "error_code": 0,
                            "usage": current(),
                            "finish_reason": None,
                            "logprobs": None,
                        }
        except Exception as exc:  # noqa: BLE001  # the engine broke mid-generation: FastChat's error object
            oom = type(exc).__name__ == "OutOfMemoryError"
            yield error_object(CUDA_OUT_OF_MEMORY if oom else INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
            return
        yield {
            "text": prefix + text,
            "error_code": 0,
            "usage": current(),
            "finish_reason": finish or "stop",
            "logprobs": None,
        }

    # -- embeddings ---------------------------------------------------------------------------------
    async def embeddings(self, request: Request) -> None:
        params = await request.read_json(MAX_BODY_BYTES, 64)
        async with self.app.limit.slot():
            response = await self.app.engine.embeddings(
                {"model": params.get("model"), "input": params.get("input")}
            )
        if response.status != 200:
            await request.respond(200, orjson.dumps(engine_error(response.status, response.body)))
            return
        data = orjson.loads(response.body)
        items = sorted(data.get("data") or [], key=lambda item: item.get("index", 0))
        answer = {
            "embedding": [item.get("embedding") for item in items],
            "token_num": int((data.get("usage") or {}).get("prompt_tokens") or 0),
        }
        await request.respond(200, orjson.dumps(answer))


def _usage(usage: dict[str, Any]) -> dict[str, int]:
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _chat_chunks(response: Any) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of an engine's SSE answer (or its one plain chat.completion)."""
    if response.stream is None:
        yield orjson.loads(response.body)
        return
    decoder = SSEDecoder()
    async with contextlib.aclosing(response.stream) as stream:
        async for raw in stream:
            for event in decoder.feed(raw):
                if event.data.strip() != DONE:
                    yield event.json()
    for event in decoder.flush():
        if event.data.strip() != DONE:
            yield event.json()

"""FastChat's worker protocol: OpenAI requests to a FastChat model worker and back.

* chat: the OpenAI messages fill the worker's conversation template (fetched once per worker and
  model from /worker_get_conv_template) and become FastChat's generation parameters for
  /worker_generate_stream; `max_tokens` becomes `max_new_tokens` (512 when unset, as FastChat's
  API server does), `stop` joins the template's stop strings, `echo` is off;
* the worker streams JSON objects separated by NUL bytes, each with the *whole* text so far
  (`text`), `error_code` (0 or one of FastChat's ErrorCode values), `usage` and `finish_reason`:
  they become OpenAI chunks carrying only the new text;
* logprobs: a request asking for them sends `logprobs: 1`; the worker's cumulative legacy-shaped
  logprobs (chosen tokens only) become chat's `logprobs.content`;
* embeddings: /worker_get_embeddings in batches of FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE.

The I/O (template cache, NUL-delimited framing, batching) is in `transport.py`.
"""

from __future__ import annotations

import base64
import math
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from polyroute.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
    UpstreamTimeoutError,
    error_for_upstream_status,
)
from polyroute.protocol.framing import StreamEvent
from polyroute.providers.base import (
    ProviderAdapter,
    ProviderCall,
    StreamTranslator,
    WireRequest,
    generic_upstream_error,
)
from polyroute.providers.fastchat_worker.conversation import Conversation
from polyroute.providers.fastchat_worker.spec import PROVIDER, SPEC

# Without max_tokens FastChat's API server asks for the rest of the worker's context (see
# bounded_max_new_tokens); 512 applies only to a worker that answers no /model_details.
DEFAULT_MAX_NEW_TOKENS = 512
UNBOUNDED_MAX_TOKENS = 1024 * 1024  # FastChat's stand-in for "no max_tokens"
SUPPORTED_CHAT_PARAMS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "stream",
        "stream_options",
        "user",
        "logprobs",
        "top_logprobs",
    }
)
# FastChat's ErrorCode values (fastchat/constants.py) -> the gateway's error classes.
ERROR_CODES: dict[int, type[GatewayError]] = {
    40001: InvalidRequestError,  # VALIDATION_TYPE_ERROR
    40101: AuthenticationError,  # INVALID_AUTH_KEY
    40102: AuthenticationError,  # INCORRECT_AUTH_KEY
    40103: PermissionDeniedError,  # NO_PERMISSION
    40301: NotFoundError,  # INVALID_MODEL
    40302: InvalidRequestError,  # PARAM_OUT_OF_RANGE
    40303: ContextWindowExceededError,  # CONTEXT_OVERFLOW
    42901: RateLimitError,  # RATE_LIMIT
    42902: RateLimitError,  # QUOTA_EXCEEDED
    42903: ServiceUnavailableError,  # ENGINE_OVERLOADED
    50001: UpstreamError,  # INTERNAL_ERROR
    50002: ServiceUnavailableError,  # CUDA_OUT_OF_MEMORY: another worker may have room
    50003: UpstreamError,  # GRADIO_REQUEST_ERROR
    50004: UpstreamError,  # GRADIO_STREAM_UNKNOWN_ERROR
    50005: ServiceUnavailableError,  # CONTROLLER_NO_WORKER
    50006: UpstreamTimeoutError,  # CONTROLLER_WORKER_TIMEOUT
}


@dataclass
class WorkerWire(WireRequest):
    """A request for a FastChat worker: what to do, and the parts the transport needs to do it."""

    operation: str = "chat"  # "chat" or "embeddings"
    address: str = ""
    model: str = ""
    payload: dict[str, Any] = field(default_factory=dict)  # the OpenAI body
    stream: bool = False
    embedding_batch_size: int = 4


def worker_error(data: Mapping[str, Any]) -> GatewayError:
    """The gateway error for a FastChat object with a non-zero `error_code`."""
    code = data.get("error_code")
    number = code if isinstance(code, int) and not isinstance(code, bool) else 50001
    cls = ERROR_CODES.get(number)
    if cls is None:
        status = number // 100
        cls = error_for_upstream_status(status) if 400 <= status < 600 else UpstreamError
    text = data.get("text")
    message = text.strip() if isinstance(text, str) and text.strip() else "the worker reported an error"
    error = cls(f"FastChat worker error {number}: {message}", provider=PROVIDER)
    if cls is not ContextWindowExceededError:
        error.code = f"fastchat_error_{number}"
    return error


def gen_params(payload: dict[str, Any], template: Mapping[str, Any], model: str) -> dict[str, Any]:
    """FastChat's generation parameters for one OpenAI chat request, as its API server builds them."""
    if (payload.get("n") or 1) != 1:
        raise InvalidRequestError("FastChat workers generate one choice per request: n must be 1", param="n")
    conv = Conversation.from_template(template)
    conv.add_openai_messages(payload.get("messages") or [])
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens") or DEFAULT_MAX_NEW_TOKENS
    stop: list[str] = []
    for source in (payload.get("stop"), conv.stop_str):
        for item in [source] if isinstance(source, str) else source or ():
            if isinstance(item, str) and item and item not in stop:
                stop.append(item)
    params: dict[str, Any] = {
        # Keys that are not OpenAI params (top_k, repetition_penalty, ...) are the worker's own.
        **{k: v for k, v in payload.items() if k not in SUPPORTED_CHAT_PARAMS},
        "model": model,
        "prompt": conv.prompt(),
        "temperature": payload.get("temperature", 1.0),
        "top_p": payload.get("top_p", 1.0),
        "max_new_tokens": max_tokens,
        "echo": False,
        "stop": stop,
        "stop_token_ids": conv.stop_token_ids,
    }
    for name in ("presence_penalty", "frequency_penalty"):
        if payload.get(name) is not None:
            params[name] = payload[name]
    if payload.get("logprobs"):
        # fschat's workers compute the chosen tokens' logprobs when `logprobs` is set (no
        # alternatives: its top_logprobs are empty), as its API server asks for completions.
        params["logprobs"] = 1
    return params


def chat_logprobs(data: Mapping[str, Any], start: int = 0) -> dict[str, Any] | None:
    """A FastChat object's `logprobs` (legacy shape, for the whole text so far) -> chat's
    `logprobs.content` entries from token `start` on; None when the worker sent none."""
    given = data.get("logprobs")
    if not isinstance(given, dict) or not isinstance(given.get("tokens"), list):
        return None
    values = given.get("token_logprobs") if isinstance(given.get("token_logprobs"), list) else []
    content = []
    for token, value in zip(given["tokens"][start:], values[start:], strict=False):
        if not isinstance(token, str) or not isinstance(value, int | float) or isinstance(value, bool):
            continue  # fschat gives the first token of an echoed prompt no logprob
        content.append(
            {"token": token, "logprob": float(value), "bytes": list(token.encode()), "top_logprobs": []}
        )
    return {"content": content, "refusal": None}


def bounded_max_new_tokens(requested: Any, context_length: int, prompt_tokens: int) -> int:
    """FastChat's API server's check_length: the tokens left in the worker's context, at most the
    request's max_tokens (the whole rest when it has none), or a context_length_exceeded error."""
    if isinstance(requested, bool) or not isinstance(requested, int) or requested <= 0:
        requested = UNBOUNDED_MAX_TOKENS
    length = min(requested, context_length - prompt_tokens)
    if length <= 0:
        raise ContextWindowExceededError(
            f"This model's maximum context length is {context_length} tokens. However, your messages "
            f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
            param="messages",
            provider=PROVIDER,
        )
    return length


def _usage(data: Mapping[str, Any]) -> dict[str, Any] | None:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish(data: Mapping[str, Any]) -> str | None:
    reason = data.get("finish_reason")
    return reason if isinstance(reason, str) and reason else None


def _clean(text: Any) -> str:
    # FastChat's API server drops U+FFFD: an incomplete UTF-8 sequence at the end of the text so far.
    return text.replace("\ufffd", "") if isinstance(text, str) else ""


class FastChatStreamTranslator(StreamTranslator):
    """FastChat chunks (cumulative text) -> OpenAI chunks (new text only)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = "chatcmpl-" + base64.b32encode(struct.pack(">d", time.time()) + b"fc").decode().lower()[:24]
        self.created = int(time.time())
        self.previous = ""
        self.usage: dict[str, Any] | None = None
        self.finish: str | None = None
        self.started = False
        self.chunks = 0
        self.tokens_sent = 0  # logprob entries already relayed (FastChat's are cumulative)

    def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
        }

    def on_event(self, event: StreamEvent) -> list[dict[str, Any]]:
        try:
            data = event.json()
        except orjson.JSONDecodeError:
            raise UpstreamError("the worker sent a chunk that is not JSON", provider=PROVIDER) from None
        if not isinstance(data, dict):
            raise UpstreamError("the worker sent a chunk that is not a JSON object", provider=PROVIDER)
        if data.get("error_code"):
            raise worker_error(data)
        self.chunks += 1
        out = []
        if not self.started:
            self.started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        text = _clean(data.get("text"))
        delta, self.previous = text[len(self.previous) :], text
        if delta:
            logprobs = chat_logprobs(data, self.tokens_sent)
            if logprobs is not None:
                self.tokens_sent = len(data["logprobs"]["tokens"])
            out.append(self._chunk({"content": delta}, logprobs=logprobs))
        self.usage = _usage(data) or self.usage
        self.finish = _finish(data) or self.finish
        return out

    def on_end(self) -> list[dict[str, Any]]:
        if self.chunks == 0:
            raise UpstreamError("the worker closed its stream without any output", provider=PROVIDER)
        return [self._chunk({}, self.finish or "stop")]


class FastChatWorkerAdapter(ProviderAdapter):
    spec = SPEC
    supported_chat_params = SUPPORTED_CHAT_PARAMS

    def __init__(self) -> None:
        from polyroute.providers.fastchat_worker.transport import TemplateCache

        self.templates = TemplateCache()

    def _wire(self, call: ProviderCall, operation: str, body: dict[str, Any], stream: bool) -> WorkerWire:
        address = (call.api_base or "").rstrip("/")
        if not address:
            raise InvalidRequestError("a FastChat worker deployment needs its address", param="api_base")
        return WorkerWire(
            url=f"{address}/worker_generate_stream",
            headers={"content-type": "application/json"},
            body=b"",
            operation=operation,
            address=address,
            model=call.model,
            payload=body,
            stream=stream,
            embedding_batch_size=int(call.extras.get("embedding_batch_size") or 4),
        )

    # -- chat ------------------------------------------------------------------------------------
    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        return self._wire(call, "chat", body, stream)

    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]:
        """The last chunk of the worker's stream -> an OpenAI chat.completion."""
        if data.get("error_code"):
            raise worker_error(data)
        return {
            "id": "chatcmpl-" + base64.b32encode(struct.pack(">d", time.time())).decode().lower()[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _clean(data.get("text")), "refusal": None},
                    "logprobs": chat_logprobs(data),
                    "finish_reason": _finish(data) or "stop",
                }
            ],
            "usage": _usage(data) or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator:
        return FastChatStreamTranslator(call.model)

    # -- embeddings --------------------------------------------------------------------------------
    def embeddings_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        wire = self._wire(call, "embeddings", body, False)
        wire.url = f"{wire.address}/worker_get_embeddings"
        return wire

    def embeddings_response(
        self, call: ProviderCall, data: dict[str, Any], request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if data.get("error_code"):
            raise worker_error(data)
        vectors = data.get("embedding")
        if not isinstance(vectors, list):
            raise UpstreamError("the worker's embeddings answer has no 'embedding' list", provider=PROVIDER)
        as_base64 = (request_body or {}).get("encoding_format") == "base64"
        items = []
        for i, vector in enumerate(vectors):
            if not isinstance(vector, list) or not all(
                isinstance(x, int | float) and math.isfinite(x) for x in vector
            ):
                raise UpstreamError(
                    "the worker sent an embedding that is not a list of numbers", provider=PROVIDER
                )
            value: Any = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector
            )
            items.append({"object": "embedding", "index": i, "embedding": value})
        tokens = int(data.get("token_num") or 0)
        return {
            "object": "list",
            "data": items,
            "model": call.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    # -- I/O and errors ---------------------------------------------------------------------------
    def transport(self, http: Any = None) -> Any:
        from polyroute.providers.fastchat_worker.transport import FastChatWorkerTransport

        return FastChatWorkerTransport(http, self.templates) if http is not None else None

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and data.get("error_code"):
            error = worker_error(data)
            return error
        return generic_upstream_error(self.name, status, body, headers)

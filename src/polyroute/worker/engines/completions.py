"""The legacy `/v1/completions` of a worker's local engines (transformers, vllm): the request's
arguments checked once for every engine, and the `text_completion` answers (JSON or SSE) built
from an engine's generation, so a gateway (or FastChat's clients) can use a worker as the native
completions server it registers as.

The prompt is the model's input as given (no chat template), as FastChat's workers and OpenAI's
endpoint take it. `logprobs: k` is answered on non-streamed completions (the engine computes the
generated tokens' log-probabilities and k alternatives each); on a stream it is a 400 naming
`logprobs`. `echo` puts the prompt before the text (logprobs still cover the generated tokens).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from polyroute.worker.engines.base import EngineResponse, openai_error

DEFAULT_MAX_TOKENS = 16  # OpenAI's (and FastChat's API server's) default for completions
MAX_LOGPROBS = 5  # OpenAI's legacy endpoint's maximum


@dataclass(frozen=True)
class CompletionArgs:
    prompt: str
    max_tokens: int
    stops: list[str]
    stream: bool
    include_usage: bool
    logprobs: int | None
    echo: bool


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def completion_args(body: dict[str, Any]) -> CompletionArgs | EngineResponse:
    """The request's arguments, or the 400 that names the offending field."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        return openai_error(400, "prompt must be a string (or a list of one string)", param="prompt")
    if (body.get("n") or 1) != 1 or (body.get("best_of") or 1) != 1:
        return openai_error(400, "this worker generates one choice per request", param="n")
    if body.get("suffix"):
        return openai_error(400, "suffix is not supported by this worker", param="suffix")
    max_tokens = body.get("max_tokens", DEFAULT_MAX_TOKENS)
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if not _positive_int(max_tokens):
        return openai_error(400, "max_tokens must be a positive integer", param="max_tokens")
    logprobs = body.get("logprobs")
    if logprobs is not None and (
        isinstance(logprobs, bool) or not isinstance(logprobs, int) or not 0 <= logprobs <= MAX_LOGPROBS
    ):
        return openai_error(400, f"logprobs must be an integer from 0 to {MAX_LOGPROBS}", param="logprobs")
    stream = bool(body.get("stream"))
    if stream and logprobs is not None:
        return openai_error(400, "this worker answers logprobs on non-streamed completions", param="logprobs")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or () if isinstance(s, str) and s]
    return CompletionArgs(
        prompt,
        max_tokens,
        stops,
        stream,
        bool((body.get("stream_options") or {}).get("include_usage")),
        logprobs,
        bool(body.get("echo")),
    )


class Generation(Protocol):
    """What an engine's run offers: text deltas, then its finish reason and usage."""

    id: str
    created: int
    finish: str

    def deltas(self) -> AsyncIterator[str]: ...

    def usage(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: dict[str, float]


def legacy_logprobs(entries: list[TokenLogprob], text: str, start: int) -> dict[str, Any]:
    """OpenAI's legacy logprobs object for the tokens of `text` (offsets from `start`); tokens
    past the end of the text (a stop string cut it, or the end-of-sequence token) are left out."""
    tokens, values, tops, offsets = [], [], [], []
    offset = 0
    for entry in entries:
        if offset >= len(text) or not entry.token:
            break
        tokens.append(entry.token)
        values.append(entry.logprob)
        tops.append(entry.top)
        offsets.append(start + offset)
        offset += len(entry.token)
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}


def _completion_id(run: Generation) -> str:
    return "cmpl-" + run.id.split("-", 1)[-1]


async def completion_answer(
    run: Generation,
    model: str,
    args: CompletionArgs,
    logprobs: Any = None,
) -> EngineResponse:
    """A whole `text_completion` (reads the run to its end). `logprobs(text)` gives the
    TokenLogprob entries of the generated text when the request asked for them."""
    text = "".join([delta async for delta in run.deltas()])
    prefix = args.prompt if args.echo else ""
    lp = None
    if args.logprobs is not None and logprobs is not None:
        lp = legacy_logprobs(await logprobs(text), text, len(prefix))
    body = {
        "id": _completion_id(run),
        "object": "text_completion",
        "created": run.created,
        "model": model,
        "choices": [{"text": prefix + text, "index": 0, "logprobs": lp, "finish_reason": run.finish}],
        "usage": run.usage(),
    }
    return EngineResponse(200, orjson.dumps(body))


def completion_stream(run: Generation, model: str, args: CompletionArgs) -> EngineResponse:
    return EngineResponse(200, stream=_sse(run, model, args), content_type="text/event-stream")


async def _sse(run: Generation, model: str, args: CompletionArgs) -> AsyncIterator[bytes]:
    base = {"id": _completion_id(run), "object": "text_completion", "created": run.created, "model": model}

    def event(text: str, finish: str | None = None) -> bytes:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

    if args.echo:
        yield event(args.prompt)
    # Closed with this stream, so a client that leaves stops the generation at once.
    async with contextlib.aclosing(run.deltas()) as deltas:
        async for delta in deltas:
            yield event(delta)
    yield event("", run.finish)
    if args.include_usage:
        yield b"data: " + orjson.dumps({**base, "choices": [], "usage": run.usage()}) + b"\n\n"
    yield b"data: [DONE]\n\n"

"""The `vllm` engine, where vllm is installed (a GPU machine): the model runs in this process on
vLLM's asynchronous engine (`vllm.AsyncLLMEngine`, which is `AsyncLLM` in vLLM's V1 engine), with
the interface of the `transformers` engine: prompts from the tokenizer's chat template, streaming,
stop strings, `max_tokens`, FASTCHAT_WORKER_API_TIMEOUT, the context length from vLLM's model
config. vllm is imported only when the engine starts, so the rest of polyroute never needs it.
The API used (AsyncEngineArgs, AsyncLLMEngine.from_engine_args, generate(prompt, sampling_params,
request_id) yielding RequestOutput with cumulative text, abort, get_tokenizer, get_model_config,
SamplingParams) is the one vLLM has kept from 0.4 to the V1 engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from polyroute.worker.engines.base import Engine, EngineResponse, chat_args, openai_error
from polyroute.worker.engines.completions import (
    TokenLogprob,
    completion_answer,
    completion_args,
    completion_stream,
)

MISSING = (
    "the vllm engine needs the vllm package, which is not installed here "
    "(pip install vllm, on a machine with a GPU vLLM supports)"
)


class VllmUnavailable(RuntimeError):
    """vllm cannot be imported."""


def load_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise VllmUnavailable(MISSING) from exc
    return vllm


def vllm_available() -> bool:
    try:
        load_vllm()
    except VllmUnavailable:
        return False
    return True


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return content if isinstance(content, str) else ""


class VllmEngine(Engine):
    name = "vllm"

    def __init__(
        self,
        model_path: str,
        model_name: str,
        timeout_s: float,
        context_length: int | None = None,
        engine_args: dict[str, Any] | None = None,
        llm: Any = None,
        sampling_params: Any = None,
    ) -> None:
        """`llm` and `sampling_params` replace vLLM's engine and SamplingParams (tests)."""
        self.model_path = model_path
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.context_length_override = context_length
        if context_length is not None:
            self.context_length = context_length
        self.engine_args = engine_args or {}
        self.llm = llm
        self.sampling_params = sampling_params
        self.tokenizer: Any = None

    async def start(self) -> None:
        if self.llm is None:
            vllm = load_vllm()
            args = vllm.AsyncEngineArgs(
                model=self.model_path, served_model_name=[self.model_name], **self.engine_args
            )
            self.llm = vllm.AsyncLLMEngine.from_engine_args(args)
            self.sampling_params = vllm.SamplingParams
        self.tokenizer = await self.llm.get_tokenizer()
        if self.context_length_override is None:
            self.context_length = int((await self.llm.get_model_config()).max_model_len)

    async def close(self) -> None:
        shutdown = getattr(self.llm, "shutdown", None)  # V1's AsyncLLM; V0 stops with the process
        if callable(shutdown):
            shutdown()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def _prompt(self, messages: list[Any]) -> str:
        turns = [
            {"role": m.get("role"), "content": _text(m.get("content"))}
            for m in messages
            if isinstance(m, dict)
        ]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        return "".join(f"{t['role']}: {t['content']}\n" for t in turns) + "assistant:"

    def _sampling(
        self, body: dict[str, Any], max_tokens: int, stops: list[str], logprobs: int | None = None
    ) -> Any:
        options: dict[str, Any] = {
            "n": 1,
            "temperature": float(body.get("temperature", 1.0)),
            "top_p": float(body.get("top_p") or 1.0),
            "max_tokens": max_tokens,
            "stop": stops,
        }
        for name in ("presence_penalty", "frequency_penalty", "seed"):
            if body.get(name) is not None:
                options[name] = body[name]
        if logprobs is not None:
            options["logprobs"] = logprobs  # vLLM returns the chosen token's and the top k
        return self.sampling_params(**options)

    async def chat(self, body: dict[str, Any]) -> EngineResponse:
        args = chat_args(body)
        if isinstance(args, EngineResponse):
            return args
        messages, max_tokens, stops = args.messages, args.max_tokens, args.stops
        prompt = self._prompt(messages)
        prompt_tokens = self.count_tokens(prompt)
        if prompt_tokens >= self.context_length:
            return openai_error(
                400,
                f"This model's maximum context length is {self.context_length} tokens. However, your "
                f"messages resulted in {prompt_tokens} tokens.",
                param="messages",
            )
        run = _Run(self, prompt, self._sampling(body, max_tokens, stops))
        if args.stream:
            return EngineResponse(200, stream=run.sse(args.include_usage), content_type="text/event-stream")
        text = "".join([delta async for delta in run.deltas()])
        return EngineResponse(200, orjson.dumps(run.completion(text)))

    async def completions(self, body: dict[str, Any]) -> EngineResponse:
        """The prompt as the model's input (no chat template); logprobs as vLLM computes them."""
        args = completion_args(body)
        if isinstance(args, EngineResponse):
            return args
        prompt_tokens = self.count_tokens(args.prompt)
        room = self.context_length - prompt_tokens
        if room <= 0:
            return openai_error(
                400,
                f"This model's maximum context length is {self.context_length} tokens. However, your "
                f"prompt resulted in {prompt_tokens} tokens.",
                param="prompt",
            )
        sampling = self._sampling(body, min(args.max_tokens, room), args.stops, args.logprobs)
        run = _Run(self, args.prompt, sampling)
        if args.stream:
            return completion_stream(run, self.model_name, args)
        return await completion_answer(run, self.model_name, args, run.token_logprobs(args.logprobs or 0))


class _Run:
    """One vLLM request, read as text deltas (vLLM's outputs carry the whole text so far)."""

    def __init__(self, engine: VllmEngine, prompt: str, sampling: Any) -> None:
        self.engine = engine
        self.prompt = prompt
        self.sampling = sampling
        self.id = "chatcmpl-" + uuid.uuid4().hex
        self.created = int(time.time())
        self.finish = "stop"
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.last: Any = None  # vLLM's last CompletionOutput (its token ids and logprobs)

    async def deltas(self) -> AsyncIterator[str]:
        llm = self.engine.llm
        sent = text = ""
        done = False
        try:
            async with asyncio.timeout(self.engine.timeout_s):
                async for output in llm.generate(self.prompt, self.sampling, self.id):
                    self.prompt_tokens = len(output.prompt_token_ids or ())
                    completion = self.last = output.outputs[0]
                    self.completion_tokens = len(completion.token_ids)
                    if completion.finish_reason == "length":
                        self.finish = "length"
                    text = completion.text
                    # A trailing U+FFFD is half a character: wait for the rest of it.
                    if len(text) > len(sent) and not text.endswith("\ufffd"):
                        delta, sent = text[len(sent) :], text
                        yield delta
                    done = bool(output.finished)
        except TimeoutError:
            self.finish = "length"  # FASTCHAT_WORKER_API_TIMEOUT ran out: what there is, cut short
        finally:
            if not done:
                await llm.abort(self.id)  # the client left or the time ran out: free the GPU
        if len(text) > len(sent):
            yield text[len(sent) :]

    def token_logprobs(self, k: int) -> Callable[[str], Awaitable[list[TokenLogprob]]]:
        """Reads the generated tokens' logprobs from vLLM's last output (after the run)."""

        async def read(text: str) -> list[TokenLogprob]:
            ids = getattr(self.last, "token_ids", None) or ()
            rows = getattr(self.last, "logprobs", None) or ()
            entries = []
            for token_id, options in zip(ids, rows, strict=False):
                chosen = options.get(token_id)
                if chosen is None:
                    break
                ranked = sorted(options.values(), key=lambda o: o.rank if o.rank is not None else 0)[:k]
                top = {o.decoded_token or "": o.logprob for o in ranked}
                entries.append(TokenLogprob(chosen.decoded_token or "", chosen.logprob, top))
            return entries

        return read

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    def completion(self, text: str) -> dict[str, Any]:
        message = {"role": "assistant", "content": text, "refusal": None}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.engine.model_name,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish}],
            "usage": self.usage(),
        }

    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.engine.model_name,
            "choices": choices,
            **extra,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _choice(self, delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    async def sse(self, include_usage: bool) -> AsyncIterator[bytes]:
        yield self._event(self._choice({"role": "assistant", "content": ""}))
        # Closed with this stream, so a client that leaves stops the generation at once.
        async with contextlib.aclosing(self.deltas()) as deltas:
            async for delta in deltas:
                yield self._event(self._choice({"content": delta}))
        yield self._event(self._choice({}, self.finish))
        if include_usage:
            yield self._event([], usage=self.usage())
        yield b"data: [DONE]\n\n"

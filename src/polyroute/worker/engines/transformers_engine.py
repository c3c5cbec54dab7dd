"""The `transformers` engine: a local Hugging Face model directory, on CPU or GPU.

Chat prompts come from the tokenizer's own chat template (`apply_chat_template`), so the model
sees the format it was trained on. Generation runs in a thread (torch releases the GIL) and
streams through an asyncio queue as text deltas; a token that is only part of a UTF-8 character
is held back until the character is complete. A generation stops at `max_tokens` (default 256),
at a stop string, at the end-of-sequence token, when the client goes away, or after
FASTCHAT_WORKER_API_TIMEOUT seconds (finish_reason "length"). Embeddings are the mean of the
last hidden states, L2-normalised (FastChat's model_worker does the same), in batches of
FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE. A CPU model runs in float32, or in bfloat16 with
FastChat's CPU_ISA where the processor supports it (cpu_isa.py); a GPU model in float16. Needs
the `worker-transformers` extra and torch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from polyroute.worker.engines.base import Engine, EngineResponse, chat_args, openai_error
from polyroute.worker.engines.completions import (
    TokenLogprob,
    completion_answer,
    completion_args,
    completion_stream,
)
from polyroute.worker.engines.cpu_isa import choose_cpu_dtype, read_cpu_flags

log = logging.getLogger("polyroute.worker")

# Model config keys that give the context length, in the order FastChat's workers read them.
CONTEXT_LENGTH_KEYS = (
    "max_sequence_length",
    "seq_length",
    "max_seq_len",
    "model_max_length",
    "max_position_embeddings",
    "n_positions",
)


def context_length_of(config: Any, default: int) -> int:
    """The model's context length from its config (times a RoPE scaling factor), else `default`."""
    rope = getattr(config, "rope_scaling", None)
    factor = rope.get("factor") if isinstance(rope, dict) else None
    scale = factor if isinstance(factor, int | float) and factor > 1 else 1
    for key in CONTEXT_LENGTH_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return int(scale * value)
    return default


def _text_content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _context_exceeded(context_length: int, prompt_tokens: int) -> EngineResponse:
    message = (
        f"This model's maximum context length is {context_length} tokens. However, your prompt "
        f"resulted in {prompt_tokens} tokens."
    )
    error = {
        "message": message,
        "type": "invalid_request_error",
        "param": "prompt",
        "code": "context_length_exceeded",
    }
    return EngineResponse(400, orjson.dumps({"error": error}))


class _Stopper:
    """A StoppingCriteria: the client left, the time ran out, or a stop string appeared."""

    def __init__(self, deadline: float, stops: list[str], text_so_far: Any) -> None:
        self.cancelled = threading.Event()
        self.deadline = deadline
        self.stops = stops
        self.text_so_far = text_so_far
        self.timed_out = False

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
        if time.monotonic() > self.deadline:
            self.timed_out = True
            return True
        text = self.text_so_far()
        return self.cancelled.is_set() or any(stop in text for stop in self.stops)


class TransformersEngine(Engine):
    name = "transformers"
    supports_embeddings = True

    def __init__(
        self,
        model_path: str,
        model_name: str,
        device: str,
        timeout_s: float,
        batch_size: int,
        context_length: int | None = None,
        cpu_isa: str | None = None,
        cpu_flags: frozenset[str] | None = None,
    ) -> None:
        self.cpu_isa = cpu_isa  # FastChat's CPU_ISA
        self.cpu_flags = cpu_flags  # the processor's flags; None: read from /proc/cpuinfo at load
        self.context_length_override = context_length
        if context_length is not None:
            self.context_length = context_length
        self.model_path = model_path
        self.model_name = model_name
        self.device = device
        self.timeout_s = timeout_s
        self.batch_size = max(1, batch_size)
        self.model: Any = None
        self.tokenizer: Any = None

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        flags = self.cpu_flags if self.cpu_flags is not None else read_cpu_flags()
        choice = choose_cpu_dtype(self.cpu_isa, device, flags, torch.backends.mkldnn.is_available())
        if choice is not None:
            log.info(choice.notice)
            if choice.bfloat16:
                dtype = torch.bfloat16
        self.model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=dtype).to(device)
        self.model.eval()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.context_length_override is None:
            self.context_length = context_length_of(self.model.config, self.context_length)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text).input_ids)

    # -- chat ------------------------------------------------------------------------------------
    def _prompt_ids(self, messages: list[dict[str, Any]]) -> Any:
        turns = [{"role": m.get("role"), "content": _text_content(m.get("content"))} for m in messages]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        else:  # a base model without a template: plain "role: text" lines
            text = "".join(f"{t['role']}: {t['content']}\n" for t in turns) + "assistant:"
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids.to(self.device)

    async def chat(self, body: dict[str, Any]) -> EngineResponse:
        args = chat_args(body)
        if isinstance(args, EngineResponse):
            return args
        run = _Generation(self, self._prompt_ids(args.messages), args.max_tokens, args.stops, body)
        run.start()
        if args.stream:
            return EngineResponse(200, stream=run.sse(args.include_usage), content_type="text/event-stream")
        text = "".join([delta async for delta in run.deltas()])
        return EngineResponse(200, orjson.dumps(run.completion(text)))

    # -- legacy completions ----------------------------------------------------------------------
    async def completions(self, body: dict[str, Any]) -> EngineResponse:
        """The prompt as the model's input (no chat template), as FastChat's model worker takes it."""
        args = completion_args(body)
        if isinstance(args, EngineResponse):
            return args
        ids = self.tokenizer(args.prompt, return_tensors="pt").input_ids.to(self.device)
        if ids.shape[-1] == 0:
            return openai_error(400, "prompt must not be empty", param="prompt")
        room = self.context_length - int(ids.shape[-1])
        if room <= 0:
            return _context_exceeded(self.context_length, int(ids.shape[-1]))
        run = _Generation(self, ids, min(args.max_tokens, room), args.stops, body)
        run.start()
        if args.stream:
            return completion_stream(run, self.model_name, args)
        k = args.logprobs or 0

        async def logprobs(text: str) -> list[TokenLogprob]:
            return await asyncio.to_thread(self._token_logprobs, ids, list(run.generated), k)

        return await completion_answer(run, self.model_name, args, logprobs)

    def _token_logprobs(self, prompt_ids: Any, generated: list[int], k: int) -> list[TokenLogprob]:
        """Each generated token's log-probability under the model (one forward pass over prompt and
        answer, before temperature), with the k likeliest tokens at its place."""
        import torch

        if not generated:
            return []
        full = torch.tensor([prompt_ids[0].tolist() + generated], device=self.device)
        with torch.inference_mode():
            logits = self.model(full).logits[0, prompt_ids.shape[-1] - 1 : -1].float()
        rows = torch.log_softmax(logits, dim=-1)
        decode = self.tokenizer.decode
        entries = []
        for i, token_id in enumerate(generated):
            row = rows[i]
            top: dict[str, float] = {}
            if k:
                values, indices = torch.topk(row, k)
                top = {decode([int(j)]): float(v) for v, j in zip(values, indices, strict=True)}
            token = decode([token_id], skip_special_tokens=True)
            entries.append(TokenLogprob(token, float(row[token_id]), top))
        return entries

    # -- embeddings ------------------------------------------------------------------------------
    async def embeddings(self, body: dict[str, Any]) -> EngineResponse:
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            return openai_error(400, "input must be a string or a list of strings", param="input")
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(inputs), self.batch_size):
            batch_vectors, batch_tokens = await asyncio.to_thread(
                self._embed, inputs[start : start + self.batch_size]
            )
            vectors += batch_vectors
            tokens += batch_tokens
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return EngineResponse(
            200, orjson.dumps({"object": "list", "data": data, "model": self.model_name, "usage": usage})
        )

    def _embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        import torch

        encoded = self.tokenizer(texts, padding=True, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            hidden = self.model(**encoded, output_hidden_states=True).hidden_states[-1]
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        normalised = torch.nn.functional.normalize(mean.float(), p=2, dim=1)
        return normalised.tolist(), int(encoded["attention_mask"].sum().item())


class _Generation:
    """One generation running in a thread, read as text deltas on the event loop."""

    def __init__(
        self,
        engine: TransformersEngine,
        prompt_ids: Any,
        max_tokens: int,
        stops: list[str],
        body: dict[str, Any],
    ) -> None:
        self.engine = engine
        self.prompt_ids = prompt_ids
        self.max_tokens = max_tokens
        self.stops = stops
        self.body = body
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        self.generated: list[int] = []
        self.text = ""
        self.sent = 0
        self.finish = "stop"
        self.stopper = _Stopper(time.monotonic() + engine.timeout_s, stops, lambda: self.text)
        self.id = "chatcmpl-" + uuid.uuid4().hex[:24]
        self.created = int(time.time())

    # Called by transformers' generate() in the worker thread (the BaseStreamer protocol).
    def put(self, value: Any) -> None:
        ids = value.tolist()
        if isinstance(ids, list) and ids and isinstance(ids[0], list):
            ids = ids[0]
        if not isinstance(ids, list):
            ids = [ids]
        if not self.generated and ids == self.prompt_ids[0].tolist():
            return  # generate() first hands the streamer the prompt itself
        self.generated += ids
        eos = self.engine.tokenizer.eos_token_id
        text = self.engine.tokenizer.decode([t for t in self.generated if t != eos], skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return  # half a UTF-8 character: wait for the rest
        self.text = text
        self._emit()

    def end(self) -> None:
        self._emit(final=True)

    def _emit(self, final: bool = False) -> None:
        visible = self.text
        for stop in self.stops:
            at = visible.find(stop)
            if at != -1:
                visible = visible[:at]
        if not final:
            # Hold back what could be the start of a stop string.
            hold = max((len(s) - 1 for s in self.stops), default=0)
            visible = visible[: max(self.sent, len(visible) - hold)] if hold else visible
        if len(visible) > self.sent:
            delta, self.sent = visible[self.sent :], len(visible)
            self.loop.call_soon_threadsafe(self.queue.put_nowait, delta)

    def start(self) -> None:
        threading.Thread(target=self._run, name="generate", daemon=True).start()

    def _run(self) -> None:
        import torch
        from transformers import StoppingCriteriaList

        tokenizer = self.engine.tokenizer
        temperature = self.body.get("temperature")
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_tokens, "pad_token_id": tokenizer.pad_token_id}
        if temperature is not None and temperature > 0:
            kwargs.update(
                do_sample=True, temperature=float(temperature), top_p=float(self.body.get("top_p") or 1.0)
            )
        else:
            kwargs.update(do_sample=False)
        seed = self.body.get("seed")
        try:
            if isinstance(seed, int):
                torch.manual_seed(seed)
            with torch.inference_mode():
                self.engine.model.generate(
                    self.prompt_ids,
                    attention_mask=torch.ones_like(self.prompt_ids),
                    streamer=self,
                    stopping_criteria=StoppingCriteriaList([self.stopper]),
                    **kwargs,
                )
            hit_stop = any(stop in self.text for stop in self.stops)
            ended = bool(self.generated) and self.generated[-1] == tokenizer.eos_token_id
            if self.stopper.timed_out or (
                len(self.generated) >= self.max_tokens and not hit_stop and not ended
            ):
                self.finish = "length"
            self.loop.call_soon_threadsafe(self.queue.put_nowait, None)
        except BaseException as exc:  # noqa: BLE001  # handed to the event loop, raised there
            self.loop.call_soon_threadsafe(self.queue.put_nowait, exc)

    async def deltas(self) -> AsyncIterator[str]:
        try:
            while True:
                item = await self.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.stopper.cancelled.set()  # the client went away: stop generating

    def usage(self) -> dict[str, int]:
        prompt = int(self.prompt_ids.shape[-1])
        return {
            "prompt_tokens": prompt,
            "completion_tokens": len(self.generated),
            "total_tokens": prompt + len(self.generated),
        }

    def completion(self, text: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.engine.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": self.finish,
                }
            ],
            "usage": self.usage(),
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.engine.model_name,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    async def sse(self, include_usage: bool) -> AsyncIterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""})
        # Closed with this stream, so a client that leaves stops the generation at once.
        async with contextlib.aclosing(self.deltas()) as deltas:
            async for delta in deltas:
                yield self._chunk({"content": delta})
        yield self._chunk({}, self.finish)
        if include_usage:
            usage = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.engine.model_name,
                "choices": [],
                "usage": self.usage(),
            }
            yield b"data: " + orjson.dumps(usage) + b"\n\n"
        yield b"data: [DONE]\n\n"

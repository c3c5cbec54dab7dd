"""The I/O of FastChat's worker protocol, on the gateway's pooled HTTP transport.

* the worker's conversation template is fetched once per (worker, model) and kept (FastChat's
  API server does the same), bounded to `TemplateCache.limit` entries, and so is its context
  length (/model_details);
* before each generation the prompt's tokens are counted by the worker (/count_token) and
  `max_new_tokens` bounded to what is left of the context, or the request refused with
  context_length_exceeded, as FastChat's API server does (fschat's workers would otherwise cut
  the prompt from the left without a word);
* /worker_generate_stream answers NUL-delimited JSON objects with no end marker: for a stream
  they are re-framed as SSE `data:` events for the adapter's translator; for a plain answer only
  the last object matters (it holds the whole text, the usage and the finish reason);
* embeddings go in batches of FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE inputs, as FastChat's
  API server sends them, and the answers are joined into one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from polyroute.errors import InvalidRequestError, UpstreamError
from polyroute.providers.base import WireRequest
from polyroute.providers.fastchat_worker.adapter import (
    PROVIDER,
    WorkerWire,
    bounded_max_new_tokens,
    gen_params,
)
from polyroute.providers.transport import UpstreamResponse

JSON_HEADERS = {"content-type": "application/json"}
MAX_CHUNK_BYTES = 16 * 1024 * 1024  # one NUL-delimited object; a worker sending more is broken


class TemplateCache:
    limit = 1024

    def __init__(self) -> None:
        self._templates: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._context_lengths: OrderedDict[tuple[str, str], int | None] = OrderedDict()

    async def get(self, http: Any, address: str, model: str) -> dict[str, Any]:
        key = (address, model)
        cached = self._templates.get(key)
        if cached is not None:
            return cached
        response = await http.send(
            WireRequest(f"{address}/worker_get_conv_template", JSON_HEADERS, orjson.dumps({"model": model}))
        )
        body = await response.read()
        if response.status != 200:
            raise UpstreamError(
                f"the worker answered HTTP {response.status} for its conversation template", provider=PROVIDER
            )
        try:
            template = orjson.loads(body)["conv"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamError(
                "the worker's conversation template is not valid", provider=PROVIDER
            ) from None
        if not isinstance(template, dict):
            raise UpstreamError("the worker's conversation template is not an object", provider=PROVIDER)
        self._templates[key] = template
        if len(self._templates) > self.limit:
            self._templates.popitem(last=False)
        return template

    async def context_length(self, http: Any, address: str, model: str) -> int | None:
        """The worker's /model_details context length; None when it has no such endpoint."""
        key = (address, model)
        if key in self._context_lengths:
            return self._context_lengths[key]
        data = await _post_json(http, f"{address}/model_details", {"model": model})
        length = data.get("context_length") if isinstance(data, dict) else None
        if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
            length = None
        if data is not None:  # an answer (even one without a length) is kept; a failure is not
            self._context_lengths[key] = length
            if len(self._context_lengths) > self.limit:
                self._context_lengths.popitem(last=False)
        return length

    def forget(self, address: str) -> None:
        for cache in (self._templates, self._context_lengths):
            for key in [k for k in cache if k[0] == address]:
                del cache[key]


_MISSING_ENDPOINT = {404, 405, 501}


async def _post_json(http: Any, url: str, body: dict[str, Any]) -> Any:
    """A small JSON call to a worker: its answer, {} when it lacks the endpoint, None on other
    failures (an unreachable worker raises, so the router fails over)."""
    response = await http.send(WireRequest(url, JSON_HEADERS, orjson.dumps(body)))
    raw = await response.read()
    if response.status in _MISSING_ENDPOINT:
        return {}
    if response.status != 200:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


class _Answer:
    """An UpstreamResponse made by the transport itself (a joined or last-object answer)."""

    def __init__(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.status = status
        self.headers = headers
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        yield self._body

    def close(self) -> None:
        return None


class _NulFramedStream:
    """The worker's NUL-delimited objects, re-framed as SSE `data:` events as they arrive."""

    def __init__(self, response: UpstreamResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers

    async def read(self) -> bytes:
        return await self._response.read()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        pending = b""
        async for raw in self._response.iter_chunks():
            pending += raw
            *complete, pending = pending.split(b"\0")
            if len(pending) > MAX_CHUNK_BYTES:
                raise UpstreamError("the worker sent an oversized stream chunk", provider=PROVIDER)
            events = [_sse_data(part) for part in complete if part.strip()]
            if events:
                yield b"".join(events)
        if pending.strip():  # a last object without its NUL: complete JSON is still the answer
            yield _sse_data(pending)

    def close(self) -> None:
        self._response.close()


def _sse_data(part: bytes) -> bytes:
    """One worker object as one SSE `data:` event. JSON may break lines between tokens (never
    inside a string), and a line break would end the `data:` line: they become spaces."""
    part = part.strip()
    if b"\n" in part or b"\r" in part:
        part = part.replace(b"\r", b" ").replace(b"\n", b" ")
    return b"data: " + part + b"\n\n"


def last_object(body: bytes) -> bytes:
    parts = [part for part in body.split(b"\0") if part.strip()]
    if not parts:
        raise UpstreamError("the worker answered with no output", provider=PROVIDER)
    return parts[-1]


class FastChatWorkerTransport:
    def __init__(self, http: Any, templates: TemplateCache) -> None:
        self.http = http
        self.templates = templates

    async def send(self, wire: WireRequest, connect_timeout: float | None = None) -> Any:
        if not isinstance(wire, WorkerWire):
            return await self.http.send(wire, connect_timeout)
        if wire.operation == "embeddings":
            return await self._embeddings(wire)
        template = await self.templates.get(self.http, wire.address, wire.model)
        params = gen_params(wire.payload, template, wire.model)
        await self._bound_length(wire, params)
        response = await self.http.send(
            WireRequest(f"{wire.address}/worker_generate_stream", JSON_HEADERS, orjson.dumps(params)),
            connect_timeout,
        )
        if response.status >= 300:
            return response
        if wire.stream:
            return _NulFramedStream(response)
        return _Answer(200, last_object(await response.read()), response.headers)

    async def _bound_length(self, wire: WorkerWire, params: dict[str, Any]) -> None:
        context = await self.templates.context_length(self.http, wire.address, wire.model)
        if context is None:
            return
        counted = await _post_json(
            self.http, f"{wire.address}/count_token", {"model": wire.model, "prompt": params["prompt"]}
        )
        count = counted.get("count") if isinstance(counted, dict) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return
        requested = wire.payload.get("max_completion_tokens") or wire.payload.get("max_tokens")
        params["max_new_tokens"] = bounded_max_new_tokens(requested, context, count)

    async def _embeddings(self, wire: WorkerWire) -> Any:
        inputs = wire.payload.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            raise InvalidRequestError(
                "FastChat workers embed text: 'input' must be a string or strings", param="input"
            )
        size = max(1, wire.embedding_batch_size)
        batches = [inputs[i : i + size] for i in range(0, len(inputs), size)]
        vectors: list[Any] = []
        tokens = 0
        for batch in batches:  # in order, one at a time: a worker's embeddings share its semaphore
            response = await self.http.send(
                WireRequest(
                    f"{wire.address}/worker_get_embeddings",
                    JSON_HEADERS,
                    orjson.dumps({"model": wire.model, "input": batch}),
                )
            )
            body = await response.read()
            if response.status >= 300:
                return _Answer(response.status, body, response.headers)
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise UpstreamError("the worker's embeddings answer is not JSON", provider=PROVIDER) from None
            if not isinstance(data, dict) or data.get("error_code"):
                return _Answer(200, body, response.headers)
            batch_vectors = data.get("embedding")
            if not isinstance(batch_vectors, list) or len(batch_vectors) != len(batch):
                raise UpstreamError("the worker returned the wrong number of embeddings", provider=PROVIDER)
            vectors += batch_vectors
            tokens += int(data.get("token_num") or 0)
        return _Answer(200, orjson.dumps({"embedding": vectors, "token_num": tokens}), JSON_HEADERS)

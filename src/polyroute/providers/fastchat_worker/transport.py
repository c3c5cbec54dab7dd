"""The I/O of FastChat's worker protocol, on the gateway's pooled HTTP transport.

* the worker's conversation template is fetched once per (worker, model) and kept (FastChat's
  API server does the same), bounded to `TemplateCache.limit` entries;
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
from polyroute.providers.fastchat_worker.adapter import PROVIDER, WorkerWire, gen_params
from polyroute.providers.transport import UpstreamResponse

JSON_HEADERS = {"content-type": "application/json"}
MAX_CHUNK_BYTES = 16 * 1024 * 1024  # one NUL-delimited object; a worker sending more is broken


class TemplateCache:
    limit = 1024

    def __init__(self) -> None:
        self._templates: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

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

    def forget(self, address: str) -> None:
        for key in [k for k in self._templates if k[0] == address]:
            del self._templates[key]


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
            events = [b"data: " + part.strip() + b"\n\n" for part in complete if part.strip()]
            if events:
                yield b"".join(events)
        if pending.strip():  # a last object without its NUL: complete JSON is still the answer
            yield b"data: " + pending.strip() + b"\n\n"

    def close(self) -> None:
        self._response.close()


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
        response = await self.http.send(
            WireRequest(f"{wire.address}/worker_generate_stream", JSON_HEADERS, orjson.dumps(params)),
            connect_timeout,
        )
        if response.status >= 300:
            return response
        if wire.stream:
            return _NulFramedStream(response)
        return _Answer(200, last_object(await response.read()), response.headers)

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

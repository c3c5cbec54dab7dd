"""One upstream call: send the wire request, map failures, and relay the answer.

Non-streamed answers are read whole and parsed once. Streams go to the client as they arrive:
OpenAI-format upstreams event by event as raw bytes (cut only at event boundaries), others
through their adapter's translator. Before the first byte reaches the client a failure is an
ordinary error response (so it can be retried); after it, the stream ends with an error event
the OpenAI SDK raises, never a silent truncation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from polyroute.errors import GatewayError, UpstreamError, UpstreamTimeoutError
from polyroute.protocol.sse import SSEDecoder, SSEFramer, encode_data, encode_done, parse_event_block
from polyroute.providers.base import StreamTranslator, WireRequest
from polyroute.providers.openai_compat import OpenAIStreamReader
from polyroute.providers.transport import UpstreamResponse
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptOutcome
from polyroute.server.http import Request
from polyroute.server.state import AppState

ChunkTransform = Callable[[dict[str, Any]], dict[str, Any] | None]


def scrubbed(state: AppState, error: GatewayError, deployment: Deployment | None = None) -> GatewayError:
    """The error with every known secret removed from its message."""
    extra = [deployment.call.api_key.reveal()] if deployment and deployment.call.api_key else []
    error.message = state.config.redactor.scrub(error.message, extra)
    return error


async def open_upstream(state: AppState, deployment: Deployment, wire: WireRequest) -> UpstreamResponse:
    transport = deployment.adapter.transport() or state.http
    response = await transport.send(wire)
    if response.status >= 300:
        body = await response.read()
        if response.status < 400:
            raise UpstreamError(f"{deployment.provider} answered with a redirect (HTTP {response.status})")
        error = deployment.adapter.map_error(response.status, body, response.headers)
        error.provider = deployment.provider
        raise scrubbed(state, error, deployment)
    return response


async def call_json(
    state: AppState, deployment: Deployment, wire: WireRequest, limit_s: float
) -> tuple[dict[str, Any], bytes, Mapping[str, str]]:
    """A non-streamed call: the parsed JSON answer, its raw bytes and the upstream headers."""
    try:
        async with asyncio.timeout(limit_s):
            response = await open_upstream(state, deployment, wire)
            raw = await response.read()
    except TimeoutError:
        raise UpstreamTimeoutError(f"{deployment.provider} did not answer within {limit_s:g}s") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"{deployment.provider} returned a body that is not valid JSON") from None
    if not isinstance(data, dict):
        raise UpstreamError(f"{deployment.provider} returned JSON that is not an object")
    return data, raw, response.headers


def error_event(request: Request, error: GatewayError) -> bytes:
    return b"data: " + error.to_body(request.request_id) + b"\n\n"


class StreamRelay:
    """Relays one upstream stream to the client. `usage` holds the provider's final usage."""

    def __init__(
        self,
        request: Request,
        state: AppState,
        deployment: Deployment,
        translator: StreamTranslator,
        headers: dict[str, str],
        include_usage: bool,
        transform: ChunkTransform | None = None,
    ) -> None:
        self.request = request
        self.state = state
        self.deployment = deployment
        self.translator = translator
        self.headers = headers
        self.include_usage = include_usage
        self.transform = transform
        self.passthrough = deployment.adapter.passthrough_stream and transform is None
        self.usage: dict[str, Any] | None = None
        self.sent_bytes = 0
        self.ttft: float | None = None
        self.failed_after_start: GatewayError | None = None
        self._started_at = 0.0
        self._reader: OpenAIStreamReader | None = None
        self._last_chunk: dict[str, Any] = {}
        #: events with generated content sent so far: the output estimate when a stream broken
        #: off carries no usage (OpenAI-compatible servers send about one token per event)
        self.produced = 0
        self.broke_off: GatewayError | None = None

    async def run(self, wire: WireRequest, first_byte_timeout: float, idle_timeout: float) -> AttemptOutcome:
        """Relays the stream. Raises a GatewayError when it fails before the first byte was sent
        (the router may retry that); after that, ends the stream with an error event instead."""
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        response: UpstreamResponse | None = None
        try:
            async with asyncio.timeout(first_byte_timeout) as deadline:
                response = await open_upstream(self.state, self.deployment, wire)
                relay = self._relay_raw if self.passthrough else self._relay_translated
                await relay(response, deadline, loop, idle_timeout)
        except TimeoutError:
            phase = "sending its stream" if self.request.started else "starting its stream"
            limit = idle_timeout if self.request.started else first_byte_timeout
            await self._fail(
                UpstreamTimeoutError(f"{self.deployment.provider} stalled {phase} (over {limit:g}s)")
            )
        except GatewayError as error:
            await self._fail(scrubbed(self.state, error, self.deployment))
        finally:
            if response is not None:
                response.close()
            if self.usage is None:  # broken off: whatever usage the provider had reported so far
                self.usage = self._reader.usage if self._reader is not None else self.translator.usage
            if self.request.started:
                # Bytes reached the client: bill what was produced, also when the client left.
                self._bill()
        return AttemptOutcome(usage=self.usage, ttft=self.ttft, failed_after_start=self.failed_after_start)

    def _bill(self) -> None:
        account = self.request.account
        if account is not None:
            account.streamed(
                self.deployment, self.usage, self.produced, self.ttft, self.headers, self.broke_off
            )

    async def _fail(self, error: GatewayError) -> None:
        if not self.request.started:
            raise error
        # Kept for billing only. (failed_after_start stays unset, as before: setting it would let
        # the router cool a model's only deployment after one broken stream.)
        self.broke_off = error
        self.state.log.warning(
            "stream failed after %d bytes: request=%s deployment=%s error=%s",
            self.sent_bytes,
            self.request.request_id,
            self.deployment.id,
            error.code,
        )
        await self.request.end_stream(error_event(self.request, error))

    async def _send(self, data: bytes) -> None:
        if not self.request.started:
            self.ttft = asyncio.get_running_loop().time() - self._started_at
            await self.request.start_stream(self.headers)
        self.sent_bytes += len(data)
        await self.request.write(data)

    async def _relay_raw(self, response: UpstreamResponse, deadline: Any, loop: Any, idle: float) -> None:
        framer = SSEFramer()
        reader = self._reader = OpenAIStreamReader()
        async for raw in response.iter_chunks():
            data = framer.feed(raw)
            if not data:
                continue
            # Parse only events that can matter: errors, usage, the end marker.
            if (
                b'"error"' in data
                or b"event: error" in data
                or b'"usage":{' in data
                or b'"usage": {' in data
                or b"[DONE]" in data
            ):
                await self._inspect_and_send(data, reader)
            else:
                self.produced += data.count(b'"delta":{"content":"') + data.count(b'"text":"')
                await self._send(data)
            deadline.reschedule(loop.time() + idle)
        if framer.tail.strip() or not reader.done:
            raise UpstreamError(f"{self.deployment.provider} stream ended before [DONE]")
        self.usage = reader.usage
        await self.request.end_stream()

    async def _inspect_and_send(self, data: bytes, reader: OpenAIStreamReader) -> None:
        """Reads each event of a batch; events before an in-stream error still reach the client."""
        good: list[bytes] = []
        stripped = False
        try:
            for block in data[:-2].split(b"\n\n"):
                event = parse_event_block(block)
                chunks = reader.on_event(event) if event is not None else []
                if not self.include_usage and any(_usage_only(c) for c in chunks):
                    stripped = True  # asked for by the gateway, not by the client
                    continue
                self.produced += block.count(b'"delta":{"content":"') + block.count(b'"text":"')
                good.append(block + b"\n\n")
        except GatewayError:
            if good:
                await self._send(b"".join(good))
            raise
        await self._send(b"".join(good) if stripped else data)

    async def _relay_translated(
        self, response: UpstreamResponse, deadline: Any, loop: Any, idle: float
    ) -> None:
        decoder = SSEDecoder()
        translator = self.translator
        async for raw in response.iter_chunks():
            # An upstream's own usage chunk goes: the relay sends one at the end when asked for.
            out = [c for event in decoder.feed(raw) for c in translator.on_event(event) if not _usage_only(c)]
            if out:
                await self._send(self._encode(out))
            deadline.reschedule(loop.time() + idle)
        tail = [c for event in decoder.flush() for c in translator.on_event(event) if not _usage_only(c)]
        tail += translator.on_end()
        self.usage = translator.usage
        if self.include_usage and self.usage is not None:
            tail.append(self._usage_chunk())
        await self._send(self._encode(tail) + encode_done())
        await self.request.end_stream()

    def _encode(self, chunks: list[dict[str, Any]]) -> bytes:
        if chunks:
            self._last_chunk = chunks[-1]
            self.produced += sum(1 for c in chunks if _has_output(c))
        if self.transform is not None:
            chunks = [c for c in map(self.transform, chunks) if c is not None]
        return b"".join(encode_data(c) for c in chunks)

    def _usage_chunk(self) -> dict[str, Any]:
        template = self._last_chunk
        return {
            "id": template.get("id", "chatcmpl-" + self.request.request_id),
            "object": "chat.completion.chunk",
            "created": template.get("created", 0),
            "model": template.get("model", self.deployment.call.model),
            "choices": [],
            "usage": self.usage,
        }


def _usage_only(chunk: Any) -> bool:
    """OpenAI's final usage chunk: no choices, only usage."""
    return isinstance(chunk, dict) and chunk.get("choices") == [] and bool(chunk.get("usage"))


def _has_output(chunk: dict[str, Any]) -> bool:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content"):
            return True
    return False

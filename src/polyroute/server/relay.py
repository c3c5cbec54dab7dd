"""One upstream call: send the wire request, map failures, and relay the answer.

Non-streamed answers are read whole and parsed once. Streams go to the client as they arrive:
OpenAI-format upstreams event by event as raw bytes (cut only at event boundaries), others
through their adapter's stream decoder (its framing) and translator. Before the first byte
reaches the client a failure is an ordinary error response (so it can be retried); after it,
the stream ends with an error event the OpenAI SDK raises, never a silent truncation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from polyroute.errors import (
    GatewayError,
    UnsafeUpstreamError,
    UpstreamError,
    UpstreamMalformedError,
    UpstreamTimeoutError,
)
from polyroute.inbound.base import NativeUsage, StreamEncoder
from polyroute.inbound.chat import OpenAIChunkEncoder
from polyroute.protocol.rate_limit_headers import provider_limit_headers
from polyroute.protocol.sse import (
    SSEEvent,
    SSEFramer,
    all_json_events,
    drop_undispatched,
    first_malformed_event,
    parse_event_block,
)
from polyroute.providers.base import StreamTranslator, WireRequest
from polyroute.providers.openai_compat import OpenAIStreamReader
from polyroute.providers.transport import UpstreamResponse
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptOutcome
from polyroute.server.http import Request
from polyroute.server.state import AppState

# What makes an upstream event worth parsing in a pass-through stream.
_MARKERS = (b'"usage":{', b'"usage": {', b"[DONE]", b'"error"', b"event: error")


def _without(data: bytes, cuts: list[tuple[int, int]]) -> bytes:
    """`data` less the byte ranges in `cuts` (sorted, not overlapping)."""
    if not cuts:
        return data
    parts, at = [], 0
    for begin, end in cuts:
        parts.append(data[at:begin])
        at = end
    parts.append(data[at:])
    return b"".join(parts)


def _marked_events(data: bytes, markers: tuple[bytes, ...] = _MARKERS) -> list[tuple[int, int]]:
    """(start, end) of each complete event in `data` that contains a marker, in stream order.
    `bytes.find` runs at memchr speed: far cheaper than a regex or parsing every event."""
    spans = set()
    for marker in markers:
        at = data.find(marker)
        while at >= 0:
            begin = data.rfind(b"\n\n", 0, at)
            begin = 0 if begin < 0 else begin + 2
            end = data.find(b"\n\n", at)
            end = len(data) if end < 0 else end
            spans.add((begin, end))
            at = data.find(marker, end)
    return sorted(spans)


def scrubbed(state: AppState, error: GatewayError, deployment: Deployment | None = None) -> GatewayError:
    """The error with every known secret removed from its message (the operator's keys, and the
    client's own when this deployment carries them for one request)."""
    extra = deployment.call.secret_values() if deployment else []
    error.message = state.config.redactor.scrub(error.message, extra)
    return error


async def open_upstream(state: AppState, deployment: Deployment, wire: WireRequest) -> UpstreamResponse:
    transport = deployment.adapter.transport(state.http)
    param = deployment.call.client_url_param
    if param is None:
        response = await (transport or state.http).send(wire)
    elif transport is None or hasattr(transport, "prepare"):
        # A client chose this URL: resolve and check the host of the final URL, then connect to
        # the checked address only (no second DNS answer can move the connection elsewhere). A
        # provider that authenticates when sending (SigV4, OAuth tokens) signs the request once
        # the URL passed: the same URL, to the same checked address.
        target = await state.url_guard.check(wire.url, param)
        if transport is not None:
            wire = await transport.prepare(wire)
        response = await state.http.send(wire, target=target)
    elif getattr(transport, "in_process", False):
        response = await transport.send(wire)  # the mock: no network at all
    else:
        raise UnsafeUpstreamError(
            f"{deployment.provider} cannot be used with a client-chosen URL on this gateway", param=param
        )
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


class StreamRelay:
    """Relays one upstream stream to the client. `usage` holds the provider's final usage.

    Three ways: an OpenAI-format upstream to an OpenAI client goes out as the upstream's bytes
    (`encoder` None on a pass-through adapter); a provider's own protocol to a client of the same
    protocol too, its usage read by `native` (Anthropic to `/v1/messages`); everything else is
    decoded, translated to chat chunks and written by the client protocol's `encoder`."""

    def __init__(
        self,
        request: Request,
        state: AppState,
        deployment: Deployment,
        translator: StreamTranslator,
        headers: dict[str, str],
        include_usage: bool,
        encoder: StreamEncoder | None = None,
        native: NativeUsage | None = None,
    ) -> None:
        self.request = request
        self.state = state
        self.deployment = deployment
        self.translator = translator
        self.headers = headers
        self.include_usage = include_usage
        self.native = native
        self.passthrough = deployment.adapter.passthrough_stream and encoder is None and native is None
        self.encoder = encoder  # the translated path's; OpenAI's own when none (built there)
        if encoder is not None:
            request.encoder = encoder  # its error event ends the stream if it breaks
        self.usage: dict[str, Any] | None = None
        self.sent_bytes = 0
        self.ttft: float | None = None
        self.failed_after_start: GatewayError | None = None
        self._started_at = 0.0
        self._reader: OpenAIStreamReader | None = None
        self._deadline_at = 0.0
        self._progress_at = 0.0  # when a running stream's row is next journaled
        #: events with generated content sent so far: the output estimate when a stream broken
        #: off carries no usage (OpenAI-compatible servers send about one token per event)
        self.produced = 0
        self.usage_so_far: dict[str, Any] | None = None
        self.broke_off: GatewayError | None = None
        #: awaited once a stream completed, before its last bytes leave (a Responses answer is
        #: stored then, so the next request of its chain finds it)
        self.before_end: Callable[[], Awaitable[None]] | None = None
        # --- guardrails hook: a guardrails.stream.StreamGuard sees each batch before it is sent
        # (raises guardrails.Withheld to cut the stream there); None when no guardrail applies.
        self.guard: Any = None

    async def run(self, wire: WireRequest, first_byte_timeout: float, idle_timeout: float) -> AttemptOutcome:
        """Relays the stream. Raises a GatewayError when it fails before the first byte was sent
        (the router may retry that); after that, ends the stream with an error event instead."""
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        if self.state.journal is not None:
            self._progress_at = self._started_at + self.state.journal.progress_interval_s
        response: UpstreamResponse | None = None
        try:
            async with asyncio.timeout(first_byte_timeout) as deadline:
                response = await open_upstream(self.state, self.deployment, wire)
                self.headers |= provider_limit_headers(response.headers, self.request.rate_headers)
                if self.native is not None:
                    relay = self._relay_native
                elif self.passthrough:
                    relay = self._relay_raw
                else:
                    relay = self._relay_translated
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
            self._settle_usage()
            if self.request.started or (self.guard is not None and self.guard.withheld):
                # Bytes reached the client (or a guardrail withheld them): bill what was
                # produced, also when the client left.
                self._bill()
        return AttemptOutcome(
            usage=self.usage,
            ttft=self.ttft,
            failed_after_start=self.failed_after_start,
            produced_tokens=self.produced,
        )

    def _settle_usage(self) -> None:
        if self.usage is None:  # broken off: whatever usage the provider had reported so far
            if self.native is not None:
                self.usage = self.native.usage
            elif self._reader is not None:
                self.usage = self._reader.usage
            else:
                self.usage = self.translator.usage
            self.usage_so_far = self.translator.usage_so_far

    def _bill(self) -> None:
        account = self.request.account
        if account is not None:
            account.streamed(
                self.deployment,
                self.usage,
                self.produced,
                self.ttft,
                self.broke_off,
                self.usage_so_far,
            )

    async def _fail(self, error: GatewayError) -> None:
        if not self.request.started:
            raise error
        # Billing reads broke_off; the router counts the failure against the deployment's health
        # (a group's only deployment is never cooled for it: see Router._on_failure).
        self.broke_off = error
        self.failed_after_start = error
        self._settle_usage()
        self._bill()  # before the last byte: end_stream journals the account's row
        self.state.log.warning(
            "stream failed after %d bytes: request=%s deployment=%s error=%s",
            self.sent_bytes,
            self.request.request_id,
            self.deployment.id,
            error.code,
        )
        await self.request.end_stream(self.request.stream_error(error))

    async def _send(self, data: bytes, text: str | None = None) -> None:
        if self.guard is not None:
            # guardrails hook (see __init__): translated streams hand over their chunks' text,
            # since the bytes are in the client's protocol, whichever it is
            if text is None:
                await self.guard.on_send(data)
            else:
                await self.guard.on_text(text, final=False)
        if not self.request.started:
            self.ttft = asyncio.get_running_loop().time() - self._started_at
            await self.request.start_stream(self.headers)
        self.sent_bytes += len(data)
        journal = self.state.journal
        if journal is not None and self.request.account is not None:
            now = asyncio.get_running_loop().time()
            if now >= self._progress_at:
                # A kill mid-stream still bills what was produced (spend/journal.py).
                self._progress_at = now + journal.progress_interval_s
                self._bill()
                self.request.account.journal_progress()
        await self.request.write(data)

    async def _relay_raw(self, response: UpstreamResponse, deadline: Any, loop: Any, idle: float) -> None:
        framer = SSEFramer(self.state.http.limits.max_event_bytes)
        reader = self._reader = OpenAIStreamReader()
        async for raw in response.iter_chunks():
            data = framer.feed(raw)
            if not data:
                continue
            if not all_json_events(data):  # the usual batch passes this one check in C
                data = drop_undispatched(data)
                if not data:
                    continue
                bad = first_malformed_event(data)
                if bad >= 0:  # what came before it goes on; the bad event never reaches the client
                    if bad:
                        self.produced += _content_events(data[:bad])
                        await self._inspect_and_send(data[:bad], _marked_events(data[:bad]), reader)
                    raise UpstreamMalformedError(
                        f"{self.deployment.provider} sent a stream event that is not a JSON data event"
                    )
            # Parse only events that can matter: errors, usage, the end marker.
            spans = _marked_events(data)
            # Content events produced so far: the bill's basis if the provider never reports usage.
            self.produced += _content_events(data)
            if spans:
                await self._inspect_and_send(data, spans, reader)
                self.request.delivered = reader.done
            else:
                await self._send(data)
            if framer.overflow is not None:
                raise framer.overflow
            self._extend(deadline, loop, idle)
        if framer.tail.strip() or not reader.done:
            raise UpstreamError(f"{self.deployment.provider} stream ended before [DONE]")
        self.usage = reader.usage
        self._bill()
        await self.request.end_stream()

    async def _relay_native(self, response: UpstreamResponse, deadline: Any, loop: Any, idle: float) -> None:
        """A provider's own stream to a client of the same protocol: its bytes as they came (cut only
        at event boundaries); only events carrying usage, an error or the end are parsed."""
        native = self.native
        assert native is not None
        framer = SSEFramer(self.state.http.limits.max_event_bytes)
        markers = native.markers
        async for raw in response.iter_chunks():
            # As they came: the client's SDK speaks this protocol (no keep-alive is dropped; every
            # event of these protocols has an `event:` line, which drop_undispatched would make
            # it parse: measured 176 us per 20-chunk Anthropic stream).
            data = framer.feed(raw)
            if not data:
                continue
            self.produced += native.output_events(data)
            for begin, end in _marked_events(data, markers):
                event = parse_event_block(data[begin:end])
                if event is None:
                    continue
                try:
                    native.on_event(event)
                except GatewayError:
                    if begin:
                        await self._send(data[:begin])
                    raise
            await self._send(data)
            self.request.delivered = native.done
            if framer.overflow is not None:
                raise framer.overflow
            self._extend(deadline, loop, idle)
        if framer.tail.strip() or not native.done:
            raise UpstreamError(f"{self.deployment.provider} stream ended before its last event")
        self.usage = native.usage
        self._bill()
        if self.before_end is not None:
            await self.before_end()
        await self.request.end_stream()

    def _extend(self, deadline: Any, loop: Any, idle: float) -> None:
        """Moves the idle deadline after a chunk. Moving a timer costs a new TimerHandle, so it
        is moved only once the deadline has become a twentieth of `idle` stale: the gap allowed
        between chunks stays within 95-100 % of the configured idle timeout."""
        now = loop.time()
        if now + idle - self._deadline_at > idle / 20:
            self._deadline_at = now + idle
            deadline.reschedule(self._deadline_at)

    async def _inspect_and_send(
        self, data: bytes, spans: list[tuple[int, int]], reader: OpenAIStreamReader
    ) -> None:
        """Parses only the events of a batch that carry an error, usage or the end marker; events
        before an in-stream error still reach the client; a usage-only chunk the gateway asked
        for (the client did not) is cut out."""
        cuts: list[tuple[int, int]] = []
        for begin, end in spans:
            event = parse_event_block(data[begin:end])
            if event is None:
                continue
            try:
                chunks = reader.on_event(event)
            except GatewayError:
                if begin:
                    await self._send(_without(data[:begin], cuts))
                raise
            if not self.include_usage and any(_usage_only(c) for c in chunks):
                cuts.append((begin, min(end + 2, len(data))))
        await self._send(_without(data, cuts) if cuts else data)

    async def _relay_translated(
        self, response: UpstreamResponse, deadline: Any, loop: Any, idle: float
    ) -> None:
        # The adapter's decoder undoes its framing (SSE, JSON lines, AWS event-stream, ...),
        # each event bounded by upstream_max_event_kb.
        decoder = self.deployment.adapter.stream_decoder(
            self.deployment.call, self.state.http.limits.max_event_bytes
        )
        encoder = self.encoder or OpenAIChunkEncoder(
            self.include_usage, "chatcmpl-" + self.request.request_id, self.deployment.call.model
        )
        async for raw in response.iter_chunks():
            out = self._translate(decoder.feed(raw))
            if out:
                self.produced += sum(1 for c in out if _has_output(c))
                data = encoder.chunks(out)
                if data:
                    await self._send(data, _chunks_text(out) if self.guard is not None else None)
            if decoder.overflow is not None:
                raise decoder.overflow
            self._extend(deadline, loop, idle)
        tail = self._translate(decoder.flush())
        tail += self.translator.on_end()
        self.usage = self.translator.usage
        self.produced += sum(1 for c in tail if _has_output(c))
        last = encoder.chunks(tail) + encoder.finish(self.usage)
        if self.guard is not None:
            await self.guard.on_text(_chunks_text(tail), final=True)  # guardrails hook (see __init__)
        if not self.request.started:
            guard, self.guard = self.guard, None  # checked just above
            await self._send(last)
            self.guard = guard
            last = b""
        self.sent_bytes += len(last)
        self._bill()
        if self.before_end is not None:
            await self.before_end()
        await self.request.end_stream(last)

    def _translate(self, events: list[SSEEvent]) -> list[dict[str, Any]]:
        """The client's chunks for `events`. An upstream's own usage chunk goes: the relay sends
        one at the end when asked for. An event whose data is not JSON ends the stream."""
        try:
            return [c for event in events for c in self.translator.on_event(event) if not _usage_only(c)]
        except orjson.JSONDecodeError:
            raise UpstreamMalformedError(
                f"{self.deployment.provider} sent a stream event whose data is not JSON"
            ) from None


def _chunks_text(chunks: list[dict[str, Any]]) -> str:
    """The generated text of chat chunks (what output guardrails read)."""
    pieces = []
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            for key in ("content", "refusal"):
                if isinstance(delta.get(key), str):
                    pieces.append(delta[key])
    return "".join(pieces)


def _content_events(data: bytes) -> int:
    """Events of an OpenAI-format stream batch that carry text (about one token each), in compact
    JSON or in the spaced form of servers that write JSON with Python's default separators."""
    count = data.count(b'"delta":{"content":"') + data.count(b'"text":"')
    if not count and b'": "' in data:
        count = data.count(b'"delta": {"content": "') + data.count(b'"text": "')
    return count


def _usage_only(chunk: Any) -> bool:
    """OpenAI's final usage chunk: no choices, only usage."""
    return isinstance(chunk, dict) and chunk.get("choices") == [] and bool(chunk.get("usage"))


def _has_output(chunk: dict[str, Any]) -> bool:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content"):
            return True
    return False

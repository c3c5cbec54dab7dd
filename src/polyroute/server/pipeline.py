"""One pipeline for every model route that generates text, whatever protocol the client speaks.

    inbound body --protocol.to_chat--> chat body            (server/app.py, before admission)
    authenticate, resolve caller and scope, admit           (server/app.py, auth/, accounting)
    route: retries, fallbacks, cooldowns                    (router/engine.py, handed `attempt`)
    attempt: the deployment's adapter, one upstream call    (here)
       native deployment:   the client's body as it came, the answer's bytes relayed
       any other:           chat -> provider wire -> chat answer -> protocol.from_chat / encoder
    settle: cost, limits, the spend row                     (accounting, when the request ends)

Routes are a protocol object and a call type (server/app.py's table); this module is the only
place that sets up an attempt. Chat, legacy completions, Anthropic Messages and OpenAI Responses
differ only in their protocol object (inbound/chat.py, inbound/completions.py,
inbound/anthropic_messages/, inbound/responses/).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from polyroute import guardrails
from polyroute.cache.entry import CachedAnswer
from polyroute.cache.hook import serve_from_cache
from polyroute.inbound.chat import CHAT, include_usage, with_stream_usage
from polyroute.protocol.openai_params import GATEWAY_KEYS
from polyroute.protocol.rate_limit_headers import provider_limit_headers
from polyroute.router.deployment import Deployment
from polyroute.router.engine import AttemptInfo, AttemptOutcome, Router
from polyroute.server.client_scope import ClientScope, client_scope
from polyroute.server.http import Request
from polyroute.server.params import bounded_output, provider_body
from polyroute.server.relay import StreamRelay, call_json
from polyroute.server.routes.common import (
    attempt_limit,
    check_mock_response,
    cost_headers,
    first_byte_limit,
    idle_limit,
    relay_openai_answer,
    router_options,
    served_headers,
    with_mock_response,
)
from polyroute.server.state import AppState

#: protocols the response cache serves by itself, in OpenAI's format (the others are encoded here)
OPENAI_FORMAT_PROTOCOLS = frozenset({"chat", "completions"})


@dataclass(slots=True)
class ModelRequest:
    """What every attempt of one request shares, worked out once."""

    request: Request
    state: AppState
    protocol: Any  # an InboundProtocol (inbound/base.py)
    original: dict[str, Any]  # the client's body, in its protocol
    chat: dict[str, Any]  # the same request as a chat body
    native_body: dict[str, Any]  # what a native deployment gets (a Responses chain expanded)
    stream: bool
    scope: ClientScope | None
    router: Router
    guards: Any = None  # the request's guardrails (guardrails.RequestGuards), None when none apply
    cached: Any = None  # the response cache's lookup for a Messages / Responses request (a miss)


async def serve(
    request: Request,
    state: AppState,
    chat: dict[str, Any],
    original: dict[str, Any],
    native_body: dict[str, Any] | None = None,
) -> None:
    """Serves one decoded text-generation request (its protocol is `request.protocol`)."""
    protocol = request.protocol or CHAT
    stream = bool(chat.get("stream"))
    # Guardrails before any provider (a masked prompt replaces the chat body's messages).
    guards = await guardrails.pre_call(request, state, chat)
    cached = None
    if protocol.name in OPENAI_FORMAT_PROTOCOLS:
        answered = await serve_from_cache(request, state, chat)  # a miss is stored as it goes out
    else:
        cached = await _cache_lookup(request, state, chat)
        answered = cached is not None and cached.entry is not None
        if answered:
            await _send_cached(request, state, protocol, original, stream, cached)
    if answered:
        if guards is not None:
            guards.close()  # answered from the cache: nothing more to check
        return
    native_allowed = guards is None or _native_keeps_guards(guards, protocol, chat, native_body)

    async def attempt(deployment: Deployment, info: AttemptInfo, call: ModelRequest) -> AttemptOutcome:
        deployment = with_mock_response(deployment, chat, state)
        if native_allowed and _serves_natively(protocol, deployment):
            return await _native_attempt(call, deployment, info)
        return await _translated_attempt(call, deployment, info)

    await route(
        request,
        state,
        chat,
        attempt,
        protocol=protocol,
        original=original,
        stream=stream,
        native_body=native_body,
        guards=guards,
        cached=cached,
    )


Attempt = Callable[[Deployment, AttemptInfo, "ModelRequest"], Awaitable[AttemptOutcome]]


async def route(
    request: Request,
    state: AppState,
    body: dict[str, Any],
    attempt: Attempt,
    *,
    protocol: Any = CHAT,
    original: dict[str, Any] | None = None,
    stream: bool = False,
    native_body: dict[str, Any] | None = None,
    guards: Any = None,
    cached: Any = None,
) -> None:
    """Every model route's way through the router, set up once per request: its options, the
    caller's client-side scope (their own credentials or deployments), the mock-response gate;
    each attempt gets its deployment as the caller's scope prepares it."""
    options = router_options(body, request.request_id)
    scope = client_scope(request, state, body)
    router = scope.router if scope is not None else state.router
    check_mock_response(body, state, router)
    original = original or body
    call = ModelRequest(
        request,
        state,
        protocol,
        original,
        body,
        native_body or original,
        stream,
        scope,
        router,
        guards,
        cached,
    )

    async def prepared(deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
        if scope is not None:
            deployment = scope.prepare(deployment)
        return await attempt(deployment, info, call)

    if request.account is not None:  # each attempt's facts noted, its span traced
        prepared = request.account.watching(prepared)
    await guardrails.run_guarded(guards, router.execute(body["model"], options, prepared))


async def _cache_lookup(request: Request, state: AppState, chat: dict[str, Any]) -> Any:
    cache = getattr(state, "cache", None)
    if cache is None:
        return None
    return await cache.lookup(request, chat, call_type="chat_completion")


async def _send_cached(
    request: Request, state: AppState, protocol: Any, original: dict[str, Any], stream: bool, cached: Any
) -> None:
    """A cached chat answer, in the client's protocol (stored as chat whatever protocol stored it);
    a Responses answer is stored like any other (its id can be retrieved and chained)."""
    entry = cached.entry
    cached.record_hit(request)
    headers = cached.headers()
    remember = getattr(protocol, "remember", None)
    if not stream:
        out = protocol.from_chat(entry.answer, original)
        if remember is not None:
            await remember(state, request.principal, original, out)
        await request.respond(200, orjson.dumps(out), headers)
        return
    encoder = protocol.stream_encoder(original, request.request_id)
    request.encoder = encoder
    data = encoder.chunks(entry.chat_chunks()) + encoder.finish(entry.usage)
    if remember is not None:
        await remember(state, request.principal, original, getattr(encoder, "response", None))
    await request.start_stream(headers)
    await request.end_stream(data)


def _native_keeps_guards(guards: Any, protocol: Any, chat: dict[str, Any], native_body: Any) -> bool:
    """A native pass-through sends the client's own body and relays bytes of its protocol: fine
    for guardrails when the prompt they masked is that body, and when output checks can read
    those bytes (OpenAI's format); otherwise the request goes the translated way."""
    masked_elsewhere = guards.masked and native_body is not None and native_body is not chat
    unreadable = guards.checks_output and not getattr(protocol, "native_is_openai_format", False)
    return not (masked_elsewhere or unreadable)


def _serves_natively(protocol: Any, deployment: Deployment) -> bool:
    own = getattr(protocol, "serves_natively", None)
    if own is not None:
        return bool(own(deployment))
    return deployment.provider in protocol.native_providers


async def _translated_attempt(
    call: ModelRequest, deployment: Deployment, info: AttemptInfo
) -> AttemptOutcome:
    request, state, protocol = call.request, call.state, call.protocol
    adapter, provider_call = deployment.adapter, deployment.call
    config = state.config
    fit = getattr(protocol, "for_deployment", None)
    chat = call.chat if fit is None else fit(call.chat, deployment)
    payload = provider_body(chat, deployment, config.drop_params, config.max_tokens_over_limit)
    if call.stream and adapter.passthrough_stream:
        payload = with_stream_usage(payload)  # bill from the provider's own figures
    wire = adapter.chat_request(provider_call, payload, call.stream)
    headers = served_headers(deployment, info)
    limit = attempt_limit(state, deployment, info)
    if call.stream:
        # Chat to an OpenAI-format upstream relays the upstream's bytes: no encoder.
        encoder = None
        if protocol is not CHAT or not adapter.passthrough_stream:
            encoder = protocol.stream_encoder(call.original, request.request_id)
            if getattr(encoder, "model", None) == "":
                encoder.model = provider_call.model  # an OpenAI usage chunk's fallback
        relay = StreamRelay(
            request,
            state,
            deployment,
            adapter.chat_stream(provider_call, payload),
            headers,
            include_usage(chat),
            encoder,
        )
        relay.guard = call.guards.stream_guard() if call.guards is not None else None
        if encoder is not None and hasattr(protocol, "remember"):
            relay.before_end = lambda: protocol.remember(
                state, request.principal, call.original, getattr(encoder, "response", None)
            )
        first_byte = first_byte_limit(state, deployment, chat, limit)
        return await relay.run(wire, first_byte, idle_limit(state, limit))
    data, raw, upstream = await call_json(state, deployment, wire, limit)
    headers |= provider_limit_headers(upstream, request.rate_headers)
    if protocol is CHAT and adapter.passthrough_stream:
        if call.guards is not None:
            await call.guards.check_answer(data, deployment)  # during_call, post_call
        # Already OpenAI's format: relay the upstream's bytes, parsed once only to check them.
        return await relay_openai_answer(request, deployment, headers, data, raw, "choices")
    answer = adapter.chat_response(provider_call, data)
    if call.guards is not None:
        await call.guards.check_answer(answer, deployment)  # during_call, post_call
    out = protocol.from_chat(answer, call.original)
    if hasattr(protocol, "remember"):
        await protocol.remember(state, request.principal, call.original, out)
    usage = answer.get("usage")
    headers = cost_headers(request, deployment, usage, headers, answer)
    if call.cached is not None:
        headers |= call.cached.headers()
    await request.respond(200, orjson.dumps(out), headers)
    if call.cached is not None:  # stored as chat: it serves a client of any protocol later
        cost = request.account.record.cost if request.account is not None else 0.0
        entry = CachedAnswer.of_chat(answer=answer, usage=usage, cost=cost, now=time.time())
        await call.cached.remember(entry)
    return AttemptOutcome(usage=usage)


async def _native_attempt(call: ModelRequest, deployment: Deployment, info: AttemptInfo) -> AttemptOutcome:
    """The deployment speaks the client's protocol: the client's body goes as it came (model and
    credentials the deployment's, the gateway's own keys removed) and the answer's bytes come
    back unchanged; only its usage is read, for the bill."""
    request, state, protocol = call.request, call.state, call.protocol
    headers = served_headers(deployment, info)
    limit = attempt_limit(state, deployment, info)
    # The gateway's own keys never reach the provider; max_tokens is bounded as on every route.
    body = without_gateway_keys(call.native_body)
    body = bounded_output(body, deployment, state.config.max_tokens_over_limit)
    if body is call.original and request.raw_body is not None:
        # Unchanged: the client's own bytes may go as they came (the protocol decides).
        wire = protocol.native_request(deployment, body, call.stream, request.headers, raw=request.raw_body)
    else:
        wire = protocol.native_request(deployment, body, call.stream, request.headers)
    native = protocol.native_usage()
    if native is None:  # an OpenAI-format API of its own (legacy completions)
        return await _openai_format_attempt(call, deployment, wire, headers, limit)
    if call.stream:
        relay = StreamRelay(
            request,
            state,
            deployment,
            deployment.adapter.chat_stream(deployment.call, call.chat),
            headers,
            False,
            native=native,
        )
        return await relay.run(
            wire, first_byte_limit(state, deployment, call.chat, limit), idle_limit(state, limit)
        )
    data, raw, upstream = await call_json(state, deployment, wire, limit)
    headers |= provider_limit_headers(upstream, request.rate_headers)
    usage = native.answer_usage(data)
    if call.guards is not None:
        await call.guards.gate()  # during_call (output checks go the translated way)
    client_answer = getattr(protocol, "client_answer", None)
    if client_answer is not None:
        raw = orjson.dumps(client_answer(data, call.original))
    if hasattr(protocol, "remember"):
        await protocol.remember(state, request.principal, call.original, getattr(native, "response", data))
    await request.respond(200, raw, cost_headers(request, deployment, usage, headers, None))
    return AttemptOutcome(usage=usage)


async def _openai_format_attempt(
    call: ModelRequest, deployment: Deployment, wire: Any, headers: dict[str, str], limit: float
) -> AttemptOutcome:
    request, state = call.request, call.state
    if call.stream:
        relay = StreamRelay(
            request,
            state,
            deployment,
            deployment.adapter.chat_stream(deployment.call, call.chat),
            headers,
            include_usage(call.chat),
        )
        relay.guard = call.guards.stream_guard() if call.guards is not None else None
        return await relay.run(
            wire, first_byte_limit(state, deployment, call.chat, limit), idle_limit(state, limit)
        )
    data, raw, upstream = await call_json(state, deployment, wire, limit)
    headers |= provider_limit_headers(upstream, request.rate_headers)
    if call.guards is not None:
        await call.guards.check_answer(data, deployment)  # during_call, post_call
    return await relay_openai_answer(request, deployment, headers, data, raw, "choices")


def without_gateway_keys(body: dict[str, Any]) -> dict[str, Any]:
    """The client's body less the gateway's own request keys (fallbacks, num_retries, ...)."""
    if not any(k in body for k in GATEWAY_KEYS):
        return body
    return {k: v for k, v in body.items() if k not in GATEWAY_KEYS}

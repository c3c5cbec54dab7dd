"""The provider adapter interface.

An adapter is a pure translation between OpenAI's wire format (what clients send and receive)
and one provider's wire format; the gateway does the I/O (`providers/transport.py`). The router
and server never look at provider names: they ask the registry for the adapter of a deployment.
What a provider *is* (prefix, env vars, base URL, capabilities, stream framing, ...) is declared
in its `spec` (`providers/spec.py`); the adapter's `name`, `env_key`, `supports`, ... read it.

Translation contract, for one deployment (`ProviderCall`):
  * `chat_request(call, body, stream)` -> `WireRequest` (URL, headers, JSON bytes). `body` is the
    client's parsed OpenAI request with gateway-only keys already removed; its `model` is the
    client's name, the adapter uses `call.model`. Keys that are not OpenAI params are
    provider-specific: merge them into the provider body unchanged.
  * `chat_response(call, data)` -> an OpenAI `chat.completion` dict from the provider's JSON.
  * `stream_decoder(call)` -> a fresh `StreamDecoder` (`protocol/framing.py`) that cuts the
    upstream's streamed bytes into `StreamEvent`s. SSE is the default (`spec.stream_decoder`);
    JSON lines, AWS event-stream and others are decoders of the same contract. Override the
    method only when the framing depends on the call (one provider, two upstream APIs).
  * `chat_stream(call, body)` -> a `StreamTranslator` fed those events one by one (whatever the
    framing: a translator sees `event.event` and `event.data`), returning OpenAI
    `chat.completion.chunk` dicts; `on_end()` after the decoder's `flush()`.
  * `map_error(status, body, headers)` -> the `GatewayError` for a provider's error answer, chosen
    from the status and the provider's documented error type/code, never from free text alone.
  * `check_call(call)` raises ValueError when a deployment cannot work (a library of an extra
    missing, no region): the config loader reports it at start-up, the no-config routes as a
    warning. `transport(http)` may wrap the shared transport for what is done at send time
    (SigV4 signing, OAuth bearer tokens).
  * embeddings, rerank (`rerank_request`/`rerank_response`, LiteLLM's `/v1/rerank` shape) and
    legacy completions are optional (`supports`); the server emulates legacy completions over
    chat when an adapter lacks them.

The relay (`server/relay.py`) reads a translated stream as: for each transport chunk,
`decoder.feed(chunk)` -> `translator.on_event(event)` for each event; at a clean close
`decoder.flush()` the same way, then `translator.on_end()`. Pass-through adapters
(`spec.passthrough_stream`, OpenAI's own SSE) skip decoding and go out as received.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, ClassVar

from polyroute.errors import GatewayError, InvalidRequestError, error_for_upstream_status
from polyroute.protocol.framing import MAX_EVENT_BYTES, StreamDecoder, StreamEvent
from polyroute.protocol.openai_params import CHAT_PARAMS
from polyroute.providers.spec import ProviderSpec
from polyroute.secrets import Secret


@dataclass(slots=True)
class ProviderCall:
    """How to reach one deployment: resolved from a config entry's `litellm_params`."""

    provider: str
    model: str  # the provider's model id (the part after `provider/`)
    api_base: str | None = None
    api_key: Secret | None = None
    api_version: str | None = None
    organization: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Provider-specific settings from litellm_params (e.g. mock_response, vertex_project).
    extras: dict[str, Any] = field(default_factory=dict)
    # Request defaults from litellm_params (temperature, max_tokens, ...): the request wins.
    defaults: dict[str, Any] = field(default_factory=dict)
    # Set when a client chose this call's base URL: the request field that did (named in errors).
    # The gateway then resolves, checks and pins the upstream address before connecting.
    client_url_param: str | None = None

    def secret_values(self) -> list[str]:
        """Every value of this call that authenticates: scrubbed from anything sent back."""
        from polyroute.protocol.openai_params import CLIENT_SECRET_PARAMS

        values = [self.api_key.reveal()] if self.api_key else []
        # Header values long enough to be credentials (short ones are flags like "true").
        values += [v for v in self.extra_headers.values() if isinstance(v, str) and len(v) >= 8]
        values += [v for k, v in self.extras.items() if k in CLIENT_SECRET_PARAMS and isinstance(v, str)]
        return values


@dataclass(slots=True)
class WireRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"


class StreamTranslator(ABC):
    """Turns one upstream stream into OpenAI chunks. One instance per request."""

    #: OpenAI-shaped usage dict once the provider has reported it (cumulative, final).
    usage: dict[str, Any] | None = None
    #: what the provider reported before its final figures (Anthropic's message_start: the
    #: input and cache tokens): the basis of the bill when the stream breaks off before `usage`
    usage_so_far: dict[str, Any] | None = None

    @abstractmethod
    def on_event(self, event: StreamEvent) -> list[dict[str, Any]]:
        """Chunks for one decoded upstream event. Raises GatewayError for an in-stream error."""

    def on_end(self) -> list[dict[str, Any]]:
        """Chunks owed when the upstream closed cleanly. Raises UpstreamError when the provider's
        own end-of-stream marker never came (a truncated stream)."""
        return []


class ProviderAdapter(ABC):
    #: the provider's facts (providers/spec.py); a class attribute, or set per instance by
    #: adapters that serve several providers (the OpenAI-compatible family)
    spec: ProviderSpec
    #: which OpenAI chat params this provider can honour; others follow drop_params
    supported_chat_params: ClassVar[frozenset[str]] = CHAT_PARAMS

    @property
    def name(self) -> str:
        """Registry key and the `provider/` prefix of model names."""
        return self.spec.name

    @property
    def env_key(self) -> str | None:
        """The main variable holding the default key (None: no key variable)."""
        return self.spec.key_env[0] if self.spec.key_env else None

    @property
    def default_api_base(self) -> str | None:
        return self.spec.default_api_base

    @property
    def key_optional(self) -> bool:
        return self.spec.key_optional

    @property
    def supports(self) -> frozenset[str]:
        """Operations offered: chat, completions (legacy, native), embeddings, rerank."""
        return self.spec.operations

    @property
    def passthrough_stream(self) -> bool:
        """True when the upstream already speaks OpenAI's SSE chunks: the server relays events as
        they are instead of decoding and re-encoding them."""
        return self.spec.passthrough_stream

    def chat_params(self, call: ProviderCall) -> frozenset[str]:
        """The OpenAI chat params `call`'s model honours (`supported_chat_params` unless the
        provider documents per-model differences, as NVIDIA NIM does)."""
        return self.supported_chat_params

    def stream_decoder(self, call: ProviderCall, max_event_bytes: int = MAX_EVENT_BYTES) -> StreamDecoder:
        """A fresh decoder for one streamed answer of `call` (the spec's framing by default),
        holding at most `max_event_bytes` of an unfinished event."""
        return self.spec.stream_decoder(max_event_bytes)

    def check_call(self, call: ProviderCall) -> None:
        """Config-time checks of one deployment (a library installed, a region known): raise
        ValueError with a one-line reason; the loader reports it as a config error."""
        return None

    @abstractmethod
    def chat_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest: ...

    @abstractmethod
    def chat_response(self, call: ProviderCall, data: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def chat_stream(self, call: ProviderCall, body: dict[str, Any]) -> StreamTranslator: ...

    def completions_request(self, call: ProviderCall, body: dict[str, Any], stream: bool) -> WireRequest:
        raise InvalidRequestError(f"provider '{self.name}' has no legacy completions endpoint")

    def embeddings_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        raise InvalidRequestError(
            f"provider '{self.name}' does not offer embeddings", param="model", code="unsupported_model"
        )

    def embeddings_response(
        self, call: ProviderCall, data: dict[str, Any], request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """OpenAI embeddings list from the provider's answer; `request_body` for usage estimates."""
        raise NotImplementedError

    def moderations_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        """The upstream request for OpenAI's `/v1/moderations` (answers are OpenAI's shape)."""
        raise InvalidRequestError(
            f"provider '{self.name}' does not offer moderations", param="model", code="unsupported_model"
        )

    def rerank_request(self, call: ProviderCall, body: dict[str, Any]) -> WireRequest:
        """The upstream request for one rerank call in LiteLLM's `/v1/rerank` shape (`rerank`)."""
        raise InvalidRequestError(
            f"provider '{self.name}' does not offer rerank", param="model", code="unsupported_model"
        )

    def rerank_response(
        self, call: ProviderCall, data: dict[str, Any], request_body: dict[str, Any]
    ) -> dict[str, Any]:
        """LiteLLM's rerank answer (`id`, `results` of `index`/`relevance_score`, `meta`)."""
        raise NotImplementedError

    def transport(self, http: Any = None) -> Any:
        """The I/O for this provider; None means the shared pooled HTTP transport (`http`),
        which an adapter may also wrap (a protocol that is not plain request/response)."""
        return None

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        """Default: class by status, message from an OpenAI-shaped body when there is one."""
        return generic_upstream_error(self.name, status, body, headers)


def retry_after_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` (milliseconds, preferred: finer) or `retry-after`
    (seconds or an HTTP date, RFC 9110), as the openai SDK reads them; None when absent or
    unreadable. `now` (Unix seconds, default the wall clock) is what an HTTP date is measured from."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            ms = float(value)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms):
            return max(0.0, ms / 1000.0)
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if math.isfinite(seconds):
        return max(0.0, seconds)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def generic_upstream_error(
    provider: str, status: int, body: bytes, headers: Mapping[str, str]
) -> GatewayError:
    import orjson

    message = f"{provider} returned HTTP {status}"
    code = None
    param = None
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            code = err.get("code") if isinstance(err.get("code"), str) else None
            param = err.get("param") if isinstance(err.get("param"), str) else None
        elif isinstance(err, str):
            message = err
        elif isinstance(data.get("message"), str):
            message = data["message"]
    cls = error_for_upstream_status(status)
    from polyroute.errors import ContentPolicyViolationError, ContextWindowExceededError

    if code == "context_length_exceeded":
        cls = ContextWindowExceededError
    elif code in ("content_policy_violation", "content_filter"):
        cls = ContentPolicyViolationError
    error = cls(message, param=param, retry_after=retry_after_from_headers(headers), provider=provider)
    if code and cls not in (ContextWindowExceededError, ContentPolicyViolationError):
        error.code = code
    return error

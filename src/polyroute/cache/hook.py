"""The response cache's one hook into a model route: `serve_from_cache(request, state, body)`.

Called after admission (the key's rpm, model access and budget are checked and counted) and before
routing. On a hit it sends the cached answer (JSON, or a stream replayed as a stream) and returns
True: the route returns at once, no deployment is chosen, no provider called, no deployment
rpm/tpm used; the request bills 0 and its spend row's metadata says `cache_hit` and `saved_cost`.
On a miss it returns False and taps `request.send`: the answer the route then sends gets the
`x-polyroute-cache: miss` header, and a complete 200 answer is stored just before its last byte
leaves (so a client that asks again as soon as it has its answer finds it stored).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from polyroute.cache.backends import CacheBackend, Clock
from polyroute.cache.entry import CachedAnswer, from_sent, stream_body
from polyroute.cache.keys import (
    caller_scope,
    exact_key,
    prompt_text,
    request_controls,
    semantic_partition,
    uncacheable,
)
from polyroute.cache.settings import CacheSettings
from polyroute.errors import GatewayError
from polyroute.observability.metrics import METRICS

if TYPE_CHECKING:  # the semantic cache's code is imported only where one is configured (cache/build.py)
    from polyroute.cache.embedder import Embed
    from polyroute.cache.semantic import VectorIndex
    from polyroute.server.http import Request
    from polyroute.server.state import AppState

log = logging.getLogger("polyroute.cache")
SHARED_DEFAULT_TTL_S = 24 * 3600  # Redis and semantic entries always expire: nothing grows forever
WARN_EVERY_S = 60.0  # a cache that is down is logged once a minute, not once a request
DECODED_MAX = 1024  # decoded in-memory entries kept for hits (cleared when full)
COST_HEADERS = ("x-polyroute-response-cost", "x-litellm-response-cost")


async def serve_from_cache(request: Request, state: AppState, body: dict[str, Any]) -> bool:
    """True when the request was answered from the cache (the route must return)."""
    cache = getattr(state, "cache", None)
    if cache is None:
        return False
    return await cache.serve(request, body)


class ResponseCache:
    def __init__(
        self,
        settings: CacheSettings,
        *,
        backend: CacheBackend | None = None,
        index: VectorIndex | None = None,
        embed: Embed | None = None,
        aliases: dict[str, str] | None = None,
        clock: Clock = time.time,
        before_start: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.index = index
        self.embed = embed
        self.aliases = aliases or {}
        self.clock = clock
        self.call_types = settings.call_types
        self._before_start = before_start
        self._warned_at: float | None = None
        self.failures = 0  # lookups and stores that failed (the backend down): each a miss
        # The in-memory backend hands back the very bytes it holds: their decoded entry is kept
        # (checked by identity) for the hits that only read it, the OpenAI-format ones (`serve`).
        self._decoded: dict[str, tuple[bytes, CachedAnswer | None]] | None = (
            {} if backend is not None and backend.name == "local" else None
        )
        shared = settings.type != "local" and settings.type != "disk"
        self.default_ttl = settings.ttl or (SHARED_DEFAULT_TTL_S if shared else None)

    async def start(self) -> None:
        """Checks what can only be checked against a running server (redis-semantic's module)."""
        if self._before_start is not None:
            await self._before_start()

    async def close(self) -> None:
        if self.backend is not None:
            await self.backend.close()
        if self.index is not None:
            await self.index.close()

    # -- the hook ---------------------------------------------------------------------------------
    async def serve(self, request: Request, body: dict[str, Any]) -> bool:
        """For routes that answer in OpenAI's format: a hit is sent here (True); a miss taps the
        response so its answer is stored as it goes out (False)."""
        found = await self.lookup(request, body, read_only=True)
        if found is None:
            return False
        if found.entry is not None:
            await self._send_hit(request, body, found)
            return True
        self._tap(request, found)
        return False

    async def lookup(
        self, request: Request, body: dict[str, Any], call_type: str | None = None, read_only: bool = False
    ) -> CacheLookup | None:
        """The cache's answer for an OpenAI chat / text-completion `body`, protocol-neutral: None
        when the cache does not apply (call type, client-chosen upstream); else a CacheLookup whose
        `entry` is the hit (None on a miss, counted as one). `call_type` defaults to the request
        account's. `read_only`: the caller never changes the entry, which may then be shared."""
        call_type = call_type or getattr(request.account, "call_type", None)
        if call_type not in self.call_types or uncacheable(body):
            return None
        controls = request_controls(body)
        scope = caller_scope(request.principal, self.settings.scope)
        namespace = controls.namespace or self.settings.namespace
        model = body.get("model")
        group = self.aliases.get(model, model) if isinstance(model, str) else ""
        found: CachedAnswer | None = None
        similarity: float | None = None
        vector: list[float] | None = None
        text = ""
        if self.index is not None:
            key = semantic_partition(call_type, group, body, scope, namespace)
            text = prompt_text(body)
            vector = await self._embedding(text)
            if vector is not None and not controls.no_cache:
                threshold = self.settings.similarity_threshold or 1.0
                hit = await self._guarded(self.index.search(key, vector, threshold))
                if hit is not None:
                    found, similarity = CachedAnswer.decode(hit[0]), hit[1]
        else:
            key = exact_key(call_type, group, body, scope, namespace)
            if not controls.no_cache and self.backend is not None:
                raw = await self._guarded(self.backend.get(key))
                if raw is None:
                    found = None
                elif read_only and self._decoded is not None:
                    found = self._decoded_entry(key, raw)
                else:
                    found = CachedAnswer.decode(raw)
        usable = (
            found is not None
            and found.serves(bool(body.get("stream")))
            and self._fresh(found, controls.s_maxage)
        )
        if not usable:
            found, similarity = None, None
            METRICS.cache_requests.inc(("miss",))
        return CacheLookup(
            cache=self,
            key=key,
            group=group,
            entry=found,
            similarity=similarity,
            store=not controls.no_store and (self.index is None or vector is not None),
            ttl=controls.ttl or self.default_ttl,
            text=text,
            vector=vector,
        )

    def _decoded_entry(self, key: str, raw: bytes) -> CachedAnswer | None:
        decoded = self._decoded
        assert decoded is not None
        held = decoded.get(key)
        if held is not None and held[0] is raw:
            return held[1]
        entry = CachedAnswer.decode(raw)
        if len(decoded) >= DECODED_MAX:
            decoded.clear()
        decoded[key] = (raw, entry)
        return entry

    def _fresh(self, entry: CachedAnswer, s_maxage: float | None) -> bool:
        return s_maxage is None or self.clock() - entry.stored_at <= s_maxage

    async def _embedding(self, text: str) -> list[float] | None:
        assert self.embed is not None
        try:
            return await self.embed(text)
        except GatewayError as error:
            # The semantic cache is an optimisation: without an embedding the request is a miss.
            log.warning("semantic cache: embedding failed (%s); not cached", error.code or error.type)
            return None

    async def _guarded(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except Exception as exc:  # noqa: BLE001  # a cache that is down is a miss, never a failure
            self.failures += 1
            now = time.monotonic()
            if self._warned_at is None or now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.warning(
                    "response cache %s unavailable (%s): serving without it (%d failures so far)",
                    self.settings.type,
                    type(exc).__name__,
                    self.failures,
                )
            return None

    async def _send_hit(self, request: Request, body: dict[str, Any], found: CacheLookup) -> None:
        entry = found.entry
        assert entry is not None
        found.record_hit(request)
        headers = found.headers()
        if body.get("stream"):
            options = body.get("stream_options")
            include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
            await request.start_stream(headers)
            await request.end_stream(stream_body(entry, include_usage))
        else:
            await request.respond(200, orjson.dumps(entry.answer), headers)

    # -- the miss: header, and the answer stored as it goes out -----------------------------------
    def _tap(self, request: Request, found: CacheLookup) -> None:
        send = request.send
        limit = self.settings.max_entry_bytes
        extra = [(name.encode(), value.encode()) for name, value in found.headers().items()]
        parts: list[bytes] = []
        recording = False
        is_stream = False
        size = 0
        held = b""  # a stream's `[DONE]`, held until the answer is billed and stored

        async def tapped(message: dict[str, Any]) -> None:
            nonlocal recording, is_stream, size, held
            kind = message["type"]
            if kind == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
                recording = found.store and message.get("status") == 200
                is_stream = any(
                    name == b"content-type" and value.startswith(b"text/event-stream")
                    for name, value in message["headers"]
                )
            elif kind == "http.response.body" and recording:
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:  # too big to keep: the answer still goes out whole
                    recording = False
                    parts.clear()
                    if held:
                        message = {**message, "body": held + chunk}
                        held = b""
                elif message.get("more_body"):
                    parts.append(chunk)
                    if held:  # nothing overtakes the held marker
                        held += chunk
                        return
                    done = chunk.find(b"data: [DONE]") if is_stream else -1
                    if done >= 0:
                        # A client stops reading at [DONE] and may ask again at once: it gets the
                        # marker only once the answer is stored (the relay bills it after [DONE]).
                        held += chunk[done:]
                        if not done:
                            return
                        message = {**message, "body": chunk[:done]}
                else:
                    parts.append(chunk)
                    recording = False
                    await self._store_sent(request, found, b"".join(parts), is_stream)
                    if held:
                        message = {**message, "body": held + chunk}
                        held = b""
            elif kind == "http.response.body" and held:
                message = {**message, "body": held + message.get("body", b"")}
                held = b""
            await send(message)

        request.send = tapped

    async def _store_sent(self, request: Request, found: CacheLookup, sent: bytes, is_stream: bool) -> None:
        record = request.account.record if request.account is not None else None
        if record is not None and record.status != "success":
            return
        usage = _openai_usage(record.usage) if record is not None else None
        cost = float(record.cost) if record is not None else 0.0
        entry = from_sent(sent, is_stream, usage, cost, self.clock())
        if entry is not None:
            await found.remember(entry)


class CacheLookup:
    """One request's cache lookup: the hit (`entry`), or what storing its answer needs."""

    __slots__ = ("cache", "key", "group", "entry", "similarity", "store", "ttl", "text", "vector")

    def __init__(
        self,
        *,
        cache: ResponseCache,
        key: str,
        group: str,
        entry: CachedAnswer | None,
        similarity: float | None,
        store: bool,
        ttl: float | None,
        text: str,
        vector: list[float] | None,
    ) -> None:
        self.cache = cache
        self.key = key
        self.group = group
        self.entry = entry
        self.similarity = similarity
        self.store = store
        self.ttl = ttl
        self.text = text
        self.vector = vector

    @property
    def result(self) -> str:
        if self.entry is None:
            return "miss"
        return "semantic-hit" if self.similarity is not None else "hit"

    def headers(self) -> dict[str, str]:
        """x-polyroute-cache (and LiteLLM's names); on a hit also the zero cost headers."""
        out = {"x-polyroute-cache": self.result, "x-litellm-cache-key": self.key}
        if self.entry is not None:
            out["x-polyroute-model-group"] = self.group
            out.update({name: "0" for name in COST_HEADERS})
        if self.similarity is not None:
            out["x-polyroute-cache-similarity"] = f"{self.similarity:.4f}"
            out["x-litellm-semantic-similarity"] = f"{self.similarity:.4f}"
        return out

    def record_hit(self, request: Request) -> None:
        """Bills the hit 0 (the spend row says what it saved) and counts it."""
        entry = self.entry
        assert entry is not None
        if request.account is not None:
            request.account.cache_hit(entry.cost, self.result, self.similarity)
        METRICS.cache_requests.inc((self.result,))
        if entry.cost:
            METRICS.cache_saved.inc((), entry.cost)

    async def remember(self, entry: CachedAnswer) -> None:
        """Stores a complete answer (built with `CachedAnswer.of_chat` or `entry.from_sent`),
        unless the request said no-store or it is larger than max_entry_bytes."""
        if not self.store:
            return
        cache = self.cache
        data = entry.encode()
        if len(data) > cache.settings.max_entry_bytes:
            return
        if cache.index is not None and self.vector is not None:
            await cache._guarded(cache.index.add(self.key, self.text, self.vector, data, self.ttl))
        elif cache.backend is not None:
            await cache._guarded(cache.backend.set(self.key, data, self.ttl))


def _openai_usage(usage: Any) -> dict[str, Any] | None:
    if usage is None:
        return None
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "total_tokens": usage.total,
    }
    if usage.cached:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached}
    return out

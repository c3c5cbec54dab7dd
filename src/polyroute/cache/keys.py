"""What makes two requests the same question, whose answers a caller may read, and the
per-request controls (LiteLLM's `cache` object).

The key hashes the model GROUP (after model_group_alias) and every parameter that can change the
answer. Left out: how the answer is delivered (`stream`, `stream_options`), who asks or why
(`user`, `metadata`, `store`, `service_tier`, `prompt_cache_key`, `safety_identifier`) and the
gateway's own routing keys (`fallbacks`, `num_retries`, `timeout`, ...; protocol/openai_params.py's
GATEWAY_KEYS) except `mock_response`, which is the answer. The caller's scope and the namespace are
hashed in too, so a key can never be computed that reads another scope's entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from polyroute.errors import InvalidRequestError
from polyroute.protocol.openai_params import CLIENT_CREDENTIAL_PARAMS, GATEWAY_KEYS

NOT_IN_KEY = (GATEWAY_KEYS - {"mock_response"}) | {
    "stream",
    "stream_options",
    "user",
    "metadata",
    "store",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "extra_body",
}
# Also left out of a semantic entry's exact part: the prompt is compared by meaning instead.
PROMPT_FIELDS = ("messages", "prompt")
MAX_TTL_S = 365 * 24 * 3600
MAX_NAMESPACE = 128


@dataclass(frozen=True, slots=True)
class CacheControls:
    """LiteLLM's per-request `cache` object. `no_cache`: do not read a cached answer (the fresh
    one is stored); `no_store`: do not store this answer; `s_maxage`: read only entries at most
    this many seconds old."""

    no_cache: bool = False
    no_store: bool = False
    ttl: float | None = None
    s_maxage: float | None = None
    namespace: str | None = None


NO_CONTROLS = CacheControls()


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_TTL_S:
        raise InvalidRequestError(
            f"Invalid value for 'cache.{name}': expected seconds from 1 to {MAX_TTL_S}", param=f"cache.{name}"
        )
    return float(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequestError(
            f"Invalid value for 'cache.{name}': expected true or false", param=f"cache.{name}"
        )
    return value


def request_controls(body: dict[str, Any]) -> CacheControls:
    """The body's `cache` object (or `extra_body.cache`, as a raw client may send it)."""
    raw = body.get("cache")
    if raw is None and isinstance(body.get("extra_body"), dict):
        raw = body["extra_body"].get("cache")
    if raw is None:
        return NO_CONTROLS
    if not isinstance(raw, dict):
        raise InvalidRequestError("Invalid value for 'cache': expected an object", param="cache")
    namespace = raw.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str) or not namespace or len(namespace) > MAX_NAMESPACE
    ):
        raise InvalidRequestError(
            f"Invalid value for 'cache.namespace': expected a name of 1 to {MAX_NAMESPACE} characters",
            param="cache.namespace",
        )
    return CacheControls(
        no_cache=_flag(raw.get("no-cache", False), "no-cache"),
        no_store=_flag(raw.get("no-store", False), "no-store"),
        ttl=_seconds(raw["ttl"], "ttl") if raw.get("ttl") is not None else None,
        s_maxage=_seconds(raw["s-maxage"], "s-maxage") if raw.get("s-maxage") is not None else None,
        namespace=namespace,
    )


def caller_scope(principal: Any, scope: str) -> str:
    """Whose entries this caller may read: its key's hash (or its team's), the master key's, or
    everyone's with `scope: global`."""
    if scope == "global":
        return "global"
    key = getattr(principal, "key", None)
    if key is not None:
        if scope == "team" and key.team_id:
            return "team:" + key.team_id
        return "key:" + key.token
    return "role:" + str(getattr(principal, "role", "anonymous"))


def uncacheable(body: dict[str, Any]) -> bool:
    """A request served by a client-chosen upstream or router (its own credentials, api_base or
    user_config) is never cached: its answer is not the gateway model's."""
    return "user_config" in body or not CLIENT_CREDENTIAL_PARAMS.isdisjoint(body)


def _digest(parts: dict[str, Any]) -> str:
    data = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(data).hexdigest()


def exact_key(call_type: str, group: str, body: dict[str, Any], scope: str, namespace: str | None) -> str:
    """The exact cache's key: hex sha256 of everything that decides the answer."""
    params = {k: v for k, v in body.items() if k not in NOT_IN_KEY and k != "model"}
    return _digest({"c": call_type, "m": group, "p": params, "s": scope, "n": namespace or ""})


def semantic_partition(
    call_type: str, group: str, body: dict[str, Any], scope: str, namespace: str | None
) -> str:
    """The semantic cache's exact part: the same as `exact_key` less the prompt, which is matched
    by meaning within the partition."""
    params = {
        k: v for k, v in body.items() if k not in NOT_IN_KEY and k != "model" and k not in PROMPT_FIELDS
    }
    return _digest({"c": call_type, "m": group, "p": params, "s": scope, "n": namespace or ""})


def prompt_text(body: dict[str, Any]) -> str:
    """The text a semantic cache embeds: the whole conversation (role and content of each message),
    so two conversations that end alike but began differently do not match."""
    if "prompt" in body:
        prompt = body["prompt"]
        return prompt if isinstance(prompt, str) else orjson.dumps(prompt).decode()
    lines = []
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if not isinstance(content, str):
            content = orjson.dumps(content).decode()
        lines.append(f"{message.get('role', '')}: {content}")
        if message.get("tool_calls"):
            lines.append(orjson.dumps(message["tool_calls"]).decode())
    return "\n".join(lines)

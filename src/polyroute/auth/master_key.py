"""Who may call the gateway: the master key, presented the ways OpenAI, Anthropic and Azure
clients present keys. With no master key configured, only loopback clients are served."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from ipaddress import ip_address

from polyroute.auth.context import AuthContext
from polyroute.errors import AuthenticationError
from polyroute.secrets import Secret


def _bearer(value: str | None) -> str | None:
    if value:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a client presents. LiteLLM's `x-litellm-api-key` (with or without "Bearer ")
    comes first: its clients send it when `Authorization` carries something else; then
    `Authorization: Bearer`, Anthropic's `x-api-key`, Azure's `api-key`."""
    litellm = headers.get("x-litellm-api-key")
    return (
        (litellm and (_bearer(litellm) or litellm.strip()))
        or _bearer(headers.get("authorization"))
        or headers.get("x-api-key")
        or headers.get("api-key")
        or None
    )


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_master_key(
    master_key: Secret | None, presented: str | None, client_host: str | None, open_access: bool
) -> AuthContext:
    """Who the caller is; raises AuthenticationError unless the caller may proceed."""
    if master_key is None:
        if is_loopback(client_host):
            return AuthContext(principal="loopback")
        if open_access:
            return AuthContext(principal="open")
        raise AuthenticationError(
            "this gateway has no master key and serves loopback clients only", code="unauthenticated_remote"
        )
    if presented is None:
        raise AuthenticationError(
            "missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key"
        )
    if not hmac.compare_digest(presented.encode(), master_key.reveal().encode()):
        raise AuthenticationError("invalid API key", code="invalid_api_key")
    return AuthContext(principal="master")

"""Virtual keys: how they look, how they are stored, and what the request path knows of one.

Keys look like LiteLLM's (`sk-` + URL-safe random); the database holds only their SHA-256 hex
(LiteLLM's `token`), and the key itself is shown once, in the answer to /key/generate. A
`KeyRecord` is everything admission needs about a key, its team and its user, loaded in one
query and cached (auth/key_cache.py), so no request waits for SQL once its key is known.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

KEY_PREFIX = "sk-"
MAX_PRESENTED_KEY_CHARS = 512  # longer is not a key: refused without hashing or looking it up


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_name(key: str) -> str:
    """LiteLLM's `key_name`: enough to tell keys apart in a list, never enough to use one."""
    return f"sk-...{key[-4:]}"


@dataclass(frozen=True, slots=True)
class EntityLimits:
    """The limits and budget of one key, team or user, as admission enforces them."""

    kind: str  # "key", "team" or "user"
    id: str  # key hash, team_id or user_id
    label: str  # what error messages may name: an alias or id, never a key
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    max_budget: float | None = None  # USD
    budget_duration: str | None = None
    budget_anchor: float = 0.0  # epoch seconds periods are counted from
    spend: float = 0.0  # USD spent in `spend_period`, as the database knew at load time
    spend_period: int = 0
    models: tuple[str, ...] = ()
    blocked: bool = False

    @property
    def limited(self) -> bool:
        return bool(
            self.rpm_limit is not None
            or self.tpm_limit is not None
            or self.max_parallel_requests is not None
            or self.max_budget is not None
        )


@dataclass(frozen=True, slots=True)
class KeyRecord:
    token: str  # the key's hash
    key_alias: str | None = None
    key_name: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    expires: float | None = None  # epoch seconds
    entities: tuple[EntityLimits, ...] = field(default_factory=tuple)  # key first, then team, user
    # Off when the key's, its team's or its user's metadata says allow_client_side_credentials: false.
    client_side_credentials: bool = True
    # Guardrails the key's, team's and user's metadata name (`guardrails: [...]`), run for every
    # request of the key; and whether its requests may add their own (guardrails/engine.py).
    guardrails: tuple[str, ...] = ()
    request_guardrails: bool = False

    @property
    def label(self) -> str:
        return self.key_alias or self.key_name or "virtual key"

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyRecord:
        raw: dict[str, Any] = orjson.loads(data)
        entities = tuple(
            EntityLimits(**{**e, "models": tuple(e.get("models") or ())}) for e in raw.pop("entities", [])
        )
        guardrails = tuple(raw.pop("guardrails", None) or ())
        return cls(**raw, entities=entities, guardrails=guardrails)

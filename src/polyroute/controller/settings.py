"""`controller_settings` and FastChat's controller/worker environment variables, read once.

FastChat's variable names and defaults carry over, so a FastChat deployment moves without
changing its environment:

| variable | default | meaning |
|---|---|---|
| FASTCHAT_CONTROLLER_HEART_BEAT_EXPIRATION | 90 | seconds a worker stays registered without a heartbeat |
| FASTCHAT_WORKER_HEART_BEAT_INTERVAL | 45 | seconds between a worker's heartbeats |
| FASTCHAT_WORKER_API_TIMEOUT | 100 | seconds one call to a worker may take |
| FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE | 4 | inputs per embeddings call to a worker |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from polyroute.secrets import Secret

DispatchMethod = Literal["lottery", "shortest_queue"]

DEFAULT_HEART_BEAT_EXPIRATION_S = 90.0
DEFAULT_HEART_BEAT_INTERVAL_S = 45.0
DEFAULT_WORKER_API_TIMEOUT_S = 100.0
DEFAULT_EMBEDDING_BATCH_SIZE = 4
DEFAULT_MAX_WORKERS = 1000
DEFAULT_MAX_WORKERS_PER_TOKEN = 256
# Per token: a FastChat worker registers once at start and again when a heartbeat finds it gone.
DEFAULT_REGISTRATIONS_PER_MINUTE = 600


class WorkerTokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1)
    models: list[str] | None = None  # None: any model name


class ControllerSettings(BaseModel):
    """The `controller_settings` section of config.yaml."""

    model_config = ConfigDict(extra="allow")

    # FastChat's controller defaults to shortest_queue.
    dispatch_method: DispatchMethod = "shortest_queue"
    worker_tokens: list[WorkerTokenEntry] = Field(default_factory=list)
    # Regexes matched (fullmatch) against the normalised worker address; None: loopback only.
    allowed_worker_addresses: list[str] | None = None
    # Priority tier (like litellm_params.order) of registered workers in a mixed model group.
    worker_order: int = Field(default=1, ge=1)
    # Bounds on the registry a token holder can grow (docs/security.md).
    max_workers: int = Field(default=DEFAULT_MAX_WORKERS, ge=1, le=100_000)
    max_workers_per_token: int = Field(default=DEFAULT_MAX_WORKERS_PER_TOKEN, ge=1, le=100_000)
    max_registrations_per_minute: int = Field(default=DEFAULT_REGISTRATIONS_PER_MINUTE, ge=1, le=1_000_000)

    @field_validator("allowed_worker_addresses")
    @classmethod
    def _compiles(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a valid regular expression: {exc}") from None
        return value


@dataclass(frozen=True, slots=True)
class WorkerToken:
    secret: Secret
    models: frozenset[str] | None  # None: may register any model name

    def allows(self, model_names: tuple[str, ...] | list[str]) -> bool:
        return self.models is None or all(name in self.models for name in model_names)


@dataclass
class ControllerConfig:
    """The controller's runtime settings: parsed, resolved and validated once at start-up."""

    dispatch_method: DispatchMethod = "shortest_queue"
    tokens: list[WorkerToken] = field(default_factory=list)
    allowed_addresses: list[re.Pattern[str]] | None = None
    worker_order: int = 1
    heart_beat_expiration_s: float = DEFAULT_HEART_BEAT_EXPIRATION_S
    worker_api_timeout_s: float = DEFAULT_WORKER_API_TIMEOUT_S
    embedding_batch_size: int = DEFAULT_EMBEDDING_BATCH_SIZE
    max_workers: int = DEFAULT_MAX_WORKERS
    max_workers_per_token: int = DEFAULT_MAX_WORKERS_PER_TOKEN
    max_registrations_per_minute: int = DEFAULT_REGISTRATIONS_PER_MINUTE


def env_number(env: Mapping[str, str], name: str, default: float, minimum: float = 1e-3) -> float:
    """A FastChat numeric env var; a bad value is an error naming the variable, not a silent default."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"environment variable {name} must be at least {minimum:g}, got {raw!r}")
    return value


def fastchat_timings(env: Mapping[str, str]) -> dict[str, float]:
    return {
        "heart_beat_expiration_s": env_number(
            env, "FASTCHAT_CONTROLLER_HEART_BEAT_EXPIRATION", DEFAULT_HEART_BEAT_EXPIRATION_S
        ),
        "heart_beat_interval_s": env_number(
            env, "FASTCHAT_WORKER_HEART_BEAT_INTERVAL", DEFAULT_HEART_BEAT_INTERVAL_S
        ),
        "worker_api_timeout_s": env_number(env, "FASTCHAT_WORKER_API_TIMEOUT", DEFAULT_WORKER_API_TIMEOUT_S),
        "embedding_batch_size": env_number(
            env, "FASTCHAT_WORKER_API_EMBEDDING_BATCH_SIZE", DEFAULT_EMBEDDING_BATCH_SIZE, minimum=1
        ),
    }

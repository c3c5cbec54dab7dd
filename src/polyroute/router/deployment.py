"""A deployment: one way to serve a model name (provider, upstream model, credentials, limits)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from polyroute.providers.base import ProviderAdapter, ProviderCall
from polyroute.state.base import WorkerRecord


@dataclass(frozen=True, slots=True)
class StateKeys:
    """The shared-state keys of one deployment, built once (f-strings per request add up)."""

    cooldown: str
    probation: str
    fails: str
    inflight: str
    probe: str
    latency: str
    rpm: str
    tpm: str

    @classmethod
    def for_id(cls, deployment_id: str) -> StateKeys:
        return cls(
            *(
                f"{kind}:{deployment_id}"
                for kind in ("cooldown", "probation", "fails", "inflight", "probe", "latency", "rpm", "tpm")
            )
        )


@dataclass(slots=True)
class Deployment:
    id: str  # stable id: model_info.id, or a hash of the entry without its secrets
    model_name: str  # the name clients use (a model group); may be a wildcard pattern
    adapter: ProviderAdapter
    call: ProviderCall
    timeout: float | None = None
    stream_timeout: float | None = None
    max_retries: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    order: int | None = None
    drop_params: bool | None = None
    model_info: dict[str, Any] = field(default_factory=dict)
    wildcard: bool = False
    worker: WorkerRecord | None = None  # set for a model worker registered with the controller
    # Which credential params clients may set for this deployment
    # (auth.client_credentials.ClientParamPolicy); None: none.
    client_policy: Any = None
    keys: StateKeys = field(init=False)

    def __post_init__(self) -> None:
        self.keys = StateKeys.for_id(self.id)

    @property
    def provider(self) -> str:
        return self.adapter.name

    def for_requested(self, requested: str, star: str) -> Deployment:
        """The concrete deployment a wildcard entry gives for one requested model name."""
        model = self.call.model.replace("*", star) if "*" in self.call.model else self.call.model
        call = dataclasses.replace(self.call, model=model)
        return dataclasses.replace(
            self, id=f"{self.id}:{star}", model_name=requested, call=call, wildcard=False
        )

    def describe(self) -> dict[str, Any]:
        """What may be shown about this deployment: never its credentials."""
        return {
            "id": self.id,
            "model_name": self.model_name,
            "provider": self.provider,
            "model": self.call.model,
            "api_base": self.call.api_base,
            "has_api_key": bool(self.call.api_key),
            "rpm": self.rpm,
            "tpm": self.tpm,
            **(
                {
                    "worker": {
                        "protocol": self.worker.protocol,
                        "speed": self.worker.speed,
                        "queue_length": self.worker.queue_length,
                        "heartbeat_at": self.worker.heartbeat_at,
                        "expires_at": self.worker.expires_at,
                    }
                }
                if self.worker is not None
                else {}
            ),
        }

"""Router settings: LiteLLM's `router_settings` / `litellm_settings` names, plus a few of ours.

LiteLLM accepts several of these in either section (num_retries, fallbacks, allowed_fails,
cooldown_time, ...); `router_settings` wins when both give one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Strategy = Literal[
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
]

# Keys of LiteLLM's retry_policy / allowed_fails_policy, by the error family they name.
ERROR_FAMILIES = (
    "BadRequestError",
    "AuthenticationError",
    "TimeoutError",
    "RateLimitError",
    "ContentPolicyViolationError",
    "InternalServerError",
)


def _fallback_map(value: Any, field: str) -> dict[str, list[str]]:
    """LiteLLM writes fallbacks as [{"model": ["fb1", "fb2"]}, ...]; a plain mapping works too."""
    if value is None:
        return {}
    items = value.items() if isinstance(value, dict) else None
    if items is None:
        if not isinstance(value, list):
            raise ValueError(f"{field} must be a list of {{model: [fallbacks]}}")
        merged: dict[str, Any] = {}
        for entry in value:
            if not isinstance(entry, dict):
                raise ValueError(f"{field} entries must be {{model: [fallbacks]}}")
            merged.update(entry)
        items = merged.items()
    out: dict[str, list[str]] = {}
    for model, targets in items:
        targets = [targets] if isinstance(targets, str) else targets
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ValueError(f"{field}.{model} must be a list of model names")
        out[str(model)] = targets
    return out


class RouterSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    routing_strategy: Strategy = "simple-shuffle"
    routing_strategy_args: dict[str, Any] = Field(default_factory=dict)
    num_retries: int = Field(default=2, ge=0, le=20)
    timeout: float | None = Field(default=None, gt=0)  # overall deadline across attempts
    stream_idle_timeout: float | None = Field(default=None, gt=0)  # gap allowed between chunks
    # Time to a stream's first byte for deployments without their own (LiteLLM's Router takes it).
    stream_timeout: float | None = Field(default=None, gt=0)
    retry_after: float = Field(default=0.0, ge=0)  # LiteLLM: minimum wait before a retry
    allowed_fails: int = Field(default=3, ge=0)
    allowed_fails_window: float = Field(default=60.0, gt=0)
    cooldown_time: float = Field(default=5.0, ge=0)
    disable_cooldowns: bool = False
    wait_for_cooldown: float = Field(default=0.0, ge=0)  # wait up to this long instead of failing
    retry_budget_ratio: float = Field(default=0.2, ge=0)  # retries may add this share of load
    retry_budget_min_per_s: float = Field(default=10.0, ge=0)
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    context_window_fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    content_policy_fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    default_fallbacks: list[str] = Field(default_factory=list)
    max_fallbacks: int = Field(default=5, ge=0)
    model_group_alias: dict[str, str] = Field(default_factory=dict)
    retry_policy: dict[str, int] = Field(default_factory=dict)
    allowed_fails_policy: dict[str, int] = Field(default_factory=dict)
    enable_pre_call_checks: bool = True
    background_health_checks: bool = False
    health_check_interval: float = Field(default=300.0, gt=0)

    @field_validator("fallbacks", "context_window_fallbacks", "content_policy_fallbacks", mode="before")
    @classmethod
    def _parse_fallbacks(cls, value: Any, info: Any) -> dict[str, list[str]]:
        return _fallback_map(value, info.field_name)

    @field_validator("model_group_alias", mode="before")
    @classmethod
    def _parse_alias(cls, value: Any) -> dict[str, str]:
        # LiteLLM also allows {"alias": {"model": "target", "hidden": true}}.
        if not isinstance(value, dict):
            return value
        return {k: (v.get("model") if isinstance(v, dict) else v) for k, v in value.items()}

    @field_validator("retry_policy", "allowed_fails_policy", mode="before")
    @classmethod
    def _parse_policy(cls, value: Any, info: Any) -> dict[str, int]:
        if not isinstance(value, dict):
            return value
        suffix = "Retries" if info.field_name == "retry_policy" else "AllowedFails"
        out = {}
        for key, count in value.items():
            family = str(key).removesuffix(suffix)
            if family not in ERROR_FAMILIES:
                raise ValueError(
                    f"{info.field_name}.{key}: unknown error type (expected one of "
                    f"{', '.join(f + suffix for f in ERROR_FAMILIES)})"
                )
            out[family] = int(count)
        return out


# Keys read from litellm_settings when router_settings does not give them.
SHARED_WITH_LITELLM_SETTINGS = (
    "num_retries",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "allowed_fails",
    "cooldown_time",
    "retry_policy",
    "allowed_fails_policy",
    "max_fallbacks",
)
# Keys of router_settings that belong to the shared-state layer, not the router.
STATE_KEYS = ("redis_host", "redis_port", "redis_password", "redis_url", "redis_db")
# LiteLLM router_settings that polyroute accepts and does not need (no effect, no warning).
QUIET_KEYS = ("enable_pre_call_checks", "cache_responses", "set_verbose", "debug_level")

"""The config file's schema: LiteLLM proxy config.yaml, as far as polyroute supports it.

Parsed once at start-up. Keys a section allows but polyroute does not act on are sorted by
config/key_report.py: LiteLLM's own names are reported as not supported yet, anything else as a
probable typo with the nearest known name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from polyroute.config.mock_settings import GENERAL_KEYS as MOCK_GENERAL_KEYS
from polyroute.config.server_limits import SERVER_LIMIT_KEYS, ServerLimitSettings
from polyroute.controller.settings import ControllerSettings


class LiteLLMParams(BaseModel):
    """`litellm_params` of one deployment. Extra keys are provider settings or request defaults."""

    model_config = ConfigDict(extra="allow")

    model: str
    api_base: str | None = None
    base_url: str | None = None  # alias of api_base some configs use
    api_key: str | None = None
    api_version: str | None = None
    organization: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)
    weight: float | None = Field(default=None, ge=0)
    order: int | None = Field(default=None, ge=1)
    extra_headers: dict[str, str] | None = None
    drop_params: bool | None = None
    configurable_clientside_auth_params: list[Any] | None = None
    # Send this deployment's own key to a client-chosen api_base (off: the client's key is required).
    allow_operator_key_with_client_base: bool = False

    @field_validator("model")
    @classmethod
    def _model_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a model, e.g. 'openai/gpt-4o'")
        return value.strip()


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_name: str
    litellm_params: LiteLLMParams
    model_info: dict[str, Any] = Field(default_factory=dict)
    # LiteLLM also accepts rpm/tpm beside litellm_params (the seed's user_config does this).
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)


class GeneralSettings(ServerLimitSettings):
    model_config = ConfigDict(extra="allow")

    master_key: str | None = None
    database_url: str | None = None
    max_request_size_mb: float | None = Field(default=None, gt=0)
    # LiteLLM's switch: clients may send api_key/api_base/api_version for every model (off by
    # default; a model's configurable_clientside_auth_params opens that model alone).
    allow_client_side_credentials: bool = False
    # A request's own router config (LiteLLM accepts it always). Unset: on for authenticated
    # callers (and loopback ones without a master key); true: for anyone; false: for no one.
    allow_user_config: bool | None = None
    # IPs, CIDR networks and host names a client-chosen URL may reach although they are not public.
    allowed_client_url_hosts: list[str] = Field(default_factory=list)
    user_config_max_deployments: int = Field(default=20, ge=1, le=200)
    user_config_max_bytes: int = Field(default=65536, ge=1024, le=4 * 1024 * 1024)
    # A request's max_tokens above the model's declared maximum output: lowered to it, or a 400.
    max_tokens_over_limit: Literal["clamp", "reject"] = "clamp"


class LiteLLMSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    drop_params: bool = False
    request_timeout: float | None = Field(default=None, gt=0)
    num_retries: int | None = Field(default=None, ge=0)
    # LiteLLM's integrations: "prometheus" (GET /metrics, always on here) and "otel" (traces).
    callbacks: list[str] = Field(default_factory=list)
    success_callback: list[str] = Field(default_factory=list)
    failure_callback: list[str] = Field(default_factory=list)


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_list: list[ModelEntry] = Field(default_factory=list)
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    litellm_settings: LiteLLMSettings = Field(default_factory=LiteLLMSettings)
    router_settings: dict[str, Any] = Field(default_factory=dict)
    controller_settings: ControllerSettings = Field(default_factory=ControllerSettings)
    environment_variables: dict[str, str] = Field(default_factory=dict)
    # LiteLLM's guardrails list, validated by polyroute.guardrails.config (one error per key).
    guardrails: list[Any] | None = None


# Keys polyroute acts on, per section. Everything else in a section is reported at start-up.
def _store_keys() -> set[str]:
    from polyroute.store.settings import STORE_KEYS

    return set(STORE_KEYS)


def _upstream_limit_keys() -> set[str]:
    from polyroute.providers.bounds import UPSTREAM_LIMIT_KEYS

    return set(UPSTREAM_LIMIT_KEYS)


SUPPORTED_GENERAL = {
    *_store_keys(),
    *SERVER_LIMIT_KEYS,
    *_upstream_limit_keys(),
    "master_key",
    "database_url",
    "max_request_size_mb",
    "background_health_checks",
    "health_check_interval",
    "allow_client_side_credentials",
    "allow_user_config",
    "allowed_client_url_hosts",
    "user_config_max_deployments",
    "user_config_max_bytes",
    "max_tokens_over_limit",
    *MOCK_GENERAL_KEYS,
}
SUPPORTED_LITELLM = {"drop_params", "request_timeout", "num_retries", "cache", "cache_params"}
SUPPORTED_CALLBACKS = {"prometheus", "otel"}
CALLBACK_FIELDS = ("callbacks", "success_callback", "failure_callback")
# Keys that are harmless to ignore: they only tune LiteLLM's own logging or UI.
QUIET_LITELLM = {"set_verbose", "json_logs"}


def _router_keys() -> tuple[set[str], set[str]]:
    from polyroute.router.settings import QUIET_KEYS, SHARED_WITH_LITELLM_SETTINGS, STATE_KEYS, RouterSettings

    router = set(RouterSettings.model_fields) | set(STATE_KEYS) | set(QUIET_KEYS)
    return router, set(SHARED_WITH_LITELLM_SETTINGS)


SUPPORTED_ROUTER, _SHARED = _router_keys()
SUPPORTED_LITELLM |= _SHARED

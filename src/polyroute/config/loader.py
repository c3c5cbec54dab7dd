"""Builds the gateway's runtime config from a config file (or none) and the environment.

Everything is parsed and validated here, once; the result is passed down explicitly. Errors are
`ConfigError`s with one line each that name the key, model or variable at fault.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from polyroute.auth.client_credentials import ClientCredentialSettings, ClientParamPolicy, compile_policy
from polyroute.auth.url_safety import UrlAllowlist
from polyroute.cache.settings import CacheSettings, cache_redis_settings, cache_settings
from polyroute.config.deployment_params import sort_params
from polyroute.config.env_models import env_model_entries, env_model_warnings, retired_key_notices
from polyroute.config.env_refs import MissingCredentialError, resolve
from polyroute.config.fastchat_endpoints import EndpointFileError, entries_from_endpoint_file
from polyroute.config.key_report import KeyReport, UnknownKey, report_keys
from polyroute.config.litellm_keys import LITELLM_PROVIDERS
from polyroute.config.mock_settings import BUILTIN_MOCK_ENTRY, MockSettings, mock_settings
from polyroute.config.schema import CALLBACK_FIELDS, ConfigFile, LiteLLMParams, ModelEntry
from polyroute.config.server_limits import ServerLimits
from polyroute.controller.settings import ControllerConfig, WorkerToken, fastchat_timings
from polyroute.protocol.openai_params import CLIENT_SECRET_PARAMS
from polyroute.providers.base import ProviderCall
from polyroute.providers.bounds import UPSTREAM_LIMIT_KEYS, UpstreamLimits
from polyroute.providers.registry import (
    get_adapter,
    get_spec,
    known_providers,
    provider_for_bare_model,
    setting_prefixes,
)
from polyroute.router.client_credentials import needs_client_key
from polyroute.router.deployment import Deployment
from polyroute.router.model_table import ModelTable
from polyroute.router.pricing import PRICE_FIELDS
from polyroute.router.settings import SHARED_WITH_LITELLM_SETTINGS, STATE_KEYS, RouterSettings
from polyroute.secrets import Redactor, Secret
from polyroute.store.settings import STORE_KEYS, StoreSettings

DEFAULT_MAX_BODY_MB = 32.0  # Anthropic's own request cap; base64 images need room
DEFAULT_MAX_JSON_DEPTH = 64

def _provider_setting(key: str, value: Any, env: Mapping[str, str], where: str, redactor: Redactor) -> Any:
    """A provider setting as the adapter reads it: `os.environ/NAME` resolved (LiteLLM configs
    name AWS and Vertex credentials so); a credential's value is redacted like an API key."""
    if not isinstance(value, str):
        return value
    try:
        value = resolve(value, env, where)
    except MissingCredentialError as exc:
        raise ConfigError(str(exc)) from exc
    if key in CLIENT_SECRET_PARAMS:
        redactor.add(value)
    return value


class ConfigError(Exception):
    """A config problem a user must fix; the message is one line naming what is wrong."""


@dataclass
class GatewayConfig:
    models: ModelTable
    master_key: Secret | None = None
    drop_params: bool = False
    request_timeout: float | None = None
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * 1024 * 1024)
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    limits: ServerLimits = field(default_factory=ServerLimits)  # headers, connections, admin bodies
    warnings: list[str] = field(default_factory=list)
    redactor: Redactor = field(default_factory=Redactor)
    source: str = "environment"
    database_url: str | None = None
    router: RouterSettings = field(default_factory=RouterSettings)
    state_settings: dict[str, Any] = field(default_factory=dict)  # redis_* keys, unresolved
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    env: Mapping[str, str] = field(default_factory=dict)
    client_credentials: ClientCredentialSettings = field(default_factory=ClientCredentialSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    upstream: UpstreamLimits = field(default_factory=UpstreamLimits)
    callbacks: frozenset[str] = frozenset()  # litellm_settings' integrations, lower case
    max_tokens_over_limit: str = "clamp"  # or "reject" (server/params.py)
    # Keys neither polyroute nor LiteLLM knows (typos): the CLI refuses them unless allowed.
    unknown_keys: list[UnknownKey] = field(default_factory=list)
    mock: MockSettings = field(default_factory=MockSettings)  # config/mock_settings.py
    guardrails: dict[str, Any] = field(default_factory=dict)  # name -> Guardrail (guardrails/config.py)
    cache: CacheSettings | None = None  # litellm_settings.cache / cache_params (cache/settings.py)


def read_config_file(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        # LiteLLM's docs show regexes such as "^https://x\.example" in double quotes, where YAML
        # reads backslashes as escapes.
        hint = (
            " (in double quotes YAML reads a backslash as an escape: write regexes in single quotes)"
            if "unknown escape character" in str(exc)
            else ""
        )
        raise ConfigError(
            f"{file} is not valid {'JSON' if file.suffix == '.json' else 'YAML'}: {exc}{hint}"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file} must hold a mapping at the top level")
    return data


def load_config(
    path: str | Path | None,
    env: Mapping[str, str],
    endpoint_file: str | Path | None = None,
) -> GatewayConfig:
    """The runtime config. With neither file, models come from provider keys in `env`."""
    raw = read_config_file(path) if path else {}
    warnings: list[str] = []
    if (
        path
        and "model_list" not in raw
        and raw
        and all(isinstance(v, dict) and "api_type" in v for v in raw.values())
    ):
        endpoint_data, raw = raw, {}  # a FastChat endpoint file given as --config
    else:
        endpoint_data = read_config_file(endpoint_file) if endpoint_file else None
    try:
        config = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_first_validation_error(exc)) from exc
    report = report_keys(config)
    # LiteLLM's environment_variables section: values the config itself provides.
    merged_env = {**env, **{k: str(v) for k, v in config.environment_variables.items()}}
    warnings += retired_key_notices(merged_env)

    entries = list(config.model_list)
    if endpoint_data is not None:
        try:
            extra, endpoint_warnings = entries_from_endpoint_file(endpoint_data)
        except EndpointFileError as exc:
            raise ConfigError(str(exc)) from exc
        warnings += endpoint_warnings
        entries += [ModelEntry.model_validate(e) for e in extra]
    if not path and endpoint_data is None:
        entries = [ModelEntry.model_validate(e) for e in env_model_entries(merged_env)]
        warnings += env_model_warnings(merged_env)
    try:
        mock = mock_settings(config.general_settings.model_extra or {}, merged_env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if mock.allow_client_mock_response:
        warnings.append(
            "per-request mock_response is on for every model (allow_client_mock_response): a test "
            "setting; mocked answers are billed at the model's prices"
        )
    if mock.builtin_mock_model and not any(e.model_name == "mock-gpt" for e in entries):
        entries.append(ModelEntry.model_validate(BUILTIN_MOCK_ENTRY))  # the README's examples use it

    redactor = Redactor()
    general = config.general_settings
    policies = _client_policies(entries, general.allow_client_side_credentials, warnings)
    deployments = [
        _build_deployment(i, entry, merged_env, redactor, config.litellm_settings.drop_params, policy, report)
        for i, (entry, policy) in enumerate(zip(entries, policies, strict=True))
    ]
    warnings += [f"config key '{key}' is not supported yet and is ignored" for key in report.unsupported]
    master = _master_key(config, merged_env, redactor)
    controller = _controller_config(config, merged_env, redactor)
    router_settings = _router_settings(config)
    guardrails = _guardrails(config, merged_env, redactor)
    client_settings = _client_credentials(config, deployments)
    cache = _cache_settings(config, merged_env, redactor, warnings)
    max_mb = general.max_request_size_mb or float(
        env.get("POLYROUTE_MAX_REQUEST_SIZE_MB") or DEFAULT_MAX_BODY_MB
    )
    return GatewayConfig(
        models=ModelTable(deployments),
        master_key=master,
        drop_params=config.litellm_settings.drop_params,
        request_timeout=config.litellm_settings.request_timeout,
        max_body_bytes=int(max_mb * 1024 * 1024),
        limits=ServerLimits.from_settings(general),
        warnings=warnings,
        unknown_keys=report.unknown,
        redactor=redactor,
        source=str(path or endpoint_file or "environment"),
        database_url=resolve(
            general.database_url, merged_env, "general_settings.database_url", required=False
        )
        or env.get("DATABASE_URL"),
        router=router_settings,
        store=_store_settings(config),
        upstream=_upstream_limits(config),
        state_settings={k: v for k, v in config.router_settings.items() if k in STATE_KEYS},
        controller=controller,
        env=merged_env,
        client_credentials=client_settings,
        max_tokens_over_limit=general.max_tokens_over_limit,
        mock=mock,
        guardrails=guardrails,
        cache=cache,
        callbacks=frozenset(
            value.lower() for name in CALLBACK_FIELDS for value in getattr(config.litellm_settings, name)
        ),
    )


def _client_policies(
    entries: list[ModelEntry], any_model: bool, warnings: list[str]
) -> list[ClientParamPolicy | None]:
    """Each entry's configurable_clientside_auth_params (its own opt-in, as in LiteLLM), widened
    by general_settings.allow_client_side_credentials when that is on."""
    policies = []
    for entry in entries:
        params = entry.litellm_params
        where = f"model '{entry.model_name}'"
        try:
            policy, policy_warnings = compile_policy(
                params.configurable_clientside_auth_params,
                params.allow_operator_key_with_client_base,
                where,
                any_model,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        warnings += policy_warnings
        policies.append(policy)
    return policies


def _client_credentials(config: ConfigFile, deployments: list[Deployment]) -> ClientCredentialSettings:
    """general_settings' switches for client-side credentials and user_config."""
    general = config.general_settings
    try:
        allowlist = UrlAllowlist.parse(general.allowed_client_url_hosts)
    except ValueError as exc:
        raise ConfigError(f"general_settings.allowed_client_url_hosts: {exc}") from exc
    return ClientCredentialSettings(
        any_model=general.allow_client_side_credentials,
        user_config=general.allow_user_config,
        allowlist=allowlist,
        client_key_models=any(needs_client_key(d) for d in deployments),
        max_user_config_deployments=general.user_config_max_deployments,
        max_user_config_bytes=general.user_config_max_bytes,
    )


def _controller_config(config: ConfigFile, env: Mapping[str, str], redactor: Redactor) -> ControllerConfig:
    """controller_settings with tokens resolved (and registered as secrets) and FastChat's env vars."""
    import re

    settings = config.controller_settings
    tokens = []
    for i, entry in enumerate(settings.worker_tokens):
        where = f"controller_settings.worker_tokens[{i}].token"
        try:
            value = resolve(entry.token, env, where)
        except MissingCredentialError as exc:
            raise ConfigError(str(exc)) from exc
        if not value:
            raise ConfigError(f"{where} is empty")
        redactor.add(value)
        models = frozenset(entry.models) if entry.models is not None else None
        source = entry.token if entry.token.startswith("os.environ/") else where
        tokens.append(WorkerToken(Secret(value, source), models))
    try:
        timings = fastchat_timings(env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    allowed = settings.allowed_worker_addresses
    dispatch = (
        env.get("POLYROUTE_DISPATCH_METHOD") or settings.dispatch_method
    )  # `controller --dispatch-method`
    if dispatch not in ("lottery", "shortest_queue"):
        raise ConfigError(f"dispatch method must be lottery or shortest_queue, not {dispatch!r}")
    return ControllerConfig(
        dispatch_method=dispatch,  # type: ignore[arg-type]
        tokens=tokens,
        allowed_addresses=[re.compile(p) for p in allowed] if allowed is not None else None,
        worker_order=settings.worker_order,
        max_workers=settings.max_workers,
        max_workers_per_token=settings.max_workers_per_token,
        max_registrations_per_minute=settings.max_registrations_per_minute,
        heart_beat_expiration_s=timings["heart_beat_expiration_s"],
        worker_api_timeout_s=timings["worker_api_timeout_s"],
        embedding_batch_size=int(timings["embedding_batch_size"]),
    )


def _guardrails(config: ConfigFile, env: Mapping[str, str], redactor: Redactor) -> dict[str, Any]:
    if config.guardrails is None:
        return {}  # and the guardrails' code stays out of the process
    from polyroute.guardrails.config import build_guardrails

    try:
        return build_guardrails(config.guardrails, env, redactor)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _store_settings(config: ConfigFile) -> StoreSettings:
    general = config.general_settings.model_extra or {}
    try:
        return StoreSettings.model_validate({k: v for k, v in general.items() if k in STORE_KEYS})
    except ValidationError as exc:
        raise ConfigError(_first_validation_error(exc, prefix="general_settings")) from exc


def _cache_settings(
    config: ConfigFile, merged_env: Mapping[str, str], redactor: Redactor, warnings: list[str]
) -> CacheSettings | None:
    """litellm_settings.cache / cache_params (LiteLLM's names; docs/caching.md)."""
    try:
        settings = cache_settings(config.litellm_settings.model_extra or {})
    except ValidationError as exc:
        raise ConfigError(_first_validation_error(exc, prefix="litellm_settings.cache_params")) from exc
    if settings is None:
        return None
    problems = settings.problems()
    if problems:
        raise ConfigError(problems[0])
    if settings.type in ("redis", "redis-semantic"):
        redis_keys = {k: v for k, v in config.router_settings.items() if k in STATE_KEYS}
        try:
            redis = cache_redis_settings(settings, redis_keys, merged_env)
        except (ValueError, MissingCredentialError) as exc:
            raise ConfigError(str(exc)) from exc
        redactor.add(redis.get("redis_password"))
    model = settings.embedding_model if settings.semantic else None
    if model is not None and not any(entry.model_name == model for entry in config.model_list):
        raise ConfigError(
            f"litellm_settings.cache_params: embedding model '{model}' is not a model_list model_name"
        )
    warnings += [
        f"litellm_settings.cache_params.supported_call_types: '{name}' is not cached yet (only "
        "chat and text completions are)"
        for name in settings.unsupported_call_types()
    ]
    return settings


def _upstream_limits(config: ConfigFile) -> UpstreamLimits:
    general = config.general_settings.model_extra or {}
    try:
        return UpstreamLimits.model_validate({k: v for k, v in general.items() if k in UPSTREAM_LIMIT_KEYS})
    except ValidationError as exc:
        raise ConfigError(_first_validation_error(exc, prefix="general_settings")) from exc


def _router_settings(config: ConfigFile) -> RouterSettings:
    """router_settings, with LiteLLM's litellm_settings fallbacks for the keys both accept."""
    merged: dict[str, Any] = {}
    litellm = config.litellm_settings.model_dump() | (config.litellm_settings.model_extra or {})
    for key in SHARED_WITH_LITELLM_SETTINGS:
        if litellm.get(key) is not None:
            merged[key] = litellm[key]
    general = config.general_settings.model_extra or {}
    for key in ("background_health_checks", "health_check_interval"):
        if general.get(key) is not None:
            merged[key] = general[key]
    merged.update({k: v for k, v in config.router_settings.items() if k not in STATE_KEYS})
    try:
        return RouterSettings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_first_validation_error(exc, prefix="router_settings")) from exc


def _master_key(config: ConfigFile, env: Mapping[str, str], redactor: Redactor) -> Secret | None:
    try:
        value = resolve(config.general_settings.master_key, env, "general_settings.master_key")
    except MissingCredentialError as exc:
        raise ConfigError(str(exc)) from exc
    source = "general_settings.master_key"
    if not value:
        # POLYROUTE_MASTER_KEY, or LiteLLM's variable for users who move over.
        for name in ("POLYROUTE_MASTER_KEY", "LITELLM_MASTER_KEY"):
            if env.get(name):
                value, source = env[name], name
                break
    if not value:
        return None
    redactor.add(value)
    return Secret(value, source)


def split_provider(model: str, has_api_base: bool, model_name: str) -> tuple[str, str]:
    """('anthropic', 'claude-x') from 'anthropic/claude-x'; infers a provider for bare names."""
    head, sep, rest = model.partition("/")
    if sep and get_spec(head) is not None:
        return head, rest
    if sep and head in LITELLM_PROVIDERS:
        # LiteLLM's vllm/ runs the model in-process; a vLLM server is hosted_vllm/ in both.
        server = " (a vLLM server is 'hosted_vllm/<model>' with its api_base)" if head == "vllm" else ""
        raise ConfigError(
            f"model '{model_name}': provider '{head}' is not supported by polyroute yet (LiteLLM's "
            f"'{head}/' models need an adapter polyroute does not have){server}. Supported: "
            + ", ".join(p for p in known_providers() if not p.startswith("polyroute"))
        )
    provider = provider_for_bare_model(model)  # LiteLLM's inference from the specs' prefixes
    if provider is not None:
        return provider, model
    if has_api_base:
        return "openai", model  # any OpenAI-compatible server reached by its base URL
    raise ConfigError(
        f"model '{model_name}': cannot tell the provider of '{model}'; write it as 'provider/model' "
        f"(e.g. 'openai/{model}') or give an api_base"
    )


def build_deployment(
    index: int,
    entry: ModelEntry,
    env: Mapping[str, str],
    redactor: Redactor,
    global_drop: bool,
    report: KeyReport | None = None,
) -> Deployment:
    """One deployment from a validated model_list entry (also used for a request's user_config,
    with an empty `env` so no operator variable can be read into it). Its litellm_params keys
    polyroute does not act on go to `report`."""
    return _build_deployment(index, entry, env, redactor, global_drop, None, report or KeyReport())


def _build_deployment(
    index: int,
    entry: ModelEntry,
    env: Mapping[str, str],
    redactor: Redactor,
    global_drop: bool,
    client_policy: ClientParamPolicy | None,
    report: KeyReport,
) -> Deployment:
    params: LiteLLMParams = entry.litellm_params
    where = f"model '{entry.model_name}'"
    api_base = params.api_base or params.base_url
    provider, upstream_model = split_provider(params.model, bool(api_base), entry.model_name)
    adapter = get_adapter(provider)
    assert adapter is not None  # split_provider only returns registered providers
    try:
        api_key = resolve(params.api_key, env, where)
        api_base = resolve(api_base, env, where)
        api_version = resolve(params.api_version, env, where)
    except MissingCredentialError as exc:
        raise ConfigError(str(exc)) from exc
    spec = adapter.spec
    if not api_key and (found := spec.key_from(env)):
        api_key = found[1]
    client_key = client_policy is not None and client_policy.allows("api_key")
    if (
        not api_key
        and not spec.key_optional
        and not (api_base and provider.startswith("openai"))
        and not client_key  # served to requests that bring their own api_key only
    ):
        variable = spec.key_env[0] if spec.key_env else "api_key"
        raise ConfigError(f"{where} needs an API key: set {variable} or litellm_params.api_key")
    api_base = api_base or spec.base_from(env)
    api_version = api_version or spec.version_from(env)
    redactor.add(api_key)
    try:
        params_sorted = sort_params(
            params.model_extra or {},
            adapter.name,
            set(LiteLLMParams.model_fields),
            spec.setting_prefixes,
            setting_prefixes(),
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: litellm_params.{exc}") from None
    prefix = f"model_list[{index}].litellm_params."
    report.unsupported += [prefix + key for key in params_sorted.unsupported]
    hint = (
        f"; it is not a documented param of provider '{adapter.name}' and is not sent "
        "(fields to send as they are go under litellm_params.extra_body)"
    )
    report.unknown += [UnknownKey(prefix + key, near, hint) for key, near in params_sorted.unknown]
    extras = {
        key: _provider_setting(key, value, env, f"{where} litellm_params.{key}", redactor)
        for key, value in params_sorted.extras.items()
    }
    for key, value in spec.settings_from(env).items():
        extras.setdefault(key, value)  # YANDEXGPT_FOLDER_ID for folder_id, ...
    call = ProviderCall(
        provider=adapter.name,
        model=upstream_model,
        api_base=api_base,
        api_key=Secret(
            api_key, params.api_key if params.api_key and params.api_key.startswith("os.environ/") else None
        )
        if api_key
        else None,
        api_version=api_version,
        organization=params.organization,
        extra_headers=dict(params.extra_headers or {}),
        extras=extras,
        defaults=params_sorted.defaults,
    )
    try:
        adapter.check_call(call)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    info = dict(entry.model_info)
    _check_prices(info, where)
    deployment_id = str(
        info.get("id") or _stable_id(index, entry.model_name, provider, upstream_model, api_base)
    )
    return Deployment(
        id=deployment_id,
        model_name=entry.model_name,
        adapter=adapter,
        call=call,
        timeout=params.timeout,
        stream_timeout=params.stream_timeout,
        max_retries=params.max_retries,
        rpm=params.rpm if params.rpm is not None else entry.rpm,
        tpm=params.tpm if params.tpm is not None else entry.tpm,
        weight=params.weight,
        order=params.order,
        drop_params=params.drop_params,
        model_info=info,
        wildcard="*" in entry.model_name,
        client_policy=client_policy,
    )


def _check_prices(info: Mapping[str, Any], where: str) -> None:
    """Prices are USD per token, never negative: a negative price would lower a budget's spend."""
    for name in PRICE_FIELDS:
        value = info.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
            raise ConfigError(
                f"{where}: model_info.{name} must be a number >= 0 (USD per token), not {value!r}"
            )


def _stable_id(index: int, *parts: str | None) -> str:
    digest = hashlib.sha256("\x1f".join(p or "" for p in (str(index), *parts)).encode()).hexdigest()
    return digest[:16]


def _first_validation_error(exc: ValidationError, prefix: str | None = None) -> str:
    problems = []
    for error in exc.errors()[:3]:
        location = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(error["loc"]))
        problems.append(f"{location}: {error['msg']}")
    more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "invalid config: " + "; ".join(problems) + more

"""`user_config`: a router config a client sends with one request (LiteLLM's clientside model list).

The body field holds a `model_list` (entries as in config.yaml) and router keys (`num_retries`,
`allowed_fails`, `fallbacks`, timeouts, ...). It is validated with the config file's own schema
(`ModelEntry`, `RouterSettings`), bounded in bytes and deployments, and built without the
operator's environment: `os.environ/` references are refused and no provider variable fills in a
missing key or base URL, so a client can neither read the operator's secrets nor borrow them.

Building a router for every request would be slow, so routers are cached (a bounded LRU). The
cache key is a hash of the config with every secret (api_key, credential params, extra_headers
values) replaced by a placeholder, plus a keyed hash (HMAC with a per-process random salt) of the
secrets and the caller's identity: a repeat request reuses its router, while different keys or
callers never share one, nor its cooldowns. The cached router holds no secret: this request's
secrets are attached to its deployments per attempt (`attach_secrets`). Each router has its own
MemoryState, so nothing is shared with the operator's router or with other configs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from polyroute.auth.client_credentials import ClientCredentialSettings
from polyroute.auth.cloud_settings import (
    REFUSED_FROM_CLIENTS,
    URL_SETTINGS,
    check_client_setting,
    client_vertex_credentials,
    missing_own_credentials,
)
from polyroute.auth.url_safety import parse_client_url
from polyroute.config.env_refs import PREFIX as ENV_PREFIX
from polyroute.errors import InvalidRequestError, PayloadTooLargeError, invalid_value
from polyroute.protocol.openai_params import CLIENT_SECRET_PARAMS, CLIENT_URL_PARAMS
from polyroute.router.deployment import Deployment
from polyroute.router.engine import Router, RouterEvents
from polyroute.router.model_table import ModelTable
from polyroute.router.pricing import PRICE_FIELDS
from polyroute.router.settings import RouterSettings
from polyroute.secrets import Redactor, Secret
from polyroute.state.memory import MemoryState

# Router keys a client may set, as LiteLLM's RouterConfig names them; others are refused by name
# (redis_* would make the gateway connect where a client says; retry budgets protect the gateway).
USER_ROUTER_KEYS = frozenset(
    {
        "num_retries",
        "timeout",
        "stream_idle_timeout",
        "allowed_fails",
        "allowed_fails_window",
        "allowed_fails_policy",
        "retry_policy",
        "cooldown_time",
        "disable_cooldowns",
        "wait_for_cooldown",
        "retry_after",
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "default_fallbacks",
        "max_fallbacks",
        "routing_strategy",
        "routing_strategy_args",
        "model_group_alias",
        "enable_pre_call_checks",
    }
)
IGNORED_KEYS = frozenset({"set_verbose", "debug_level", "cache_responses"})
# Caps on what one request may make the gateway do (each attempt may be one outbound request).
LIMITS: Mapping[str, float] = {
    "num_retries": 5,
    "max_fallbacks": 5,
    "timeout": 600,
    "stream_idle_timeout": 600,
    "retry_after": 30,
    "wait_for_cooldown": 30,
    "cooldown_time": 3600,
    "allowed_fails_window": 3600,
}
PLACEHOLDER = "polyroute:client-secret"
# Headers a client may not set on its upstream requests: they belong to the HTTP connection.
_FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive"}
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,8192}")
_SECRET_VALUE = re.compile(r"[\x21-\x7e]{1,8192}")
DEFAULT_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class DeploymentSecrets:
    """One user_config deployment's secrets, for one request only."""

    api_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    extras: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return "DeploymentSecrets(****)"


@dataclass(frozen=True, slots=True)
class UserConfigRequest:
    """A request's user_config split into its shape (no secrets) and its secrets (by position)."""

    shape: dict[str, Any]
    secrets: tuple[DeploymentSecrets, ...]
    shape_digest: str

    def secret_values(self) -> list[str]:
        out: list[str] = []
        for s in self.secrets:
            out += [v for v in (s.api_key, *s.headers.values(), *s.extras.values()) if v]
        return out


# ---- splitting and checking the body field -------------------------------------------------------


def _refuse_env_refs(value: Any, path: str) -> None:
    """No `os.environ/` value anywhere: a client must not make the gateway read its environment."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if node.strip().startswith(ENV_PREFIX):
                raise invalid_value(where, "os.environ/ references are not accepted in user_config")
        elif isinstance(node, dict):
            stack.extend((v, f"{where}.{k}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))


def _secret(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _SECRET_VALUE.fullmatch(value):
        raise invalid_value(where, "expected a non-empty string of printable ASCII without spaces")
    return value


def _refuse_client_prices(info: Any, where: str) -> None:
    """A client does not set what its requests cost: the gateway bills a virtual key's budget
    from its own price table, so a price in user_config is refused by name, never used."""
    if not isinstance(info, dict):
        return
    for name in PRICE_FIELDS:
        if name in info:
            raise InvalidRequestError(
                f"'{where}.model_info.{name}' is not accepted in a request's user_config: requests "
                "are priced from the gateway's own price table",
                param=f"{where}.model_info.{name}",
                code="unsupported_parameter",
            )


def _split_entry(entry: Any, where: str) -> tuple[dict[str, Any], DeploymentSecrets]:
    if not isinstance(entry, dict):
        raise invalid_value(where, "expected a model_list entry object")
    params = entry.get("litellm_params")
    if not isinstance(params, dict):
        raise invalid_value(f"{where}.litellm_params", "expected an object with at least 'model'")
    _refuse_client_prices(entry.get("model_info"), where)
    shape = dict(params)
    at = f"{where}.litellm_params"
    api_key = None
    if shape.get("api_key") is not None:
        api_key = _secret(shape["api_key"], f"{at}.api_key")
        shape["api_key"] = PLACEHOLDER
    for name in shape.keys() & (REFUSED_FROM_CLIENTS.keys() | URL_SETTINGS.keys()):
        check_client_setting(name, shape[name], f"{at}.{name}")  # lands in a URL, or is refused
    extras: dict[str, str] = {}
    for name in sorted(CLIENT_SECRET_PARAMS - {"api_key"}):
        if shape.get(name) is not None:
            if name == "vertex_credentials":  # a JSON document exchanged at Google's only, never a path
                extras[name] = client_vertex_credentials(shape[name], f"{at}.{name}")
            else:
                extras[name] = _secret(shape[name], f"{at}.{name}")
            shape[name] = PLACEHOLDER
    for name in sorted(CLIENT_URL_PARAMS - {"api_base", "base_url"}):
        if shape.get(name) is not None:  # the provider's own spelling of a base URL: checked alike
            shape[name] = parse_client_url(shape[name], f"{at}.{name}").text
    headers: dict[str, str] = {}
    if shape.get("extra_headers") is not None:
        given = shape["extra_headers"]
        if not isinstance(given, dict):
            raise invalid_value(f"{at}.extra_headers", "expected an object of header names to values")
        for name, value in given.items():
            if not _HEADER_NAME.fullmatch(name) or name.lower() in _FORBIDDEN_HEADERS:
                raise invalid_value(f"{at}.extra_headers", f"header '{name[:64]}' may not be set")
            if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
                raise invalid_value(f"{at}.extra_headers.{name}", "expected printable ASCII")
            headers[name] = value
        shape["extra_headers"] = dict.fromkeys(headers, PLACEHOLDER)
    bases = [k for k in ("api_base", "base_url") if shape.get(k) is not None]
    if len(bases) > 1:
        raise invalid_value(f"{at}.base_url", "send only one of api_base and base_url")
    if bases:
        # Normalised here, so equivalent spellings share a router and the router uses this form.
        shape["api_base"] = parse_client_url(shape.pop(bases[0]), f"{at}.{bases[0]}").text
    return {**entry, "litellm_params": shape}, DeploymentSecrets(api_key, headers, extras)


def split_user_config(raw: Any, settings: ClientCredentialSettings) -> UserConfigRequest:
    """Checks the body's user_config (400/413 naming the field) and splits out its secrets."""
    if not isinstance(raw, dict):
        raise invalid_value("user_config", "expected an object with a model_list")
    size = len(orjson.dumps(raw))
    if size > settings.max_user_config_bytes:
        raise PayloadTooLargeError(
            f"user_config is {size} bytes; this gateway accepts up to {settings.max_user_config_bytes}",
            param="user_config",
        )
    for key in raw:
        if key != "model_list" and key not in USER_ROUTER_KEYS and key not in IGNORED_KEYS:
            raise InvalidRequestError(
                f"'user_config.{key}' is not accepted in a request's user_config",
                param=f"user_config.{key}",
                code="unsupported_parameter",
            )
    _refuse_env_refs(raw, "user_config")
    model_list = raw.get("model_list")
    if not isinstance(model_list, list) or not model_list:
        raise invalid_value("user_config.model_list", "expected a non-empty list of deployments")
    if len(model_list) > settings.max_user_config_deployments:
        raise invalid_value(
            "user_config.model_list",
            f"at most {settings.max_user_config_deployments} deployments are accepted per request",
        )
    entries, secrets = [], []
    for i, entry in enumerate(model_list):
        shape, secret = _split_entry(entry, f"user_config.model_list[{i}]")
        entries.append(shape)
        secrets.append(secret)
    shape = {k: v for k, v in raw.items() if k not in IGNORED_KEYS} | {"model_list": entries}
    digest = hashlib.sha256(orjson.dumps(shape, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return UserConfigRequest(shape, tuple(secrets), digest)


# ---- building a router ---------------------------------------------------------------------------------


def _validation_error(exc: ValidationError, prefix: str) -> InvalidRequestError:
    error = exc.errors()[0]
    location = ".".join([prefix, *(str(p) for p in error["loc"])])
    return InvalidRequestError(f"Invalid value for '{location}': {error['msg']}", param=location)


def _user_settings(shape: dict[str, Any]) -> RouterSettings:
    given = {k: v for k, v in shape.items() if k != "model_list"}
    try:
        settings = RouterSettings.model_validate(given)
    except ValidationError as exc:
        raise _validation_error(exc, "user_config") from None
    for key, cap in LIMITS.items():
        value = getattr(settings, key)
        if value is not None and value > cap:
            raise invalid_value(f"user_config.{key}", f"at most {cap:g} is accepted per request")
    # Per-error retries are retries too: without this cap a retry_policy would let one request
    # make the gateway send dozens of requests to a URL the client chose.
    for family, retries in settings.retry_policy.items():
        if not 0 <= retries <= LIMITS["num_retries"]:
            raise invalid_value(
                f"user_config.retry_policy.{family}Retries",
                f"from 0 to {LIMITS['num_retries']:g} retries are accepted per request",
            )
    return settings


def _user_deployment(index: int, raw: dict[str, Any], drop_params: bool) -> Deployment:
    from polyroute.config.key_report import KeyReport
    from polyroute.config.loader import ConfigError, build_deployment
    from polyroute.config.schema import ModelEntry

    where = f"user_config.model_list[{index}]"
    try:
        entry = ModelEntry.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(exc, where) from None
    for name in ("timeout", "stream_timeout"):
        # The router keys' caps hold per deployment too: a client's slow upstream cannot hold a
        # gateway connection longer than the operator allows any request.
        value, cap = getattr(entry.litellm_params, name), LIMITS["timeout"]
        if value is not None and value > cap:
            raise invalid_value(f"{where}.litellm_params.{name}", f"at most {cap:g} is accepted per request")
    report = KeyReport()
    try:
        deployment = build_deployment(index, entry, {}, Redactor(), drop_params, report)
    except ConfigError as exc:
        if entry.litellm_params.api_key is None and "needs an API key" in str(exc):
            # The loader's message names the operator's variable; a client can only send a key.
            raise InvalidRequestError(
                f"'{where}.litellm_params.api_key' is required for this provider (user_config "
                "deployments never use the gateway's own keys)",
                param=f"{where}.litellm_params.api_key",
                code="missing_required_parameter",
            ) from None
        raise InvalidRequestError(f"Invalid value for '{where}': {exc}", param=where) from None
    missing = missing_own_credentials(deployment.adapter.name, raw["litellm_params"])
    if missing is not None:
        # Without them the cloud library would sign with the gateway's ambient identity (its
        # environment, profile files, instance role or ADC): the operator's account.
        raise InvalidRequestError(
            f"'{where}.litellm_params.{missing}' is required for {deployment.adapter.name} in "
            "user_config (client-defined deployments never use the gateway's own cloud credentials)",
            param=f"{where}.litellm_params.{missing}",
            code="missing_required_parameter",
        )
    if report.unknown:
        # A key no provider documents is never sent on (a misspelled api_key would be).
        key = report.unknown[0]
        param = f"user_config.{key.path}"
        raise InvalidRequestError(
            f"'{param}' is not a key polyroute or LiteLLM knows"
            + (f" (did you mean '{key.near}'?)" if key.near else "")
            + "; fields to send as they are go under litellm_params.extra_body",
            param=param,
            code="unsupported_parameter",
        )
    call = deployment.call
    call = dataclasses.replace(
        call,
        api_key=None,  # placeholders out: the cached router holds no secret of any client
        extra_headers={},
        extras={k: v for k, v in call.extras.items() if v != PLACEHOLDER},
        client_url_param=f"{where}.litellm_params.{_url_field(raw['litellm_params'])}",
    )
    # The position prefix lets an attempt find its secrets, wildcard copies included.
    return dataclasses.replace(
        deployment,
        id=f"u{index}.{deployment.id}",
        call=call,
        client_policy=None,
        model_info=_capped_output(deployment),
    )


def _url_field(params: Mapping[str, Any]) -> str:
    """The field that chose this deployment's URL, named when the URL is refused."""
    if params.get("api_base") is None and params.get("aws_bedrock_runtime_endpoint") is not None:
        return "aws_bedrock_runtime_endpoint"
    return "api_base"


def _capped_output(deployment: Deployment) -> dict[str, Any]:
    """model_info with the client's declared maximum output no larger than the shipped table's
    for its model: max_tokens is clamped to the declared maximum before it is sent, and a key's
    budget reservation counts the table's (a client's config cannot raise either)."""
    from polyroute.spend.cost import declared_max_output

    info = dict(deployment.model_info)
    table_bound = declared_max_output(dataclasses.replace(deployment, model_info={}))
    if table_bound is not None:
        for name in ("max_output_tokens", "max_tokens"):
            value = info.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > table_bound:
                info[name] = table_bound
    return info


def build_user_router(
    request: UserConfigRequest, drop_params: bool, events: RouterEvents | None = None
) -> Router:
    """A router of the client's deployments, with its own in-process state."""
    settings = _user_settings(request.shape)
    deployments = [
        _user_deployment(i, entry, drop_params) for i, entry in enumerate(request.shape["model_list"])
    ]
    router = Router(ModelTable(deployments), settings, MemoryState(), events=events)
    router.client_chosen_names = True
    return router


def attach_secrets(deployment: Deployment, secrets: tuple[DeploymentSecrets, ...]) -> Deployment:
    """This request's copy of a cached user_config deployment, with the client's secrets."""
    slot = secrets[int(deployment.id[1 : deployment.id.index(".")])]
    call = dataclasses.replace(
        deployment.call,
        api_key=Secret(slot.api_key, source="client") if slot.api_key else None,
        extra_headers=dict(slot.headers),
        extras={**deployment.call.extras, **slot.extras},
    )
    return dataclasses.replace(deployment, call=call)


# ---- the cache -------------------------------------------------------------------------------------------


class RouterCache:
    """A bounded LRU of per-request routers, keyed by content and (keyed hash of) secrets."""

    def __init__(self, limit: int = DEFAULT_CACHE_SIZE, events: RouterEvents | None = None) -> None:
        self._limit = limit
        self._events = events  # what the routers built here report to (the server's metrics)
        self._routers: OrderedDict[str, Router] = OrderedDict()
        self._salt = os.urandom(32)  # per process: the keyed hashes mean nothing elsewhere

    def __len__(self) -> int:
        return len(self._routers)

    def routers(self) -> list[Router]:
        return list(self._routers.values())

    def key(self, shape_digest: str, secrets: Iterable[str], principal: str) -> str:
        mac = hmac.new(self._salt, digestmod=hashlib.sha256)
        for value in (principal, *secrets):
            encoded = value.encode()
            mac.update(len(encoded).to_bytes(4, "big") + encoded)
        return f"{shape_digest}:{mac.hexdigest()}"

    def get_or_build(self, key: str, build: Callable[[], Router]) -> Router:
        router = self._routers.get(key)
        if router is None:
            router = build()  # raises on an invalid config: nothing is cached then
            self._routers[key] = router
            while len(self._routers) > self._limit:
                self._routers.popitem(last=False)
        self._routers.move_to_end(key)
        return router

    def user_router(self, request: UserConfigRequest, principal: str, drop_params: bool) -> Router:
        key = self.key(request.shape_digest, request.secret_values(), principal)
        return self.get_or_build(key, lambda: build_user_router(request, drop_params, self._events))

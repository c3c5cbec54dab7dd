"""A request's client-side credentials and user_config, turned into the router and per-attempt
deployment changes it runs with. Everything here runs before the router picks a deployment, so
a refused request never opens an upstream connection.

A request with neither (the usual case) costs one pass over its body keys and gets `None`: it
runs on the gateway's router, unchanged. A request with either runs on a router of its own
(cached by content, see config/user_config.py) whose health and limits live in their own
memory: a client's bad key or dead URL cannot cool down the operator's deployments for everyone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from polyroute.auth.client_credentials import ClientParams, parse_client_params
from polyroute.auth.context import ANONYMOUS, AuthContext
from polyroute.config.user_config import LIMITS as USER_CONFIG_LIMITS
from polyroute.config.user_config import UserConfigRequest, attach_secrets, split_user_config
from polyroute.errors import GatewayError, InvalidRequestError, RefusedParamError
from polyroute.observability.router_metrics import ROUTER_METRICS
from polyroute.protocol.openai_params import CLIENT_CREDENTIAL_PARAMS
from polyroute.router.client_credentials import apply_client_params, check_allowed, needs_client_key
from polyroute.router.deployment import Deployment
from polyroute.router.engine import Router
from polyroute.secrets import Secret
from polyroute.server.http import Request
from polyroute.server.state import AppState
from polyroute.spend.cost import reservation_group
from polyroute.state.memory import MemoryState

log = logging.getLogger("polyroute.client_credentials")

CLIENT_REQUEST_KEYS = CLIENT_CREDENTIAL_PARAMS | {"user_config"}
MAX_CLIENT_RETRIES = int(USER_CONFIG_LIMITS["num_retries"])


@dataclass(frozen=True, slots=True)
class ClientScope:
    router: Router
    # This request's copy of a chosen deployment, carrying the client's values (its secrets are
    # scrubbed from errors by server/relay.py like any deployment's).
    prepare: Callable[[Deployment], Deployment]


def client_scope(request: Request, state: AppState, body: dict[str, Any]) -> ClientScope | None:
    """The scope of a request that carries client credentials or a user_config; None otherwise.
    Raises the 403/400/413 that refuses them (naming the param) before anything is sent."""
    sent = [key for key in body if key in CLIENT_REQUEST_KEYS and body[key] is not None]
    sent += _fallback_credentials(body)
    if not sent:
        if state.config.client_credentials.client_key_models:
            _require_client_key(state, body)
        return None
    auth = request.auth or ANONYMOUS
    why = _refusal(state, auth, sent)
    if why is not None:
        log.info(
            "refused client credentials: request=%s param=%s reason=disabled", request.request_id, sent[0]
        )
        raise RefusedParamError(
            f"'{sent[0]}' is a client-side credential param, and {why}",
            param=sent[0],
            code="client_side_credentials_disabled",
        )
    nested = [key for key in sent if "[" in key]
    if nested:
        # Never silently run a fallback with the operator's credentials when the client sent its own.
        raise InvalidRequestError(
            f"'{nested[0]}': credentials inside a fallback entry are not supported; send them at the top "
            "level (they apply to fallback models that allow them) or use user_config",
            param=nested[0],
            code="unsupported_parameter",
        )
    retries = body.get("num_retries")
    if isinstance(retries, int) and retries > MAX_CLIENT_RETRIES:
        # Each retry may be one more request to a URL the client chose: the user_config cap holds.
        raise InvalidRequestError(
            f"Invalid value for 'num_retries': requests with client-side credentials or user_config "
            f"take at most {MAX_CLIENT_RETRIES} retries",
            param="num_retries",
            code="invalid_value",
        )
    if "user_config" in sent:
        # Parsed at admission already when the key has a budget (server/accounting.py).
        account = getattr(request, "account", None)
        parsed = account.user_config if account is not None else None
        return _user_config_scope(state, body, sent, auth.principal, parsed)
    return _credentials_scope(request, state, body, sent, auth.principal)


def budget_deployments(
    state: AppState, auth: AuthContext, body: dict[str, Any]
) -> tuple[list[Deployment], UserConfigRequest | None]:
    """For a budget reservation at admission: the deployments this request may be served by,
    and its user_config parsed (None without one), which `client_scope` then reuses.

    A user_config request runs on its own router (the same cached one `client_scope` uses, so it
    is built once), priced from the gateway's table only: its model_info may not set prices, and
    its token limits are not trusted to shrink the bound. A config that `client_scope` will
    refuse reserves nothing: it never reaches an upstream (and is parsed again there, to say why)."""
    model = body.get("model")
    if body.get("user_config") is None:
        return reservation_group(state.router, model, body), None
    if _refusal(state, auth, ["user_config"]) is not None:
        return [], None
    try:
        parsed = split_user_config(body["user_config"], state.config.client_credentials)
        router = state.client_routers.user_router(parsed, auth.principal, state.config.drop_params)
        group = reservation_group(router, model, body)
    except GatewayError:
        return [], None
    untrusted = ("max_output_tokens", "max_tokens")
    return [
        dataclasses.replace(d, model_info={k: v for k, v in d.model_info.items() if k not in untrusted})
        for d in group
    ], parsed


def _refusal(state: AppState, auth: AuthContext, sent: list[str]) -> str | None:
    """Why this caller may not send `sent` at all (None: each param is then checked against the
    model it is for). Per-request params are opened per model (configurable_clientside_auth_params)
    or for all (allow_client_side_credentials); user_config is on unless the operator says not."""
    if not auth.client_side_credentials:
        return "client-side credentials are switched off for this API key (or its team or user)"
    if "user_config" in sent:
        allowed = state.config.client_credentials.user_config
        if allowed is False:
            return "this gateway does not accept user_config (general_settings.allow_user_config is false)"
        if allowed is None and not auth.authenticated:
            return (
                "this gateway has no master key, and takes user_config from unauthenticated remote "
                "callers only with general_settings.allow_user_config: true"
            )
    return None


def _require_client_key(state: AppState, body: dict[str, Any]) -> None:
    """A model whose deployments have no key of the operator's is served only with the client's
    own api_key: say so with a 400 instead of calling the provider without a key."""
    model = body.get("model")
    deployments = state.router.resolve(model) if isinstance(model, str) else []
    if deployments and all(needs_client_key(d) for d in deployments):
        raise InvalidRequestError(
            f"model '{model}' has no provider key of the gateway's: send your own 'api_key' "
            "(with the openai SDK: extra_body={'api_key': ...})",
            param="api_key",
            code="missing_required_parameter",
        )


def _fallback_credentials(body: dict[str, Any]) -> list[str]:
    """LiteLLM also takes fallbacks as {"model": ..., "api_key": ...} objects: their credential
    keys, named by position (the router reads only the model names)."""
    found = []
    for field in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks"):
        items = body.get(field)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    found += [f"{field}[{i}].{k}" for k in item if k in CLIENT_CREDENTIAL_PARAMS]
    return found


def _user_config_scope(
    state: AppState, body: dict[str, Any], sent: list[str], principal: str, parsed: UserConfigRequest | None
) -> ClientScope:
    others = [key for key in sent if key != "user_config"]
    if others:
        raise InvalidRequestError(
            f"'{others[0]}' cannot be combined with user_config: put credentials in "
            "user_config.model_list[].litellm_params",
            param=others[0],
        )
    if parsed is None:
        parsed = split_user_config(body["user_config"], state.config.client_credentials)
    router = state.client_routers.user_router(parsed, principal, state.config.drop_params)
    secrets = parsed.secrets

    def prepare(deployment: Deployment) -> Deployment:
        return attach_secrets(deployment, secrets)

    return ClientScope(router, prepare)


def _credentials_scope(
    request: Request, state: AppState, body: dict[str, Any], sent: list[str], principal: str
) -> ClientScope:
    params = parse_client_params(body, sent)
    model = str(body.get("model"))
    try:
        for deployment in state.router.resolve(model):
            check_allowed(deployment, params, model)
    except (RefusedParamError, InvalidRequestError) as error:
        log.info(
            "refused client credentials: request=%s model=%s param=%s reason=%s",
            request.request_id,
            model,
            error.param,
            error.code,
        )
        raise
    router = state.client_routers.get_or_build(
        _isolation_key(state, model, params, principal), lambda: _credentials_router(state)
    )

    def prepare(deployment: Deployment) -> Deployment:
        # Fallback groups have policies of their own: a refusal there is a client fault that
        # moves on to the next fallback; it never cools anything down.
        check_allowed(deployment, params, deployment.model_name)
        return apply_client_params(deployment, params)

    return ClientScope(router, prepare)


def _credentials_router(state: AppState) -> Router:
    """The operator's models and settings over state of their own. No cooldowns: with the
    client's key a 401 or 429 says something about that key, not about the deployment, and
    answering the client's next request with "no deployment available" would hide it."""
    settings = state.config.router.model_copy(update={"disable_cooldowns": True})
    return Router(state.config.models, settings, MemoryState(), events=ROUTER_METRICS)


def _isolation_key(state: AppState, model: str, params: ClientParams, principal: str) -> str:
    """Requests with the same model, values and caller share a router (and its cooldowns);
    secrets enter the key only through the cache's keyed hash."""
    shape = {
        name: ("secret" if isinstance(value.value, Secret) else value.text)
        for name, value in params.values.items()
    }
    digest = hashlib.sha256(orjson.dumps({"model": model, "params": shape}, option=orjson.OPT_SORT_KEYS))
    return state.client_routers.key("p:" + digest.hexdigest(), params.secret_values(), principal)

"""Client-side credentials: which params a client may set for a model, and what they change.

An operator lets clients set credential params per model with LiteLLM's
`litellm_params.configurable_clientside_auth_params`: a list of names (any value) and/or
`{name: regex}` entries (the whole normalised value must match: `re.fullmatch`). As in LiteLLM,
that list is the opt-in by itself; `general_settings.allow_client_side_credentials: true` opens
`api_key`, `api_base` and `api_version` on every model (a model's own entry for one of them,
regex included, still narrows it). A model that lets clients choose `api_base` also takes their
`api_key`: it is the key that goes with their URL. Values are
checked and normalised first (URLs by auth/url_safety.py), so a regex sees exactly what the
gateway will use: no trailing newline, userinfo, fragment, `..`, case or encoding tricks.

The rule that matters most: the operator's provider credentials (api_key, organization,
extra_headers, credential settings) never travel to a base URL a client chose. A client-chosen
`api_base` is used with the client's own `api_key`, or refused with a 400 naming `api_key`,
unless the model says `allow_operator_key_with_client_base: true` (and then its api_base regex
must pin the host). Client values live in per-request copies of a deployment, never in the
router's table, and their secrets are scrubbed from every error (server/relay.py).

This module holds the policy and the parsed params; applying them to a deployment (the
decision) is router/client_credentials.py's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from polyroute.auth.cloud_settings import (
    REFUSED_FROM_CLIENTS,
    check_client_setting,
    client_vertex_credentials,
)
from polyroute.auth.url_safety import ClientUrl, UrlAllowlist, parse_client_url
from polyroute.errors import invalid_value
from polyroute.protocol.openai_params import (
    CLIENT_CREDENTIAL_PARAMS,
    CLIENT_SECRET_PARAMS,
    CLIENT_URL_PARAMS,
)
from polyroute.secrets import Secret

# Spellings LiteLLM accepts for the same setting: allowing one allows the other.
ALIASES = {
    "base_url": "api_base",
    "vertex_ai_project": "vertex_project",
    "vertex_ai_location": "vertex_location",
}
# Plain (non-secret, non-URL) values end up in URLs and headers: a conservative alphabet keeps
# them from adding path segments, queries or header lines.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,8192}")


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


# ---- the operator's policy -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientCredentialSettings:
    """The gateway-wide switches (general_settings), read once at start-up."""

    # allow_client_side_credentials: api_key/api_base/api_version for every model (LiteLLM's switch)
    any_model: bool = False
    # allow_user_config: a request's own router config. None: for authenticated callers (not
    # the remote callers of an unauthenticated gateway); True: for anyone; False: for no one.
    user_config: bool | None = None
    allowlist: UrlAllowlist = dataclasses.field(default_factory=UrlAllowlist)
    # Some model has no key of the operator's and takes the client's (requests must bring one).
    client_key_models: bool = False
    max_user_config_deployments: int = 20
    max_user_config_bytes: int = 65536


@dataclass(frozen=True, slots=True)
class ClientParamPolicy:
    """Per deployment: the params clients may set (canonical name -> patterns; empty: any value)."""

    patterns: Mapping[str, tuple[re.Pattern[str], ...]]
    operator_key_with_client_base: bool = False
    listed: bool = True  # from the model's own configurable_clientside_auth_params (not the switch alone)

    def allows(self, name: str) -> bool:
        return canonical(name) in self.patterns


# What `allow_client_side_credentials: true` opens on every model (LiteLLM's switch lets clients
# bring their own key and URL; the provider settings below change what the operator's own
# credentials do, so they stay per model).
ANY_MODEL_PARAMS = ("api_key", "api_base", "api_version")


def compile_policy(
    entries: Iterable[Any] | None, operator_key_with_client_base: bool, where: str, any_model: bool = False
) -> tuple[ClientParamPolicy | None, list[str]]:
    """The policy from `configurable_clientside_auth_params` (and the gateway-wide switch,
    `any_model`), and warnings for names polyroute does not know. Raises ValueError (a one-line
    config error) for a bad entry or regex."""
    patterns: dict[str, list[re.Pattern[str]]] = {}
    warnings: list[str] = []
    for entry in entries or ():
        if isinstance(entry, str):
            items: Iterable[tuple[Any, Any]] = [(entry, None)]
        elif isinstance(entry, dict):
            items = entry.items()
        else:
            raise ValueError(
                f"{where}: configurable_clientside_auth_params entries must be names or {{name: regex}}"
            )
        for name, regex in items:
            if name in REFUSED_FROM_CLIENTS:
                warnings.append(
                    f"{where}: configurable_clientside_auth_params entry '{name}' is never accepted from "
                    f"clients ({REFUSED_FROM_CLIENTS[name]}); ignored"
                )
                continue
            if name not in CLIENT_CREDENTIAL_PARAMS:
                warnings.append(
                    f"{where}: configurable_clientside_auth_params entry '{name}' is not a credential "
                    "param polyroute knows; ignored"
                )
                continue
            found = patterns.setdefault(canonical(name), [])
            if regex is None:
                continue
            if not isinstance(regex, str):
                raise ValueError(f"{where}: the pattern for '{name}' must be a regex string")
            try:
                found.append(re.compile(regex))
            except re.error as exc:
                raise ValueError(f"{where}: invalid regex for '{name}': {exc}") from None
    if operator_key_with_client_base and not patterns.get("api_base"):
        raise ValueError(
            f"{where}: allow_operator_key_with_client_base needs a regex for api_base in "
            "configurable_clientside_auth_params (the operator's key must not go to any URL)"
        )
    if "api_base" in patterns:
        patterns.setdefault("api_key", [])  # the client's own key for the client's own URL
    if any_model:
        for name in ANY_MODEL_PARAMS:
            patterns.setdefault(name, [])
    if not patterns:
        return None, warnings
    frozen = {name: tuple(found) for name, found in patterns.items()}
    return ClientParamPolicy(frozen, operator_key_with_client_base, listed=bool(entries)), warnings


# ---- what the client sent ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientValue:
    sent_as: str  # the body key, named in errors
    value: str | Secret | ClientUrl

    @property
    def key(self) -> str:
        return canonical(self.sent_as)

    @property
    def text(self) -> str:
        """The normalised value: what regexes match and what the gateway uses."""
        if isinstance(self.value, Secret):
            return self.value.reveal()
        if isinstance(self.value, ClientUrl):
            return self.value.text
        return self.value

    def __repr__(self) -> str:  # never a secret in a repr or a traceback
        shown = "****" if isinstance(self.value, Secret) else self.text
        return f"ClientValue({self.sent_as}={shown})"


@dataclass(frozen=True, slots=True)
class ClientParams:
    values: Mapping[str, ClientValue]  # canonical name -> value, in the order sent

    def get(self, name: str) -> ClientValue | None:
        return self.values.get(name)

    @property
    def base(self) -> ClientValue | None:
        return self.values.get("api_base")

    @property
    def api_key(self) -> Secret | None:
        value = self.values.get("api_key")
        return value.value if value is not None and isinstance(value.value, Secret) else None

    def secret_values(self) -> list[str]:
        return [v.value.reveal() for v in self.values.values() if isinstance(v.value, Secret)]


def _secret(name: str, value: Any) -> Secret:
    if name == "vertex_credentials":
        # A credentials JSON document (object or string), never a path, exchanged at Google only.
        return Secret(client_vertex_credentials(value, name), source="client")
    if not isinstance(value, str) or not _HEADER_SAFE.fullmatch(value):
        # Keys go into headers: printable ASCII only, so no header line can be smuggled in.
        raise invalid_value(name, "expected a non-empty string of printable ASCII without spaces")
    return Secret(value, source="client")


def parse_client_params(body: Mapping[str, Any], names: Iterable[str]) -> ClientParams:
    """Checks and normalises the credential params `names` present in `body` (400 naming one)."""
    values: dict[str, ClientValue] = {}
    for name in names:
        raw = body[name]
        key = canonical(name)
        check_client_setting(name, raw, name)  # URL-forming values; params no client may send
        if key in values:
            raise invalid_value(name, f"send only one of '{values[key].sent_as}' and '{name}'")
        if name in CLIENT_URL_PARAMS:
            value: str | Secret | ClientUrl = parse_client_url(raw, name)
        elif name in CLIENT_SECRET_PARAMS:
            value = _secret(name, raw)
        elif isinstance(raw, str) and _PLAIN_VALUE.fullmatch(raw):
            value = raw
        else:
            raise invalid_value(name, "expected up to 128 letters, digits, '.', '_', ':' or '-'")
        values[key] = ClientValue(name, value)
    return ClientParams(values)

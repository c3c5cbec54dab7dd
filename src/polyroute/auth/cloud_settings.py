"""Checks on the cloud providers' settings that build URLs or choose credentials.

Bedrock and Vertex AI put settings into their host names and paths:
`https://bedrock-runtime.{aws_region_name}.amazonaws.com` and
`https://{vertex_location}-aiplatform.googleapis.com/v1/projects/{vertex_project}/locations/...`.
A value such as `127.0.0.1:8080/x?` or `evil.example#` would move the request (with whatever
credentials sign it) to another host, so every such value is held to the shape the cloud gives
it, wherever it comes from: the operator's config (a ConfigError naming the key), a client's
per-request params or a `user_config` (a 400 naming the field).

Their credentials are also not just keys: left unset, the libraries fall back to the process's
ambient identity (botocore's environment, profiles and instance role; Google's application
default credentials), that is, the operator's cloud account. A `vertex_credentials` value may be
a file path, and a service-account JSON names the URL its token exchange goes to (`token_uri`).
What a client may send is therefore narrower than what the operator's config may say:
  * `vertex_credentials` is a JSON document (an object or its JSON text), never a file path, of a
    type a person hands over (`service_account`, `authorized_user`), whose token exchange goes to
    Google's own endpoint;
  * `aws_profile_name` is refused (a profile is read from the operator's ~/.aws files);
  * a client-defined deployment must bring its own credentials (`explicit_credentials_missing`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from polyroute.errors import InvalidRequestError, RefusedParamError, invalid_value

LOCATION = re.compile(r"[a-z0-9-]{1,40}")
# Project ids as Google issues them (6-30 characters today; the bound leaves room), or the
# numeric project numbers that URLs also accept.
PROJECT = re.compile(r"[a-z][a-z0-9-]{4,61}[a-z0-9]|[0-9]{1,20}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
# Yandex Cloud folder ids (`b1g...`): sent as the `x-folder-id` header and inside the model URI.
FOLDER = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: setting -> (pattern, what a valid value looks like): values that become host names, URL paths
#: or header lines
URL_SETTINGS: Mapping[str, tuple[re.Pattern[str], str]] = {
    "vertex_location": (LOCATION, "a Google Cloud location such as 'us-central1' or 'global'"),
    "vertex_ai_location": (LOCATION, "a Google Cloud location such as 'us-central1' or 'global'"),
    "vertex_project": (PROJECT, "a Google Cloud project id such as 'my-project-123' or its number"),
    "vertex_ai_project": (PROJECT, "a Google Cloud project id such as 'my-project-123' or its number"),
    "aws_region_name": (REGION, "an AWS region such as 'us-east-1'"),
    "folder_id": (FOLDER, "a Yandex Cloud folder id (letters, digits, '_' or '-')"),
}

#: Google's OAuth token endpoints: the only places a client's credentials are exchanged at.
GOOGLE_TOKEN_URIS = frozenset(
    {"https://oauth2.googleapis.com/token", "https://accounts.google.com/o/oauth2/token"}
)
VERTEX_CREDENTIAL_TYPES = ("service_account", "authorized_user")
MAX_CREDENTIALS_BYTES = 65536

#: params a client may never send: they select the operator's own credentials
REFUSED_FROM_CLIENTS: Mapping[str, str] = {
    "aws_profile_name": "a profile is read from the gateway's own AWS files; send "
    "aws_access_key_id and aws_secret_access_key instead",
}

#: providers whose libraries fall back to the process's ambient identity, and the settings by which
#: a client-defined deployment brings its own credentials instead
AMBIENT_CREDENTIALS: Mapping[str, tuple[str, ...]] = {
    "bedrock": ("aws_access_key_id", "aws_secret_access_key"),
    "vertex_ai": ("vertex_credentials",),
}


def setting_problem(name: str, value: Any) -> str | None:
    """Why `value` cannot be used for the URL-forming setting `name`; None when it can (or when
    `name` is not one of them)."""
    rule = URL_SETTINGS.get(name)
    if rule is None or value is None:
        return None
    pattern, shape = rule
    if isinstance(value, str) and pattern.fullmatch(value):
        return None
    return f"expected {shape}"


def check_operator_settings(extras: Mapping[str, Any]) -> None:
    """Config-time check of an operator's deployment (ValueError naming the key)."""
    for name, value in extras.items():
        if (why := setting_problem(name, value)) is not None:
            raise ValueError(f"litellm_params.{name}: {why}, not {str(value)[:64]!r}")


def check_client_setting(name: str, value: Any, param: str) -> None:
    """A client's URL-forming setting or a param clients may not send (400/403 naming `param`)."""
    if name in REFUSED_FROM_CLIENTS:
        raise RefusedParamError(
            f"'{param}' may not be set by clients: {REFUSED_FROM_CLIENTS[name]}", param=param
        )
    if (why := setting_problem(name, value)) is not None:
        raise invalid_value(param, why)


def client_vertex_credentials(value: Any, param: str) -> str:
    """A client's `vertex_credentials`, checked, as compact JSON text (400 naming the field).

    Never a path: a path would make the gateway read a file of its own (the operator's service
    account, or anything). The token exchange must go to Google: google-auth POSTs to whatever
    `token_uri` the document names, which would be a request to a client-chosen URL that no URL
    check sees."""

    info = value
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("{"):
            raise invalid_value(
                param,
                "expected a Google credentials JSON document (an object or its JSON text); file "
                "paths are only read from the gateway's own config",
            )
        if len(text) > MAX_CREDENTIALS_BYTES:
            raise invalid_value(param, f"the document is larger than {MAX_CREDENTIALS_BYTES} bytes")
        try:
            info = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise invalid_value(param, "not valid JSON") from None
    if not isinstance(info, dict):
        raise invalid_value(param, "expected a Google credentials JSON document (an object)")
    if info.get("type") not in VERTEX_CREDENTIAL_TYPES:
        raise invalid_value(f"{param}.type", "expected 'service_account' or 'authorized_user'")
    token_uri = info.get("token_uri")
    if token_uri is not None and token_uri not in GOOGLE_TOKEN_URIS:
        raise invalid_value(
            f"{param}.token_uri",
            "a client's credentials are exchanged at Google's token endpoint only "
            "(https://oauth2.googleapis.com/token)",
        )
    text = orjson.dumps(info).decode()
    if len(text) > MAX_CREDENTIALS_BYTES:
        raise invalid_value(param, f"the document is larger than {MAX_CREDENTIALS_BYTES} bytes")
    return text


def missing_own_credentials(provider: str, present: Mapping[str, Any]) -> str | None:
    """The first setting a client must add so that `provider` does not fall back to the gateway's
    ambient cloud identity; None when the client's own credentials are all there (or the provider
    has no ambient fallback)."""
    for name in AMBIENT_CREDENTIALS.get(provider, ()):
        if not present.get(name):
            return name
    return None


def refuse_ambient_at_client_url(provider: str, extras: Mapping[str, Any], param: str | None) -> None:
    """The last guard, in the adapter: a request to a client-chosen URL (`param` set) is never
    signed with the process's ambient identity, whatever path led there (400 naming the setting
    the client must send)."""
    if param is None:
        return
    missing = missing_own_credentials(provider, extras)
    if missing is not None:
        raise InvalidRequestError(
            f"'{missing}' is required with a client-chosen URL ({param}): the gateway's own cloud "
            "credentials are never sent to it",
            param=missing,
            code="missing_required_parameter",
        )

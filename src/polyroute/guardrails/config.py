"""The config file's top-level `guardrails:` list (LiteLLM's shape), parsed once at start-up.

    guardrails:
      - guardrail_name: moderation
        litellm_params:
          guardrail: openai_moderation      # the type
          mode: [pre_call, post_call]       # or one of pre_call, during_call, post_call
          default_on: true                  # runs for every request (else: per key or request)
          timeout: 3                        # seconds per check (default 3)
          fail_open: false                  # when the check fails: block (default) or allow
          api_key: os.environ/OPENAI_API_KEY
          category_thresholds: {violence: 0.4}

Each error is a ValueError naming the entry and key (the loader reports it as a ConfigError).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from polyroute.config.env_refs import MissingCredentialError, resolve
from polyroute.guardrails.azure_image import API_VERSION, AzureImageModerationGuardrail
from polyroute.guardrails.base import DEFAULT_TIMEOUT_S, MODES, Guardrail
from polyroute.guardrails.blocklist import BlocklistGuardrail
from polyroute.guardrails.openai_moderation import DEFAULT_BASE, DEFAULT_MODEL, OpenAIModerationGuardrail
from polyroute.guardrails.photodna import DEFAULT_BASE as PHOTODNA_BASE
from polyroute.guardrails.photodna import PhotoDNAGuardrail
from polyroute.guardrails.pii import PIIMaskGuardrail
from polyroute.guardrails.webhook import WebhookGuardrail
from polyroute.secrets import Redactor, Secret

MAX_GUARDRAILS = 64
COMMON_KEYS = frozenset(
    {"guardrail", "mode", "default_on", "timeout", "fail_open", "fail_on_error", "stream_check_chars"}
)
TYPE_KEYS: dict[str, frozenset[str]] = {
    "openai_moderation": frozenset({"api_key", "api_base", "model", "category_thresholds"}),
    "azure_image_moderation": frozenset(
        {"api_key", "api_base", "api_version", "severity_threshold", "category_thresholds"}
    ),
    "photodna": frozenset({"api_key", "api_base", "enhance"}),
    "blocklist": frozenset({"blocked_words", "blocked_patterns", "category"}),
    "pii_mask": frozenset({"pii_entities"}),
    "webhook": frozenset({"api_key", "api_base", "headers"}),
}
ENTRY_KEYS = frozenset({"guardrail_name", "litellm_params", "guardrail_info", "guardrail_id"})


class _Entry:
    """One entry's litellm_params with helpers that name the key at fault."""

    def __init__(self, where: str, params: dict[str, Any], env: Mapping[str, str], redactor: Redactor):
        self.where, self.params, self.env, self.redactor = where, params, env, redactor

    def fail(self, key: str, problem: str) -> ValueError:
        return ValueError(f"{self.where}.{key}: {problem}")

    def string(self, key: str, default: str | None = None) -> str | None:
        return self.string_value(key, self.params.get(key, default))

    def string_value(self, key: str, value: Any) -> str | None:
        if value is not None and not isinstance(value, str):
            raise self.fail(key, "expected a string")
        try:
            return resolve(value, self.env, f"{self.where}.{key}")
        except MissingCredentialError as exc:
            raise ValueError(str(exc)) from None

    def secret(self, key: str, env_names: tuple[str, ...], required: bool) -> Secret | None:
        value = self.string(key)
        source = self.params.get(key) if is_ref(self.params.get(key)) else f"{self.where}.{key}"
        if not value:
            for name in env_names:
                if self.env.get(name):
                    value, source = self.env[name], name
                    break
        if not value:
            if required:
                names = " or ".join(env_names)
                raise self.fail(key, f"needed: set it{' or ' + names if names else ''}")
            return None
        self.redactor.add(value)
        return Secret(value, source)

    def url(self, key: str, env_names: tuple[str, ...] = (), default: str | None = None) -> str:
        value = self.string(key) or next((self.env[n] for n in env_names if self.env.get(n)), None) or default
        if not value:
            raise self.fail(
                key, f"needed: the service's URL{' (or ' + ' / '.join(env_names) + ')' if env_names else ''}"
            )
        if not value.startswith(("http://", "https://")):
            raise self.fail(key, "expected an http:// or https:// URL")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.params.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.fail(key, f"expected a number from {low:g} to {high:g}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.params.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "expected true or false")
        return value

    def strings(self, key: str) -> list[str]:
        value = self.params.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "expected a list of non-empty strings")
        return value

    def thresholds(self, key: str, high: float, integer: bool = False) -> dict[str, Any]:
        value = self.params.get(key) or {}
        if not isinstance(value, dict):
            raise self.fail(key, "expected a mapping of category to threshold")
        for name, limit in value.items():
            bad = isinstance(limit, bool) or not isinstance(limit, int if integer else int | float)
            if bad or not 0 <= limit <= high:
                raise self.fail(
                    f"{key}.{name}", f"expected a {'whole ' if integer else ''}number from 0 to {high:g}"
                )
        return dict(value)


def is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("os.environ/")


def _openai(e: _Entry) -> dict[str, Any]:
    return {
        "api_key": e.secret("api_key", ("OPENAI_API_KEY",), required=True),
        "api_base": e.url("api_base", default=DEFAULT_BASE),
        "model": e.string("model", DEFAULT_MODEL),
        "category_thresholds": e.thresholds("category_thresholds", 1.0),
    }


def _azure_image(e: _Entry) -> dict[str, Any]:
    return {
        "api_key": e.secret("api_key", ("AZURE_IMG_MODERATION_API_KEY",), required=True),
        "api_base": e.url("api_base", ("AZURE_IMG_MODERATION_ENDPOINT",)),
        "api_version": e.string("api_version", API_VERSION),
        "severity_threshold": int(e.number("severity_threshold", 4, 0, 7)),
        "category_thresholds": e.thresholds("category_thresholds", 7, integer=True),
    }


def _photodna(e: _Entry) -> dict[str, Any]:
    return {
        "api_key": e.secret("api_key", ("PHOTODNA_API_KEY",), required=True),
        "api_base": e.url("api_base", default=PHOTODNA_BASE),
        "enhance": e.flag("enhance", False),
    }


def _blocklist(e: _Entry) -> dict[str, Any]:
    import re

    patterns = e.strings("blocked_patterns")
    for i, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise e.fail(f"blocked_patterns[{i}]", f"not a regular expression ({exc})") from None
    words = e.strings("blocked_words")
    if not words and not patterns:
        raise e.fail("blocked_words", "a blocklist needs blocked_words or blocked_patterns")
    return {
        "blocked_words": words,
        "blocked_patterns": patterns,
        "category": e.string("category", "blocklist"),
    }


def _pii(e: _Entry) -> dict[str, Any]:
    return {"entities": e.strings("pii_entities") or None}


def _webhook(e: _Entry) -> dict[str, Any]:
    headers = e.params.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise e.fail("headers", "expected a mapping of header name to string")
    resolved = {}
    for name, value in headers.items():
        resolved[str(name).lower()] = value = e.string_value(f"headers.{name}", value)
        e.redactor.add(value)  # headers often carry a token: kept out of logs like keys
    return {
        "api_base": e.url("api_base"),
        "api_key": e.secret("api_key", (), required=False),
        "headers": resolved,
    }


BUILDERS: dict[str, tuple[type[Guardrail], Callable[[_Entry], dict[str, Any]]]] = {
    "openai_moderation": (OpenAIModerationGuardrail, _openai),
    "azure_image_moderation": (AzureImageModerationGuardrail, _azure_image),
    "photodna": (PhotoDNAGuardrail, _photodna),
    "blocklist": (BlocklistGuardrail, _blocklist),
    "pii_mask": (PIIMaskGuardrail, _pii),
    "webhook": (WebhookGuardrail, _webhook),
}


def build_guardrails(raw: Any, env: Mapping[str, str], redactor: Redactor) -> dict[str, Guardrail]:
    """The configured guardrails by name, in config order."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ValueError("guardrails: expected a list of {guardrail_name, litellm_params}")
    if len(raw) > MAX_GUARDRAILS:
        raise ValueError(f"guardrails: at most {MAX_GUARDRAILS} entries")
    out: dict[str, Guardrail] = {}
    for i, entry in enumerate(raw):
        guardrail = _build_one(f"guardrails[{i}]", entry, env, redactor)
        if guardrail.name in out:
            raise ValueError(f"guardrails[{i}].guardrail_name: '{guardrail.name}' is used twice")
        out[guardrail.name] = guardrail
    return out


def _build_one(where: str, entry: Any, env: Mapping[str, str], redactor: Redactor) -> Guardrail:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping with guardrail_name and litellm_params")
    for key in entry:
        if key not in ENTRY_KEYS:
            raise ValueError(
                f"{where}.{key}: not a key of a guardrail (known: {', '.join(sorted(ENTRY_KEYS))})"
            )
    name = entry.get("guardrail_name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}.guardrail_name: expected a name")
    params = entry.get("litellm_params")
    if not isinstance(params, dict):
        raise ValueError(f"{where}.litellm_params: expected a mapping")
    where = f"{where}.litellm_params"
    kind = params.get("guardrail")
    if kind not in BUILDERS:
        known = ", ".join(BUILDERS)
        raise ValueError(
            f"{where}.guardrail: {kind!r} is not a guardrail type polyroute has (known: {known})"
        )
    cls, builder = BUILDERS[kind]
    for key in params:
        if key not in COMMON_KEYS and key not in TYPE_KEYS[kind]:
            allowed = ", ".join(sorted(COMMON_KEYS | TYPE_KEYS[kind]))
            raise ValueError(f"{where}.{key}: not a setting of guardrail type {kind} (known: {allowed})")
    e = _Entry(where, params, env, redactor)
    modes = _modes(e, cls)
    fail_open = e.flag("fail_open", False)
    if "fail_on_error" in params:  # LiteLLM's name for the opposite switch
        fail_open = not e.flag("fail_on_error", True)
    chars = params.get("stream_check_chars")
    if chars is not None and (
        isinstance(chars, bool) or not isinstance(chars, int) or not 0 <= chars <= 100_000
    ):
        raise e.fail("stream_check_chars", "expected a whole number from 0 to 100000")
    try:
        return cls(
            name=name.strip(),
            modes=modes,
            default_on=e.flag("default_on", False),
            timeout_s=e.number("timeout", DEFAULT_TIMEOUT_S, 0.001, 600),
            fail_open=fail_open,
            stream_check_chars=chars,
            **builder(e),
        )
    except ValueError as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: {exc}") from None


def _modes(e: _Entry, cls: type[Guardrail]) -> tuple[Any, ...]:
    value = e.params.get("mode", "pre_call")
    modes = [value] if isinstance(value, str) else value
    if not isinstance(modes, list) or not modes or not all(m in MODES for m in modes):
        raise e.fail("mode", f"expected one of {', '.join(MODES)} or a list of them")
    for mode in modes:
        if mode not in cls.allowed_modes:
            raise e.fail(
                "mode", f"guardrail type {cls.kind} runs in {', '.join(cls.allowed_modes)} only, not {mode}"
            )
    return tuple(dict.fromkeys(modes))

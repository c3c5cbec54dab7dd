"""Which keys of a config file polyroute does not act on, sorted into two kinds.

Known but unsupported: LiteLLM documents the key (config/litellm_keys.py), polyroute does not
implement it yet. A migrated config carries many of these: start-up names them and goes on.

Unknown: neither polyroute nor LiteLLM knows the name, so it is almost certainly a typo
(`master_kye`). Each is reported with the nearest known name (difflib), and `serve` and
`check-config` refuse the config unless the operator passes `--allow-unknown`: a misspelled
`master_key` would otherwise leave the gateway running without the key its operator set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from polyroute.config import litellm_keys
from polyroute.config.litellm_keys import nearest
from polyroute.config.schema import (
    CALLBACK_FIELDS,
    QUIET_LITELLM,
    SUPPORTED_CALLBACKS,
    SUPPORTED_GENERAL,
    SUPPORTED_LITELLM,
    SUPPORTED_ROUTER,
    ConfigFile,
    GeneralSettings,
    LiteLLMSettings,
    ModelEntry,
)
from polyroute.controller.settings import ControllerSettings


@dataclass(frozen=True, slots=True)
class UnknownKey:
    path: str  # dotted, e.g. general_settings.master_kye
    near: str | None  # the nearest known name, if one is near
    hint: str = ""  # what to do instead, e.g. where pass-through fields go

    @property
    def message(self) -> str:
        near = f" (did you mean '{self.near}'?)" if self.near else ""
        return f"'{self.path}' is not a key polyroute or LiteLLM knows{near}{self.hint}"


@dataclass
class KeyReport:
    unsupported: list[str] = field(default_factory=list)  # dotted names
    unknown: list[UnknownKey] = field(default_factory=list)

    def sort(
        self,
        prefix: str,
        keys: Iterable[str],
        supported: Iterable[str],
        known: Iterable[str],
        quiet: Iterable[str] = (),
    ) -> None:
        supported, known, quiet = set(supported), set(known), set(quiet)
        for key in sorted(keys):
            if key in supported or key in quiet:
                continue
            if key in known:
                self.unsupported.append(prefix + key)
            else:
                self.unknown.append(UnknownKey(prefix + key, nearest(key, supported | known)))


def report_keys(config: ConfigFile) -> KeyReport:
    """Every key of the file's sections that polyroute does not act on, sorted by kind.
    (`litellm_params` keys are sorted per deployment: config/deployment_params.py.)"""
    report = KeyReport()
    report.sort("", config.model_extra or {}, ConfigFile.model_fields, litellm_keys.TOP_LEVEL)
    report.sort(
        "general_settings.",
        config.general_settings.model_extra or {},
        SUPPORTED_GENERAL | set(GeneralSettings.model_fields),
        litellm_keys.GENERAL_SETTINGS,
    )
    report.sort(
        "litellm_settings.",
        config.litellm_settings.model_extra or {},
        SUPPORTED_LITELLM | set(LiteLLMSettings.model_fields),
        litellm_keys.LITELLM_SETTINGS,
        QUIET_LITELLM,
    )
    cache_params = (config.litellm_settings.model_extra or {}).get("cache_params")
    if isinstance(cache_params, dict):
        from polyroute.cache.settings import KNOWN_KEYS, LITELLM_ONLY_KEYS

        report.sort("litellm_settings.cache_params.", cache_params, KNOWN_KEYS, LITELLM_ONLY_KEYS)
    for name in CALLBACK_FIELDS:
        for value in getattr(config.litellm_settings, name):
            if value.lower() not in SUPPORTED_CALLBACKS:
                report.unsupported.append(f"litellm_settings.{name}: {value}")
    # polyroute's own section: every name there is ours, so anything else is a mistake.
    controller_extra = config.controller_settings.model_extra or {}
    report.sort("controller_settings.", controller_extra, ControllerSettings.model_fields, ())
    report.sort("router_settings.", config.router_settings, SUPPORTED_ROUTER, litellm_keys.ROUTER_SETTINGS)
    # Accepted (LiteLLM configs carry it) but no strategy of ours takes arguments yet.
    strategy_args = config.router_settings.get("routing_strategy_args")
    if isinstance(strategy_args, dict):
        report.unsupported += [
            f"router_settings.routing_strategy_args.{key}" for key in sorted(strategy_args)
        ]
    for i, entry in enumerate(config.model_list):
        where = f"model_list[{i}]."
        report.sort(where, entry.model_extra or {}, ModelEntry.model_fields, litellm_keys.MODEL_ENTRY)
    return report

"""What each `litellm_params` key outside the schema becomes, for one deployment.

- `extra_body: {...}`: sent in every request body to this deployment as is (LiteLLM's own
  pass-through for provider fields; the request's values win);
- the provider's own settings (its spec's `setting_prefixes`: `mock_*`, `anthropic_version`,
  `aws_*`, `vertex_*`, `folder_id`, ...): settings of the provider adapter;
- OpenAI request params (`temperature`, `max_tokens`, ...) and the provider's documented extras
  (providers/extra_params.py): request defaults, the request's own value wins;
- another provider's settings (`aws_*` on a Vertex model) and other names LiteLLM knows
  (`input_cost_per_token`, `tags`, ...): reported as not supported and never sent;
- anything else: a mistake, reported with the nearest known name, never sent (a literal secret
  under a misspelled `api_kye` must not leave the gateway as a body field).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from polyroute.config.litellm_keys import LITELLM_PARAMS, nearest
from polyroute.protocol.openai_params import CHAT_PARAMS, COMPLETION_PARAMS, EMBEDDING_PARAMS
from polyroute.providers.extra_params import EXTRA_PARAMS, documented_extras

PASS_THROUGH = "extra_body"
REQUEST_PARAMS = CHAT_PARAMS | COMPLETION_PARAMS | EMBEDDING_PARAMS


@dataclass
class SortedParams:
    extras: dict[str, Any] = field(default_factory=dict)  # provider adapter settings
    defaults: dict[str, Any] = field(default_factory=dict)  # request defaults and extra_body
    unsupported: list[str] = field(default_factory=list)  # LiteLLM names polyroute ignores
    unknown: list[tuple[str, str | None]] = field(default_factory=list)  # (name, nearest known name)


def known_names(schema_fields: set[str]) -> set[str]:
    """Every name a `litellm_params` key may have, for suggestions."""
    extras = set().union(*EXTRA_PARAMS.values())
    return schema_fields | REQUEST_PARAMS | extras | LITELLM_PARAMS | {PASS_THROUGH}


def sort_params(
    extra: Mapping[str, Any],
    provider: str,
    schema_fields: set[str],
    own_settings: tuple[str, ...] = (),
    all_settings: tuple[str, ...] = (),
) -> SortedParams:
    """Sorts the keys `extra` (those the schema does not declare) for a deployment of `provider`,
    whose settings start with `own_settings` (`all_settings`: every provider's). Raises
    ValueError naming `extra_body` when it is not a mapping."""
    out = SortedParams()
    provider_extras = documented_extras(provider)
    for key, value in extra.items():
        if key == PASS_THROUGH:
            if not isinstance(value, Mapping):
                raise ValueError(f"{PASS_THROUGH} must be a mapping of body fields to values")
            out.defaults.update(value)
        elif own_settings and key.startswith(own_settings):
            out.extras[key] = value
        elif key in REQUEST_PARAMS or key in provider_extras:
            out.defaults[key] = value
        elif all_settings and key.startswith(all_settings):
            out.unsupported.append(key)  # another provider's setting: this one never reads it
        elif key in LITELLM_PARAMS:
            out.unsupported.append(key)
        else:
            # Another provider's extra is its own nearest name: no suggestion then.
            near = nearest(key, known_names(schema_fields) - {key})
            out.unknown.append((key, near))
    return out

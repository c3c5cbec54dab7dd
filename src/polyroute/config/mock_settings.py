"""The operator's switches for the mock provider, read once from `general_settings` and the
environment.

* `allow_client_mock_response` (env `POLYROUTE_ALLOW_CLIENT_MOCK_RESPONSE`, default off):
  LiteLLM's per-request `mock_response` on models that are not mock models. A test aid: when
  off, such a request is a 403 naming `mock_response`, so a client cannot make a real model's
  deployment answer (and bill) whatever it sends. On a mock model it is always accepted.
* `builtin_mock_model` (default on): a config without its own `mock-gpt` entry still routes
  `mock-gpt` to the mock provider, as the README's first examples do with no config at all.

Whatever the switches, mock answers are bounded (providers/mock.py): the model's output maximum,
the number of choices and embedding sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

GENERAL_KEYS = ("allow_client_mock_response", "builtin_mock_model")
ENV_ALLOW = "POLYROUTE_ALLOW_CLIENT_MOCK_RESPONSE"
BUILTIN_MOCK_ENTRY = {"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class MockSettings(BaseModel):
    allow_client_mock_response: bool = False
    builtin_mock_model: bool = True


def mock_settings(general_extra: Mapping[str, Any], env: Mapping[str, str]) -> MockSettings:
    """The settings from general_settings' keys, the environment variable where the file is silent.
    Raises ValueError naming the key or variable when a value is not a boolean."""
    values = {k: general_extra[k] for k in GENERAL_KEYS if k in general_extra}
    raw = env.get(ENV_ALLOW)
    if "allow_client_mock_response" not in values and raw is not None:
        lowered = raw.strip().lower()
        if lowered not in _TRUE + _FALSE:
            raise ValueError(f"{ENV_ALLOW} must be true or false, not {raw!r}")
        values["allow_client_mock_response"] = lowered in _TRUE
    try:
        return MockSettings.model_validate(values, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"general_settings.{first['loc'][0]} must be true or false") from None

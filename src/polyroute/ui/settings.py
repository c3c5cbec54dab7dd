"""The web UI's settings, read once at start-up: where the gateway is, FastChat's limits (the two
FastChat reads from the environment by their names; its turn limit (50) and session expiry (3600 s)
are constants there and options of `polyroute ui` here) and the arena's model sampling (FastChat's
`SAMPLING_WEIGHTS` / `BATTLE_TARGETS` / `SAMPLING_BOOST_MODELS`, from a YAML file).

Every error names the variable or key at fault; nothing else in the UI reads the environment.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from polyroute.secrets import Secret

# FastChat's defaults (fastchat/constants.py).
INPUT_CHAR_LEN_LIMIT = 12000
BLIND_MODE_INPUT_CHAR_LEN_LIMIT = 30000
CONVERSATION_TURN_LIMIT = 50
SESSION_EXPIRATION_TIME = 3600


class UISettingsError(ValueError):
    """A setting the UI cannot use; the message names it."""


class ArenaSampling(BaseModel):
    """FastChat's arena sampling (fastchat/serve/gradio_block_arena_anony.py): the first model
    of a battle is drawn by `sampling_weights`; its opponent from `battle_targets[first]` when
    given (else any other model), with `sampling_boost_models` drawn more often."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(default_factory=list, description="models offered besides /v1/models")
    sampling_weights: dict[str, float] = Field(default_factory=dict)
    battle_targets: dict[str, list[str]] = Field(default_factory=dict)
    sampling_boost_models: list[str] = Field(default_factory=list)
    sampling_boost: float = Field(default=5.0, gt=0)
    vision_models: list[str] | None = Field(
        default=None, description="models offered an image upload; None: every model"
    )

    @field_validator("sampling_weights")
    @classmethod
    def _non_negative(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = [name for name, weight in weights.items() if weight < 0]
        if bad:
            raise ValueError(f"negative weight for {', '.join(bad)}")
        return weights


class UIFile(BaseModel):
    """The optional `--config` YAML file of `polyroute ui`."""

    model_config = ConfigDict(extra="forbid")

    arena: ArenaSampling = Field(default_factory=ArenaSampling)


class UISettings(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    gateway_url: str
    service_key: Secret | None = None  # --key-env: the key of the loopback "local" sign-in
    input_char_len_limit: int = INPUT_CHAR_LEN_LIMIT
    blind_mode_input_char_len_limit: int = BLIND_MODE_INPUT_CHAR_LEN_LIMIT
    conversation_turn_limit: int = CONVERSATION_TURN_LIMIT
    session_expiration_s: float = SESSION_EXPIRATION_TIME
    database_url: str | None = None
    data_dir: Path | None = None
    cookie_secret: bytes = Field(default_factory=lambda: secrets.token_bytes(32))
    secure_cookies: bool = True
    max_sessions: int = 10_000  # signed in
    max_anonymous_sessions: int = 2_000  # sign-in pages opened: a flood of them evicts no user
    max_image_bytes: int = 5 * 1024 * 1024
    max_images_per_conversation: int = 4
    stop_grace_s: float = 5.0  # how long a request after a stop waits for the stopped answers
    request_timeout_s: float = 600.0
    leaderboard_ttl_s: float = 10.0  # one leaderboard computation per view and category per this
    arena: ArenaSampling = Field(default_factory=ArenaSampling)
    env: dict[str, str] = Field(default_factory=dict)  # for the arena store (database, LOGDIR, ...)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UISettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise UISettingsError(f"{name} must be positive, got {value}")
    return value


def read_ui_file(path: Path | None) -> UIFile:
    if path is None:
        return UIFile()
    try:
        data: Any = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UISettingsError(f"cannot read UI config {path}: {exc}") from None
    try:
        return UIFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UISettingsError(f"UI config {path}: {where}: {first['msg']}") from None


def settings_from(
    env: Mapping[str, str],
    gateway_url: str,
    key_env: str | None = None,
    config_path: Path | None = None,
    **overrides: Any,
) -> UISettings:
    """Settings from the environment (FastChat's names) and the command line."""
    service_key = None
    if key_env:
        value = env.get(key_env)
        if not value:
            raise UISettingsError(f"--key-env {key_env}: that environment variable is not set")
        service_key = Secret(value, source=f"os.environ/{key_env}")
    secret = env.get("POLYROUTE_UI_SECRET")
    if secret is not None and len(secret) < 32:
        raise UISettingsError("POLYROUTE_UI_SECRET must be at least 32 characters")
    extra: dict[str, Any] = {"cookie_secret": secret.encode()} if secret else {}
    values: dict[str, Any] = {
        "gateway_url": gateway_url.rstrip("/"),
        "service_key": service_key,
        "input_char_len_limit": _positive_int(env, "FASTCHAT_INPUT_CHAR_LEN_LIMIT", INPUT_CHAR_LEN_LIMIT),
        "blind_mode_input_char_len_limit": _positive_int(
            env, "FASTCHAT_BLIND_MODE_INPUT_CHAR_LEN_LIMIT", BLIND_MODE_INPUT_CHAR_LEN_LIMIT
        ),
        "database_url": env.get("DATABASE_URL") or None,
        "data_dir": Path(env["POLYROUTE_DATA_DIR"]) if env.get("POLYROUTE_DATA_DIR") else None,
        "arena": read_ui_file(config_path).arena,
        "env": dict(env),
        **extra,
    }
    return UISettings(**{**values, **overrides})  # the command line's options win

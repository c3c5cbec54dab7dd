"""Arena settings: parsed once from the environment at start-up, then passed down.

| variable | default | meaning |
|---|---|---|
| `LOGDIR` | the data dir | where the FastChat-compatible `YYYY-MM-DD-conv.json` logs go |
| `COPILOT_ARENA_LEADERBOARD_URL` | unset | an external leaderboard shown beside ours (background fetch) |
| `POLYROUTE_ARENA_DAILY_VOTE_CAP` | 200 | votes one user may cast per UTC day |
| `POLYROUTE_ARENA_MAX_TURNS` | 50 (FastChat's turn limit) | turns one battle or chat may hold |
| `POLYROUTE_ARENA_BOOTSTRAP_ROUNDS` | 100 | bootstrap rounds behind the confidence intervals |
| `POLYROUTE_ARENA_EXTERNAL_REFRESH_S` | 600 | seconds between refreshes of the external leaderboard |

A bad value fails start-up with a message naming the variable. Without LOGDIR the logs go to
the data dir (`POLYROUTE_DATA_DIR`, default `./.polyroute/`, beside the SQLite database), not to
FastChat's default of the working directory: conversations are user data, and a checkout's working
directory is the wrong place for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from polyroute.store.database import DEFAULT_DATA_DIR, data_dir_from

# variable name -> field name; the only environment variables this package reads
ENV_FIELDS = {
    "LOGDIR": "logdir",
    "COPILOT_ARENA_LEADERBOARD_URL": "external_leaderboard_url",
    "POLYROUTE_ARENA_DAILY_VOTE_CAP": "daily_vote_cap",
    "POLYROUTE_ARENA_MAX_TURNS": "max_turns",
    "POLYROUTE_ARENA_BOOTSTRAP_ROUNDS": "bootstrap_rounds",
    "POLYROUTE_ARENA_EXTERNAL_REFRESH_S": "external_refresh_s",
}


class ArenaSettingsError(ValueError):
    """An arena environment variable has a value that cannot be used; the message names it."""


class ArenaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    logdir: Path = Path(DEFAULT_DATA_DIR)
    #: no conversation logs at all (tests, or operators who keep SQL only)
    write_conv_logs: bool = True
    external_leaderboard_url: str | None = None
    external_refresh_s: float = Field(default=600.0, ge=5, le=86_400)
    external_timeout_s: float = Field(default=10.0, gt=0, le=120)
    #: an external answer larger than this is refused, not read whole
    external_max_bytes: int = Field(default=2_000_000, ge=1_000, le=50_000_000)
    daily_vote_cap: int = Field(default=200, ge=1, le=1_000_000)
    max_turns: int = Field(default=50, ge=1, le=1_000)
    bootstrap_rounds: int = Field(default=100, ge=1, le=10_000)
    bootstrap_seed: int = 0
    #: a conversation whose user text is at least this long is in the "long query" category
    #: (about 500 tokens at four characters a token)
    long_query_chars: int = Field(default=2_000, ge=1)

    @field_validator("external_leaderboard_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> ArenaSettings:
        values: dict[str, object] = {
            field: env[name] for name, field in ENV_FIELDS.items() if env.get(name) not in (None, "")
        }
        values.setdefault("logdir", data_dir_from(env))
        values.update(overrides)
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "?"
            names = [name for name, f in ENV_FIELDS.items() if f == field]
            raise ArenaSettingsError(f"{names[0] if names else field}: {first['msg']}") from None

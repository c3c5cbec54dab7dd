"""FastChat-compatible conversation logs: one JSON object a line in `{LOGDIR}/YYYY-MM-DD-conv.json`.

The records carry FastChat's field names (fastchat/serve/gradio_web_server.py and
gradio_block_arena_*.py, fschat 0.2.36), so its `fastchat/serve/monitor` scripts read polyroute's
battles as their own:

- an answer: `{"tstamp", "type": "chat", "model", "gen_params", "start", "finish", "state", "ip"}`
- a vote: `{"tstamp", "type": "leftvote"|"rightvote"|"tievote"|"bothbad_vote", "models", "states", "ip"}`
  where `models` is `["", ""]` for an anonymous battle (FastChat's hidden names; the real ones are
  in each state's `model_name`) and the two names for a named one.
- a state: `{"template_name", "system_message", "roles", "messages": [[role, text], ...], "offset",
  "conv_id", "model_name"}`.

The day in the file name is the UTC day of the record (FastChat uses the server's local day).
Files are appended in a worker thread, one lock for the process, so lines never interleave.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROLES = ("user", "assistant")
TEMPLATE_NAME = "polyroute"


def log_path(logdir: Path, tstamp: float) -> Path:
    day = datetime.fromtimestamp(tstamp, UTC)
    return logdir / f"{day.year}-{day.month:02d}-{day.day:02d}-conv.json"


def conversation_state(
    *,
    conv_id: str,
    model_name: str,
    system_message: str,
    exchanges: Sequence[tuple[str, str | None]],
) -> dict[str, Any]:
    """FastChat's `State.dict()`: `exchanges` are (prompt, answer) pairs, oldest first."""
    messages: list[list[str | None]] = []
    for prompt, answer in exchanges:
        messages.append([ROLES[0], prompt])
        messages.append([ROLES[1], answer])
    return {
        "template_name": TEMPLATE_NAME,
        "system_message": system_message,
        "roles": list(ROLES),
        "messages": messages,
        "offset": 0,
        "conv_id": conv_id,
        "model_name": model_name,
    }


def chat_record(
    *,
    tstamp: float,
    model: str,
    state: dict[str, Any],
    ip: str | None,
    start: float,
    gen_params: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "tstamp": round(tstamp, 4),
        "type": "chat",
        "model": model,
        "gen_params": dict(gen_params or {}),
        "start": round(start, 4),
        "finish": round(tstamp, 4),
        "state": state,
        "ip": ip or "",
        "images": [],
    }


def vote_record(
    *,
    tstamp: float,
    vote_type: str,
    anonymous: bool,
    states: Sequence[dict[str, Any]],
    ip: str | None,
) -> dict[str, Any]:
    models = ["", ""] if anonymous else [state["model_name"] for state in states]
    return {
        "tstamp": round(tstamp, 4),
        "type": vote_type,
        "models": models,
        "states": list(states),
        "ip": ip or "",
    }


class ConversationLog:
    """Appends records to the day's file in LOGDIR, off the event loop."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self._lock = threading.Lock()

    async def append(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        await asyncio.to_thread(self._append, log_path(self.logdir, record["tstamp"]), line)

    def _append(self, path: Path, line: bytes) -> None:
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                handle.write(line)

"""What a page holds between requests: the conversation(s) of a chat, a battle or a side-by-side
comparison, kept in the server-side session so a reload shows them again.

Limits are checked here, each with the message the user sees: FastChat's input length limits
(12000 characters, 30000 in the anonymous arena), its 50-turn conversation limit and the size of
an uploaded image.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from polyroute.ui.rendering import render_message

PAGES = ("chat", "anonymous", "named")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_DATA_URL = re.compile(r"^data:(image/[a-z+.-]+);base64,([A-Za-z0-9+/=]+)$")


class LimitReached(Exception):
    """A limit the user hit; the message is shown as it is."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Side:
    """One model's side of a page: the OpenAI messages it was sent and answered."""

    model: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    streaming: bool = False

    def user_turns(self) -> int:
        return sum(1 for m in self.messages if m["role"] == "user")

    def complete(self) -> bool:
        """The last prompt has a whole answer (not stopped, not failed)."""
        return (
            bool(self.messages)
            and self.messages[-1]["role"] == "assistant"
            and not self.messages[-1].get("note")
        )


@dataclass
class Page:
    """The live conversation of one page. A chat has one side, a battle two."""

    kind: str  # "chat" | "anonymous" | "named"
    sides: list[Side]
    system_prompt: str = ""
    battle_id: str | None = None
    turn_index: int | None = None  # the arena store's index of the last prompt
    vote: str | None = None
    flagged: bool = False  # an answer named a model: the vote does not count on the leaderboard
    # Set while no answer streams; a stop (the browser aborting) reaches the server a moment
    # after the browser moves on, so the next request waits for this before deciding.
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    async def settled(self, timeout_s: float) -> None:
        """Returns once no answer streams, or after `timeout_s` (the caller then refuses)."""
        if not self.idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle.wait(), timeout_s)

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def revealed(self) -> bool:
        return not self.anonymous or self.vote is not None

    def streaming(self) -> bool:
        return any(side.streaming for side in self.sides)

    def user_turns(self) -> int:
        return self.sides[0].user_turns()

    def view(self) -> dict[str, Any]:
        """What the page shows; model names of an anonymous battle only after the vote."""
        return {
            "kind": self.kind,
            "battle_id": self.battle_id,
            "vote": self.vote,
            "flagged": self.flagged,
            "turns": self.user_turns(),
            "streaming": self.streaming(),
            "system_prompt": self.system_prompt,
            "sides": [
                {
                    "model": side.model if self.revealed else None,
                    "messages": [render_message(m) for m in side.messages],
                    "complete": side.complete(),
                }
                for side in self.sides
            ],
        }


def check_text(text: str, limit: int, anonymous: bool) -> str:
    text = text.strip()
    if not text:
        raise LimitReached("Type a message first.", "empty_input")
    if len(text) > limit:
        where = " in the anonymous arena" if anonymous else ""
        raise LimitReached(
            f"Your message is {len(text):,} characters long; the limit{where} is {limit:,} characters. "
            "Please shorten it.",
            "input_too_long",
        )
    return text


def check_turns(page: Page, turn_limit: int) -> None:
    if page.user_turns() >= turn_limit:
        raise LimitReached(
            f"This conversation has reached the limit of {turn_limit} turns. "
            "Please clear the history and start a new conversation.",
            "conversation_turn_limit",
        )


def check_image(data_url: str, max_bytes: int) -> str:
    """A data URL the models can take (png/jpeg/gif/webp, base64, at most `max_bytes` decoded)."""
    if len(data_url) > max_bytes * 4 // 3 + 64:
        raise LimitReached(f"The image is larger than {max_bytes // (1024 * 1024)} MB.", "image_too_large")
    match = _DATA_URL.match(data_url)
    if match is None or match.group(1) not in IMAGE_TYPES:
        raise LimitReached("Upload a PNG, JPEG, GIF or WebP image.", "image_type")
    try:
        base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise LimitReached("The image could not be read.", "image_unreadable") from None
    return data_url


def check_image_count(page: Page, limit: int) -> None:
    """Images stay in the conversation (the model needs them on later turns): bounded per page."""
    held = sum(
        1
        for m in page.sides[0].messages
        if isinstance(m["content"], list)
        for part in m["content"]
        if part.get("type") == "image_url"
    )
    if held >= limit:
        raise LimitReached(
            f"This conversation already holds {limit} images. Clear it to send more.", "image_limit"
        )


def user_message(text: str, image: str | None) -> dict[str, Any]:
    if image is None:
        return {"role": "user", "content": text}
    return {
        "role": "user",
        "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": image}}],
    }


def request_messages(page: Page, side: Side) -> list[dict[str, Any]]:
    """The OpenAI messages to send for a side: the system prompt, then the turns so far (notes
    the UI added, such as "stopped", are not sent; nor are empty failed answers, nor a prompt a
    guardrail refused: it would refuse every later turn too, and FastChat leaves a flagged prompt
    out of the conversation as well)."""
    messages: list[dict[str, Any]] = []
    if page.system_prompt:
        messages.append({"role": "system", "content": page.system_prompt})
    turns = side.messages
    for i, m in enumerate(turns):
        answer = turns[i + 1] if i + 1 < len(turns) else None
        if m["role"] == "user" and answer is not None and answer.get("note") == "refused":
            continue  # refused by a guardrail: the model never took this turn
        if m["role"] == "assistant" and m.get("note") and not m["content"]:
            continue  # a failed or stopped answer with no text: nothing the model said
        messages.append({"role": m["role"], "content": m["content"]})
    return messages


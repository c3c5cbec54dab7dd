"""Guardrails on a growing stream: called by StreamRelay before each batch of bytes leaves.

The first call waits for the during_call checks (the stream's first byte is held until they
pass). post_call guardrails then look at the text as it grows: a local one (blocklist) at every
batch, a remote one each time `stream_check_chars` new characters have come (default 400) and
once more before the end marker. Each check gets the new text and a little before it, so the
text sent to a service grows linearly with the answer, not with its square. A batch is
checked before it is written, so the first flagged batch never reaches the client: the stream
ends there with the error (an error event once bytes were sent, the 400 before that).
"""

from __future__ import annotations

from typing import Any

import orjson

from polyroute.guardrails.base import Withheld
from polyroute.guardrails.engine import run_together

MAX_KEPT_CHARS = 32_768  # the answer's most recent part, from which each check's window is cut
OVERLAP_CHARS = 256  # a local check re-reads this much before the new text (matches across batches)
CONTEXT_CHARS = 1_000  # a remote check also gets this much of what it has seen (context)


def delta_text(data: bytes) -> str:
    """The generated text in a batch of OpenAI chat (or completion) SSE events."""
    pieces = []
    for line in data.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if not payload or payload == b"[DONE]":
            continue
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(chunk, dict):
            continue
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                for key in ("content", "refusal"):
                    if isinstance(delta.get(key), str):
                        pieces.append(delta[key])
            elif isinstance(choice.get("text"), str):
                pieces.append(choice["text"])
    return "".join(pieces)


class StreamGuard:
    __slots__ = ("guards", "gated", "text", "total", "checked", "withheld")

    def __init__(self, guards: Any) -> None:
        self.guards = guards
        self.gated = False
        self.text = ""  # the most recent MAX_KEPT_CHARS of the answer
        self.total = 0  # characters of answer seen
        self.checked = {g.name: 0 for g in guards.by_mode["post_call"]}  # checked up to, per guardrail
        self.withheld = False  # the relay bills a stream withheld before its first byte too

    async def on_send(self, data: bytes) -> None:
        """Raises Withheld when the batch (or the answer so far) must not reach the client."""
        try:
            await self._check(data)
        except Withheld:
            self.withheld = True
            raise

    async def on_text(self, new: str, final: bool) -> None:
        """The same for a translated stream, given its chunks' text (its bytes are in the client's
        protocol); `final` after the last chunk."""
        try:
            await self._check_text(new, final)
        except Withheld:
            self.withheld = True
            raise

    async def _check(self, data: bytes) -> None:
        if not data and self.gated:
            return
        await self._check_text(delta_text(data) if data else "", b"[DONE]" in data)

    async def _check_text(self, new: str, final: bool) -> None:
        if not self.gated:
            await self.guards.gate()
            self.gated = True
        if not self.checked:
            return
        if new:
            self.text = (self.text + new)[-MAX_KEPT_CHARS:]
            self.total += len(new)
        due = []
        for guardrail in self.guards.by_mode["post_call"]:
            done = self.checked[guardrail.name]
            if self.total > done and (final or self.total - done >= guardrail.stream_check_chars):
                due.append(guardrail)
        if not due:
            return
        kept_from = self.total - len(self.text)

        def window(guardrail: Any) -> str:
            # What is new to this guardrail, plus some text before it (a match across batches,
            # a remote model's context): each character is sent a bounded number of times.
            back = CONTEXT_CHARS if guardrail.remote else OVERLAP_CHARS
            return self.text[max(0, self.checked[guardrail.name] - back - kept_from) :]

        await run_together(self.guards.check_text(window(g), [g]) for g in due)
        for guardrail in due:
            self.checked[guardrail.name] = self.total

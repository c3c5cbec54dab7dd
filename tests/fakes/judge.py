"""A scripted LLM judge: the fake OpenAI server, answering each chat request with a verdict
computed from the request itself (so concurrent requests get the same answers in any order).

`FakeJudge(rule)`: `rule(body) -> Reply | Error` sees the parsed request JSON. Everything else
(auth, error bodies, SSE framing, usage) is FakeOpenAI's real wire format.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.base import Behaviour, RecordedRequest, Reply
from tests.fakes.openai import FakeOpenAI

Rule = Callable[[dict[str, Any]], Behaviour]


class FakeJudge(FakeOpenAI):
    def __init__(self, rule: Rule, api_key: str = "sk-fake-judge-key-0123456789abcdef") -> None:
        super().__init__(api_key=api_key)
        self.rule = rule

    async def _behaviour(self, request: web.Request, rec: RecordedRequest) -> Reply | web.Response:
        denied = self._auth_error(request, rec)
        if denied is not None:
            return denied
        behaviour = self.rule(rec.json or {})
        if isinstance(behaviour, Reply):
            return behaviour
        if behaviour.ttfb:
            await asyncio.sleep(behaviour.ttfb)
        return self._error(behaviour)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.json for r in self.requests if r.path.endswith("/chat/completions")]

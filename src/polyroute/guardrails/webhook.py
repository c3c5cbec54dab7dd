"""`webhook`: the operator's own service decides.

`POST {api_base}` with `{"guardrail", "input_type": "request"|"response", "messages"}`
(a response is one assistant message); the answer is `{"action": "allow"|"block"|"mask",
"messages"?, "category"?}`. `mask` replaces the request's messages (pre_call only: in the other
modes the content has already left or been produced, so a mask answer blocks).
"""

from __future__ import annotations

from typing import Any

from polyroute.guardrails.base import ALLOW, Guardrail, GuardrailFailure, Verdict
from polyroute.guardrails.remote import post_json
from polyroute.secrets import Secret


class WebhookGuardrail(Guardrail):
    kind = "webhook"
    masks = True

    def __init__(
        self, *, api_base: str, api_key: Secret | None, headers: dict[str, str], **common: Any
    ) -> None:
        super().__init__(**common)
        self.url = api_base
        self.api_key = api_key
        self.headers = headers

    def _headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.api_key:
            headers["authorization"] = "Bearer " + self.api_key.reveal()
        return headers

    async def _ask(self, http: Any, input_type: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        payload = {"guardrail": self.name, "input_type": input_type, "messages": messages}
        return await post_json(http, "the guardrail webhook", self.url, self._headers(), payload)

    async def check_input(self, messages: list[dict[str, Any]], http: Any) -> Verdict:
        return self._verdict(await self._ask(http, "request", messages), can_mask=True)

    async def check_output(self, text: str, http: Any) -> Verdict:
        answer = [{"role": "assistant", "content": text}]
        return self._verdict(await self._ask(http, "response", answer), can_mask=False)

    def _verdict(self, data: dict[str, Any], can_mask: bool) -> Verdict:
        action = data.get("action")
        category = data.get("category")
        category = category if isinstance(category, str) and category else None
        if action == "allow":
            return ALLOW
        if action == "block":
            return Verdict("block", category or "webhook")
        if action == "mask":
            messages = data.get("messages")
            if not can_mask:
                return Verdict("block", category or "webhook")
            if (
                not isinstance(messages, list)
                or not messages
                or not all(isinstance(m, dict) for m in messages)
            ):
                raise GuardrailFailure("the guardrail webhook answered mask without a list of messages")
            return Verdict("mask", category, messages=messages)
        raise GuardrailFailure("the guardrail webhook answered no action of allow, block or mask")

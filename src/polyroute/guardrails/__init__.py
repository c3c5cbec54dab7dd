"""Guardrails: moderation, blocklists, PII masking and webhooks around the model routes.

Configured by the config file's top-level `guardrails:` list (LiteLLM's shape: config.py);
chosen per request by `default_on`, the key's/team's/user's metadata and the request's own
`guardrails` field (engine.py). A route calls three hooks (engine.py's docstring shows them):
`pre_call` before routing, `check_answer` / `stream_guard` inside the attempt, and
`run_guarded` around the router. A block is OpenAI's 400 `invalid_request_error` with code
`content_policy_violation`, naming the guardrail and category and never the flagged content.

`build_guardrails` (config.py) is not imported here: it brings every kind of guardrail's code,
which a process without a `guardrails:` list never needs (issue 20: idle RSS).
"""

from polyroute.guardrails.base import Guardrail, Verdict, Withheld
from polyroute.guardrails.engine import GuardrailSet, RequestGuards, pre_call, run_guarded

__all__ = [
    "Guardrail",
    "GuardrailSet",
    "RequestGuards",
    "Verdict",
    "Withheld",
    "pre_call",
    "run_guarded",
]

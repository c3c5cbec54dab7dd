"""Guardrails: moderation, blocklists, PII masking and webhooks around the model routes.

Configured by the config file's top-level `guardrails:` list (LiteLLM's shape: config.py);
chosen per request by `default_on`, the key's/team's/user's metadata and the request's own
`guardrails` field (engine.py). A route calls three hooks (engine.py's docstring shows them):
`pre_call` before routing, `check_answer` / `stream_guard` inside the attempt, and
`run_guarded` around the router. A block is OpenAI's 400 `invalid_request_error` with code
`content_policy_violation`, naming the guardrail and category and never the flagged content.
"""

from polyroute.guardrails.base import Guardrail, Verdict, Withheld
from polyroute.guardrails.config import build_guardrails
from polyroute.guardrails.engine import GuardrailSet, RequestGuards, pre_call, run_guarded

__all__ = [
    "Guardrail",
    "GuardrailSet",
    "RequestGuards",
    "Verdict",
    "Withheld",
    "build_guardrails",
    "pre_call",
    "run_guarded",
]

"""Who is calling, and what they may do.

The master key holder is the proxy admin: every route, every model. A virtual key may call the
model routes for its allowed models (the key's, its team's and its user's lists all apply; an
empty list allows every model), read its own /key/info, and nothing else: it can never raise
its own limits, mint keys, read others' spend or reach admin routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from polyroute.auth.keys import KeyRecord
from polyroute.errors import PermissionDeniedError

ADMIN, VIRTUAL_KEY, ANONYMOUS = "proxy_admin", "virtual_key", "anonymous"
# No master key and --allow-unauthenticated: a remote caller nobody authenticated.
OPEN_ACCESS = "open_access"
# Keys in a request body that name other models the request may be served by.
_FALLBACK_FIELDS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    key: KeyRecord | None = None

    @property
    def is_admin(self) -> bool:
        return self.role in (ADMIN, ANONYMOUS, OPEN_ACCESS)

    @property
    def spend_label(self) -> str:
        """What spend logs record as `api_key`: the key's hash, never a key (the master key's
        hash would let anyone holding the table brute-force a short master key)."""
        if self.key is not None:
            return self.key.token
        return "master_key" if self.role == ADMIN else ""

    def require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise PermissionDeniedError(
                f"{what} needs the master key; this virtual key may only call models and read its own "
                "/key/info",
                code="admin_only",
            )

    def allows_model(self, model: str, alias_target: str | None = None) -> bool:
        if self.key is None:
            return True
        names = (model,) if alias_target is None else (model, alias_target)
        for entity in self.key.entities:
            if entity.models and not any(_matches(allowed, n) for allowed in entity.models for n in names):
                return False
        return True

    def check_models(self, body: dict[str, Any], aliases: dict[str, str]) -> None:
        """403 naming the model when the request (or a fallback it asks for) is not allowed."""
        if self.key is None:
            return
        wanted = [body.get("model")]
        for field in _FALLBACK_FIELDS:
            value = body.get(field)
            if isinstance(value, list):
                wanted += [item.get("model") if isinstance(item, dict) else item for item in value]
        for model in wanted:
            if isinstance(model, str) and not self.allows_model(model, aliases.get(model)):
                raise PermissionDeniedError(
                    f"key '{self.key.label}' is not allowed to call model '{model}'",
                    param="model",
                    code="model_not_allowed",
                )


def _matches(allowed: str, model: str) -> bool:
    # LiteLLM's "all-proxy-models" and wildcard entries such as "openai/*".
    return allowed in ("*", "all-proxy-models") or allowed == model or fnmatchcase(model, allowed)

"""Which failures are retried, how long to wait, and how much retrying the process allows.

Errors are classed into LiteLLM's families (so `retry_policy` keys carry over); each family has
a default retry rule. Deployment-level failures (the provider refused *our* key, or the model is
missing there) move on to another deployment but are never retried on the same one.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from polyroute.errors import (
    AuthenticationError,
    ContentPolicyViolationError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    UpstreamTimeoutError,
)

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
RETRY_AFTER_CAP_S = 60.0  # a provider asking for longer is treated as "not now": try elsewhere


def error_family(error: GatewayError) -> str:
    if isinstance(error, RateLimitError):
        return "RateLimitError"
    if isinstance(error, UpstreamTimeoutError):
        return "TimeoutError"
    if isinstance(error, ContentPolicyViolationError):
        return "ContentPolicyViolationError"
    if isinstance(error, AuthenticationError | PermissionDeniedError):
        return "AuthenticationError"
    if isinstance(
        error, InvalidRequestError | UnprocessableEntityError | PayloadTooLargeError | NotFoundError
    ):
        return "BadRequestError"
    return "InternalServerError"


def is_deployment_fault(error: GatewayError) -> bool:
    """The provider rejected this deployment (its key, its model), not the client's request."""
    if error.provider is None:
        return False  # raised by the gateway itself, e.g. an unknown model name
    return isinstance(error, AuthenticationError | PermissionDeniedError) or type(error) is NotFoundError


def is_client_fault(error: GatewayError) -> bool:
    """The request itself is wrong: the same body fails on every deployment."""
    return not is_deployment_fault(error) and error_family(error) in (
        "BadRequestError",
        "ContentPolicyViolationError",
    )


def retries_allowed(error: GatewayError, default: int, policy: dict[str, int]) -> int:
    """How many retries this kind of failure gets in total."""
    family = error_family(error)
    if family in policy:
        return policy[family]
    if is_client_fault(error):
        return 0
    return default


def backoff_delay(attempt: int, retry_after: float | None, minimum: float, rng: random.Random) -> float:
    """Seconds before retry number `attempt` (1-based): the provider's Retry-After when it gave
    one we can honour, else exponential backoff with jitter; never below `minimum`."""
    if retry_after is not None and 0 <= retry_after <= RETRY_AFTER_CAP_S:
        return max(retry_after, minimum)
    exponential = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return max(minimum, exponential * (0.75 + rng.random() * 0.5))


@dataclass
class RetryBudget:
    """Caps retries at `ratio` of first attempts plus a floor, per process (a token bucket), so a
    failing provider cannot turn every request into N requests and deepen its own outage."""

    ratio: float = 0.2
    min_per_s: float = 10.0
    clock: object = time.monotonic
    _tokens: float = 0.0
    _last: float | None = None

    def _refill(self) -> None:
        now = self.clock()  # type: ignore[operator]
        if self._last is None:
            self._last, self._tokens = now, self.min_per_s
            return
        elapsed, self._last = now - self._last, now
        self._tokens = min(self.min_per_s + 100.0, self._tokens + elapsed * self.min_per_s)

    def on_request(self) -> None:
        self._refill()
        self._tokens = min(self._tokens + self.ratio, self.min_per_s + 100.0)

    def try_spend(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

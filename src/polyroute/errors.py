"""One error tree for the whole gateway.

Every failure a client sees is a `GatewayError`: it knows its HTTP status, the OpenAI error
`type`/`code`/`param`, whether the router may retry it, and any headers (Retry-After) to pass on.
`to_body()` renders OpenAI's error shape. Messages are scrubbed of secrets before rendering.
"""

from __future__ import annotations

from typing import Any

import orjson


class GatewayError(Exception):
    """Base of every error the gateway answers with."""

    status: int = 500
    type: str = "api_error"
    code: str | None = None
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self.headers = dict(headers or {})
        self.provider = provider

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            # Integer seconds, rounded up, so a client never retries too early.
            seconds = max(0, int(-(-self.retry_after // 1)))
            headers["retry-after"] = str(seconds)
            headers["retry-after-ms"] = str(int(self.retry_after * 1000))
        return headers

    def to_dict(self, request_id: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "param": self.param,
            "code": self.code,
        }
        if request_id:
            error["request_id"] = request_id
        return {"error": error}

    def to_body(self, request_id: str | None = None) -> bytes:
        return orjson.dumps(self.to_dict(request_id))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


# ---- client errors -------------------------------------------------------------------------------


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"


def invalid_value(param: str, why: str, code: str = "invalid_value") -> InvalidRequestError:
    """The 400 for a field a client set wrong, naming it: "Invalid value for '<param>': <why>"."""
    return InvalidRequestError(f"Invalid value for '{param}': {why}", param=param, code=code)


class ContextWindowExceededError(InvalidRequestError):
    code = "context_length_exceeded"


class ContentPolicyViolationError(InvalidRequestError):
    code = "content_policy_violation"


class UnsupportedParamsError(InvalidRequestError):
    code = "unsupported_parameter"


class RefusedParamError(InvalidRequestError):
    """A request param the gateway will not act on: client credentials switched off, not allowed
    for the model, or a value outside the operator's pattern. A 403 that names the param; an
    InvalidRequestError underneath so the router treats it as the client's fault (no retry, no
    cooldown of a deployment, no fallback that would hit the same refusal)."""

    status = 403
    type = "permission_error"
    code = "param_not_allowed"


class UnsafeUpstreamError(RefusedParamError):
    """A client-chosen upstream resolves to an address the gateway refuses to connect to."""

    code = "unsafe_upstream_address"


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    status = 403
    type = "permission_error"


class NotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class ConflictError(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class PayloadTooLargeError(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UnprocessableEntityError(GatewayError):
    status = 422
    type = "invalid_request_error"


class RateLimitError(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    retryable = True


class BudgetExceededError(GatewayError):
    """A key, team or user has spent its budget (LiteLLM answers 400 with type budget_exceeded)."""

    status = 400
    type = "budget_exceeded"
    code = "budget_exceeded"


# ---- upstream / server errors ---------------------------------------------------------------------


class InternalServerError(GatewayError):
    status = 500
    type = "api_error"
    code = "internal_error"


class UpstreamError(GatewayError):
    """The provider failed (5xx, a malformed answer, a dropped connection)."""

    status = 502
    type = "api_error"
    code = "upstream_error"
    retryable = True


class UpstreamConnectionError(UpstreamError):
    code = "upstream_connection_error"


class UpstreamTooLargeError(UpstreamError):
    """An upstream's answer broke a bound: body size, event size or decompression (a bomb)."""

    code = "upstream_answer_too_large"


class UpstreamMalformedError(UpstreamError):
    """An upstream's stream held an event that is not what its protocol allows."""

    code = "upstream_malformed_event"


class ServiceUnavailableError(GatewayError):
    """The provider is overloaded or nothing can serve the model right now."""

    status = 503
    type = "api_error"
    code = "service_unavailable"
    retryable = True


class UpstreamTimeoutError(GatewayError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
    retryable = True


_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_upstream_status(status: int) -> type[GatewayError]:
    """The gateway error class for a provider's HTTP status (no message parsing)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status in (408,):
        return UpstreamTimeoutError
    if status in (502, 503, 529):
        return ServiceUnavailableError
    if status == 504:
        return UpstreamTimeoutError
    if status >= 500:
        return UpstreamError
    if 400 <= status < 500:
        return InvalidRequestError
    return UpstreamError

"""The mock's error answers: scripted ones (`mock_error_rate`), and LiteLLM's
`mock_response: "litellm.RateLimitError"` strings, which make the mock answer as a provider
answering that error would (status, OpenAI error type and code), so retries, fallbacks and
cooldowns can be tested offline."""

from __future__ import annotations

# status -> (OpenAI error type, code) for scripted errors
STATUS_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
}

# LiteLLM's exception names (litellm/exceptions.py) -> the status and code a provider sends.
LITELLM_ERRORS: dict[str, tuple[int, str | None]] = {
    "BadRequestError": (400, None),
    "InvalidRequestError": (400, None),
    "UnsupportedParamsError": (400, "unsupported_params"),
    "ContextWindowExceededError": (400, "context_length_exceeded"),
    "ContentPolicyViolationError": (400, "content_policy_violation"),
    "AuthenticationError": (401, "invalid_api_key"),
    "PermissionDeniedError": (403, None),
    "NotFoundError": (404, "model_not_found"),
    "Timeout": (408, None),
    "APITimeoutError": (408, None),
    "UnprocessableEntityError": (422, None),
    "RateLimitError": (429, "rate_limit_exceeded"),
    "InternalServerError": (500, None),
    "APIError": (500, None),
    "APIConnectionError": (500, None),
    "BadGatewayError": (502, None),
    "ServiceUnavailableError": (503, None),
}
PREFIX = "litellm."


def litellm_error(text: str) -> tuple[int, str | None, str] | None:
    """(status, code, name) for a `litellm.<ExceptionName>` mock_response; None for any other text."""
    if not text.startswith(PREFIX):
        return None
    name = text[len(PREFIX) :].strip()
    found = LITELLM_ERRORS.get(name)
    return (found[0], found[1], name) if found else None


def error_body(status: int, message: str, code: str | None = None) -> dict[str, object]:
    kind, default_code = STATUS_ERRORS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code or default_code}}

"""Bedrock runtime error answers -> the gateway's error tree.

A failed call answers with an HTTP status, the error's name in the `x-amzn-ErrorType` header
(`ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`: the name is the
part before the colon) and a body `{"message": "..."}`. A failed stream sends an event-stream
`exception` message whose `:exception-type` names the error in lower camel case
(`throttlingException`) with the same JSON body. The class follows the documented name, then the
status:

  ThrottlingException (429)            RateLimitError: retried, then the fallbacks
  ModelNotReadyException (429)         ServiceUnavailableError: the model is loading; retried
  ServiceUnavailableException (503)    ServiceUnavailableError
  InternalServerException (500)        UpstreamError
  ModelStreamErrorException (424)      UpstreamError (the model failed mid-stream)
  ModelErrorException (424)            UpstreamError
  ModelTimeoutException (408)          UpstreamTimeoutError
  ValidationException (400)            InvalidRequestError; ContextWindowExceededError when its
                                       message says the input is too long (the only hint AWS gives)
  AccessDeniedException (403)          PermissionDeniedError
  UnrecognizedClientException,         AuthenticationError (a bad key id or signature)
  InvalidSignatureException (403)
  ResourceNotFoundException (404)      NotFoundError
  ServiceQuotaExceededException (400)  RateLimitError (a quota, not the request, is at fault)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from polyroute.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
    UpstreamTimeoutError,
    error_for_upstream_status,
)
from polyroute.providers.base import retry_after_from_headers

PROVIDER = "bedrock"

BY_NAME: dict[str, type[GatewayError]] = {
    "ThrottlingException": RateLimitError,
    "ServiceQuotaExceededException": RateLimitError,
    "ModelNotReadyException": ServiceUnavailableError,
    "ServiceUnavailableException": ServiceUnavailableError,
    "InternalServerException": UpstreamError,
    "ModelStreamErrorException": UpstreamError,
    "ModelErrorException": UpstreamError,
    "ModelTimeoutException": UpstreamTimeoutError,
    "ValidationException": InvalidRequestError,
    "AccessDeniedException": PermissionDeniedError,
    "UnrecognizedClientException": AuthenticationError,
    "InvalidSignatureException": AuthenticationError,
    "ExpiredTokenException": AuthenticationError,
    "ResourceNotFoundException": NotFoundError,
}

# ValidationException messages that mean the prompt is over the model's context window, as
# Bedrock and the models behind it word them ("Input is too long for requested model.",
# "prompt is too long: 210000 tokens > 200000 maximum", "...exceeds the maximum context length").
_TOO_LONG = re.compile(r"too long|context length|context window|maximum number of tokens", re.IGNORECASE)


def map_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    name = error_name(headers.get("x-amzn-errortype") or headers.get("x-amzn-ErrorType"))
    if name is None:
        name = _body_field(body, "__type")
    message = _body_field(body, "message") or _body_field(body, "Message")
    return error_for(name, message or f"bedrock returned HTTP {status}", status, headers)


def error_for(
    name: str | None, message: str, status: int | None = None, headers: Mapping[str, str] | None = None
) -> GatewayError:
    """The gateway error for Bedrock's error `name` (header, body `__type` or stream exception)."""
    cls = BY_NAME.get(name or "") or error_for_upstream_status(status or 500)
    if cls is InvalidRequestError and _TOO_LONG.search(message):
        cls = ContextWindowExceededError
    retry_after = retry_after_from_headers(headers) if headers else None
    error = cls(f"{name}: {message}" if name else message, retry_after=retry_after, provider=PROVIDER)
    return error


def stream_error(event_name: str, payload: bytes) -> GatewayError:
    """The error of an event-stream `exception:<type>` or `error:<code>` event."""
    kind, _, name = event_name.partition(":")
    if kind == "error":
        return error_for(name or None, payload.decode(errors="replace") or "stream error")
    name = name[:1].upper() + name[1:]  # throttlingException -> ThrottlingException
    return error_for(name, _body_field(payload, "message") or "stream failed")


def error_name(value: str | None) -> str | None:
    """`ThrottlingException:http://internal...` -> `ThrottlingException`."""
    if not value:
        return None
    name = value.split(":", 1)[0].strip()
    return name.rsplit("#", 1)[-1] or None


def _body_field(body: bytes, key: str) -> str | None:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict) and isinstance(data.get(key), str):
        return data[key]
    return None

"""Retry-After as providers send it: seconds, an HTTP date (RFC 9110) or retry-after-ms, read as
the openai SDK reads them; and the headers the gateway sends on."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from polyroute.errors import RateLimitError
from polyroute.providers.anthropic.adapter import AnthropicAdapter
from polyroute.providers.base import retry_after_from_headers
from polyroute.providers.openai_compat import OpenAICompatibleAdapter

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # the finer one wins
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),  # unreadable ms: fall back
        ({"retry-after": formatdate(NOW + 12, usegmt=True)}, 12.0),
        ({"retry-after": formatdate(NOW + 12, localtime=True)}, 12.0),  # with a zone offset
        ({"retry-after": "Sun, 06 Nov 1994 08:49:37 GMT"}, 0.0),  # a date passed: now
        ({"retry-after": "next tuesday"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after": ""}, None),
        ({}, None),
    ],
)
def test_retry_after_forms(headers, seconds):
    assert retry_after_from_headers(headers, now=NOW) == seconds


def test_http_date_defaults_to_the_wall_clock():
    import time

    value = retry_after_from_headers({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert value is not None and 28 <= value <= 30


@pytest.mark.parametrize(
    "adapter",
    [OpenAICompatibleAdapter(), AnthropicAdapter()],
    ids=lambda a: a.name,
)
def test_adapters_read_every_form(adapter):
    error = adapter.map_error(429, b"{}", {"retry-after-ms": "2500"})
    assert isinstance(error, RateLimitError) and error.retry_after == 2.5


def test_gateway_passes_it_on_in_both_forms_rounded_up():
    headers = RateLimitError("slow down", retry_after=2.2).response_headers()
    assert headers == {"retry-after": "3", "retry-after-ms": "2200"}

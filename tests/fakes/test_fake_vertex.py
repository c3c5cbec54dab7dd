"""The Vertex fake's OAuth token exchange checked against the official client: google-auth's
service-account credentials (a generated RSA key, token_uri pointing at the fake) get a token
the fake's Vertex routes accept; a key the fake did not issue is refused as Google refuses it."""

from __future__ import annotations

import google.auth.exceptions
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account

from tests.fakes.base import Error, Reply
from tests.fakes.vertex import FakeVertex

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


@pytest.fixture(scope="module")
def fake():
    with FakeVertex() as server:
        yield server


def _path(fake, publisher, model, method):
    where = f"v1/projects/{fake.project}/locations/us-central1"
    return f"{fake.url}/{where}/publishers/{publisher}/models/{model}:{method}"


def test_service_account_token_exchange_and_calls(fake):
    credentials = service_account.Credentials.from_service_account_info(
        fake.service_account_info(), scopes=SCOPES
    )
    credentials.refresh(Request())
    assert credentials.token.startswith("ya29.") and credentials.expiry is not None
    session = AuthorizedSession(credentials)
    fake.script(Reply(text="hi there"))
    answer = session.post(
        _path(fake, "google", "gemini-2.5-flash", "generateContent"),
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["candidates"][0]["content"]["parts"][0]["text"] == "hi there"
    fake.script(Reply(text="claude here"))
    answer = session.post(
        _path(fake, "anthropic", "claude-sonnet-4-5@20250929", "rawPredict"),
        json={
            "anthropic_version": "vertex-2023-10-16",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert answer.status_code == 200 and answer.json()["content"][0]["text"] == "claude here"
    fake.script(
        Error(
            429, message="Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute"
        )
    )
    answer = session.post(
        _path(fake, "google", "gemini-2.5-flash", "generateContent"),
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert answer.status_code == 429 and answer.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_a_key_the_fake_did_not_issue_is_refused(fake):
    info = fake.service_account_info()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        credentials.refresh(Request())


def test_calls_without_a_valid_token_are_unauthenticated(fake):
    import requests

    answer = requests.post(
        _path(fake, "google", "gemini-2.5-flash", "generateContent"),
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        headers={"authorization": "Bearer ya29.made-up"},
        timeout=10,
    )
    assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"

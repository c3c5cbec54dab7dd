"""SigV4 through botocore's credential chain, checked by the Bedrock fake's signature check:
environment keys, a named profile, refreshable credentials refreshed off the event loop, and
a clear error when there are none."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from botocore.credentials import RefreshableCredentials

from polyroute.errors import AuthenticationError
from polyroute.providers.bedrock.signing import AwsSigner, SignedWire, SigningTransport
from polyroute.providers.transport import HttpTransport
from tests.fakes.bedrock import FakeBedrock

KEYS = {
    "AKIAENVIRONMENT00001": ("env/secret/0123456789", None),
    "AKIAPROFILE000000001": ("profile/secret/0123456789", None),
    "ASIAREFRESHED0000001": ("refreshed/secret/0123", "token-after-refresh"),
}
BODY = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.fixture(scope="module")
def fake():
    with FakeBedrock(keys=KEYS) as server:
        yield server


@pytest.fixture
def no_ambient_aws(monkeypatch, tmp_path):
    """Nothing from the machine's own AWS setup: empty files, no metadata service."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


async def _send(fake: FakeBedrock, signer: AwsSigner) -> int:
    http = HttpTransport()
    try:
        wire = SignedWire(
            f"{fake.url}/model/amazon.nova-lite-v1:0/converse",
            {"content-type": "application/json"},
            orjson.dumps(BODY),
            signer=signer,
        )
        response = await SigningTransport(http).send(wire)
        await response.read()
        return response.status
    finally:
        await http.close()


def test_keys_from_the_environment(fake, no_ambient_aws, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env/secret/0123456789")
    assert asyncio.run(_send(fake, AwsSigner("us-east-1", None, None))) == 200


def test_a_named_profile(fake, no_ambient_aws):
    (no_ambient_aws / "no-credentials").write_text(
        "[gateway]\n"
        "aws_access_key_id = AKIAPROFILE000000001\n"
        "aws_secret_access_key = profile/secret/0123456789\n"
    )
    assert asyncio.run(_send(fake, AwsSigner("us-east-1", None, "gateway"))) == 200


def test_no_credentials_is_a_clear_error(fake, no_ambient_aws):
    with pytest.raises(AuthenticationError, match="no AWS credentials found"):
        asyncio.run(_send(fake, AwsSigner("us-east-1", None, None)))


def test_expiring_credentials_are_refreshed_in_a_thread(fake):
    refreshed_in: list[int] = []

    def refresh():
        refreshed_in.append(threading.get_ident())
        expiry = datetime.now(UTC) + timedelta(hours=1)
        return {
            "access_key": "ASIAREFRESHED0000001",
            "secret_key": "refreshed/secret/0123",
            "token": "token-after-refresh",
            "expiry_time": expiry.isoformat(),
        }

    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()  # inside botocore's refresh window
    stale = {"access_key": "ASIASTALE", "secret_key": "stale", "token": "stale", "expiry_time": soon}
    signer = AwsSigner("us-east-1", None, None)
    signer._credentials = RefreshableCredentials.create_from_metadata(stale, refresh, "test")

    async def run():
        loop_thread = threading.get_ident()
        status = await _send(fake, signer)
        return status, loop_thread

    status, loop_thread = asyncio.run(run())
    assert status == 200  # signed with the refreshed keys and token (the fake knows only those)
    assert refreshed_in and loop_thread not in refreshed_in

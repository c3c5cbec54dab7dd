"""The Bedrock fake checked against the official client: boto3's bedrock-runtime signs with
SigV4, parses the fake's Converse answers, its event-stream bytes and its error headers."""

from __future__ import annotations

import base64

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fakes.base import Error, Reply, ToolCall
from tests.fakes.bedrock import FakeBedrock

KEY_ID, SECRET = "AKIAFAKEBEDROCK0001", "fake/secret+bedrock/key0123456789abcdefgh"
TEMP_ID, TEMP_SECRET, TOKEN = "ASIAFAKETEMPORARY01", "temp/secret/0123456789", "FQoGZXIvYXdzEfakesessiontoken"
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


@pytest.fixture(scope="module")
def fake():
    with FakeBedrock(keys={KEY_ID: (SECRET, None), TEMP_ID: (TEMP_SECRET, TOKEN)}) as server:
        yield server


def client(fake, key_id=KEY_ID, secret=SECRET, token=None):
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=fake.url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_converse_text_tools_and_image(fake):
    fake.script(Reply(text="A red dot.", tool_calls=[ToolCall("look", {"at": "dot"})], cached_tokens=4))
    answer = client(fake).converse(
        modelId=MODEL,
        system=[{"text": "terse"}],
        messages=[
            {
                "role": "user",
                "content": [{"text": "what?"}, {"image": {"format": "png", "source": {"bytes": PIXEL}}}],
            }
        ],
        inferenceConfig={"maxTokens": 50, "temperature": 0.2},
    )
    content = answer["output"]["message"]["content"]
    assert content[0] == {"text": "A red dot."}
    assert content[1]["toolUse"]["name"] == "look" and content[1]["toolUse"]["input"] == {"at": "dot"}
    assert answer["stopReason"] == "tool_use"
    assert answer["usage"] == {
        "inputTokens": 7,
        "outputTokens": 7,
        "totalTokens": 18,
        "cacheReadInputTokens": 4,
    }
    sent = fake.requests[-1]
    assert sent.path == f"/model/{MODEL}/converse"
    assert (
        sent.json["messages"][0]["content"][1]["image"]["source"]["bytes"] == base64.b64encode(PIXEL).decode()
    )


def test_converse_stream_is_real_event_stream(fake):
    fake.script(Reply(text="one two three", tool_calls=[ToolCall("get_weather", {"city": "Paris"})]))
    answer = client(fake).converse_stream(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}]
    )
    events = list(answer["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    text = "".join(
        e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e
    )
    arguments = "".join(
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e and "toolUse" in e["contentBlockDelta"]["delta"]
    )
    assert text == "one two three" and arguments == '{"city":"Paris"}'
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "get_weather" and start["contentBlockIndex"] == 1
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 7
    assert answer["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"


def test_in_stream_exception_is_raised_by_boto3(fake):
    fake.script(Reply(text="a b c d", error_after=2, extra={"stream_exception": "throttlingException"}))
    answer = client(fake).converse_stream(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}]
    )
    with pytest.raises(ClientError) as raised:
        list(answer["stream"])
    assert raised.value.response["Error"]["Code"] == "throttlingException"


@pytest.mark.parametrize(
    "error, code",
    [
        (Error(429, message="Too many requests, please wait before trying again."), "ThrottlingException"),
        (Error(429, type="ModelNotReadyException", message="Model is not ready"), "ModelNotReadyException"),
        (Error(400, message="Input is too long for requested model."), "ValidationException"),
        (Error(503, message="Bedrock is unable to process your request."), "ServiceUnavailableException"),
    ],
)
def test_errors_parse_as_boto3_client_errors(fake, error, code):
    fake.script(error)
    with pytest.raises(ClientError) as raised:
        client(fake).converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == error.status
    assert raised.value.response["Error"]["Message"] == error.message


def test_session_token_credentials_are_accepted(fake):
    answer = client(fake, TEMP_ID, TEMP_SECRET, TOKEN).converse(
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}]
    )
    assert answer["output"]["message"]["content"][0]["text"]


@pytest.mark.parametrize(
    "key_id, secret, token, code",
    [
        ("AKIAUNKNOWNKEY000001", SECRET, None, "UnrecognizedClientException"),
        (KEY_ID, "not-the-secret", None, "InvalidSignatureException"),
        (TEMP_ID, TEMP_SECRET, None, "UnrecognizedClientException"),
    ],
)
def test_bad_credentials_are_refused(fake, key_id, secret, token, code):
    with pytest.raises(ClientError) as raised:
        client(fake, key_id, secret, token).converse(
            modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_roles_must_alternate(fake):
    with pytest.raises(ClientError) as raised:
        client(fake).converse(
            modelId=MODEL,
            messages=[
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "user", "content": [{"text": "b"}]},
            ],
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"

"""To an Anthropic deployment, /v1/messages passes the client's request and the answer through
byte for byte: the upstream receives exactly the bytes the client sent (spacing, key order,
cache_control, thinking signatures untouched) when the model name is the deployment's own, and the
client receives the upstream's stream exactly as it was sent. The anthropic SDK reads both."""

from __future__ import annotations

import re
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.conftest import ANTHROPIC_KEY, MASTER_KEY
from tests.fakes.base import Reply
from tests.gateway import GatewayServer

MODEL = "claude-sonnet-4-5"


@pytest.fixture(scope="module")
def passthrough_gateway(fake_anthropic, tmp_path_factory):
    config = {
        "model_list": [
            # The name clients use is the upstream's own model id: nothing in the body must change.
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"anthropic/{MODEL}",
                    "api_base": fake_anthropic.url,
                    "api_key": ANTHROPIC_KEY,
                },
            },
            {
                "model_name": "claude-alias",
                "litellm_params": {
                    "model": f"anthropic/{MODEL}",
                    "api_base": fake_anthropic.url,
                    "api_key": ANTHROPIC_KEY,
                },
            },
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "router_settings": {"num_retries": 0},
    }
    with GatewayServer(config, Path(tmp_path_factory.mktemp("passthrough"))) as server:
        yield server


# Odd spacing and key order, a cache breakpoint and a signed thinking block from an earlier turn.
BODY = (
    b'{"max_tokens":  64, "model": "claude-sonnet-4-5",\n "system": [{"type": "text", "text": "Be terse.",'
    b' "cache_control": {"type": "ephemeral"}}], "messages": [{"role": "user", "content": "Hi"},'
    b' {"role": "assistant", "content": [{"type": "thinking", "thinking": "a greeting",'
    b' "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}, {"type": "text",'
    b' "text": "Hello."}]}, {"role": "user", "content": "And again?"}]}'
)


def test_the_request_reaches_anthropic_byte_for_byte(passthrough_gateway, fake_anthropic) -> None:
    fake_anthropic.script(Reply(text="Hello again."))
    response = httpx.post(
        passthrough_gateway.url + "/v1/messages",
        content=BODY,
        headers={
            "x-api-key": MASTER_KEY,
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "prompt-caching-2024-07-31",
            "content-type": "application/json",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    sent = fake_anthropic.requests[-1]
    assert sent.body == BODY  # not re-encoded
    assert "prompt-caching-2024-07-31" in sent.headers.get("anthropic-beta", "")
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY  # the deployment's credentials, not the client's
    assert response.json()["content"][0]["text"] == "Hello again."


def test_an_alias_changes_only_the_model(passthrough_gateway, fake_anthropic) -> None:
    fake_anthropic.script(Reply(text="ok"))
    client = anthropic.Anthropic(base_url=passthrough_gateway.url, api_key=MASTER_KEY, max_retries=0)
    client.messages.create(
        model="claude-alias",
        max_tokens=32,
        system=[{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Hi"}],
    )
    sent = fake_anthropic.requests[-1].json
    assert sent["model"] == MODEL
    assert sent["system"] == [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}]


def test_the_stream_reaches_the_client_as_anthropic_sent_it(passthrough_gateway, fake_anthropic) -> None:
    reply = Reply(text="one two three", prompt_tokens=30, completion_tokens=3)
    fake_anthropic.script(reply, reply)
    body = {
        "model": MODEL,
        "max_tokens": 32,
        "stream": True,
        "messages": [{"role": "user", "content": "Count"}],
    }
    direct = httpx.post(
        fake_anthropic.url + "/v1/messages",
        json=body,
        headers={"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"},
        timeout=30,
    ).content
    through = httpx.post(
        passthrough_gateway.url + "/v1/messages",
        json=body,
        headers={"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"},
        timeout=30,
    ).content
    # The fake mints a fresh message id per answer: the same bytes but for that id.
    assert re.sub(rb"msg_[A-Za-z0-9]+", b"msg_ID", through) == re.sub(rb"msg_[A-Za-z0-9]+", b"msg_ID", direct)
    assert through.count(b"event: ") == direct.count(b"event: ") > 5
    # And the SDK reads it, usage included.
    fake_anthropic.script(reply)
    client = anthropic.Anthropic(base_url=passthrough_gateway.url, api_key=MASTER_KEY, max_retries=0)
    with client.messages.stream(
        model=MODEL, max_tokens=32, messages=[{"role": "user", "content": "Count"}]
    ) as s:
        assert "".join(s.text_stream) == "one two three"
        final = s.get_final_message()
    assert final.usage.output_tokens == 3 and final.stop_reason == "end_turn"

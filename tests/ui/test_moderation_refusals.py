"""A guardrail's refusal reaches the chat page as a readable message (FastChat's words, then which
guardrail and category), over the UI's own HTTP API through the real gateway."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from tests.gateway import GatewayServer
from tests.ui.support import FakeModels, UIServer, gateway_config, mint_key
from tests.ui.test_security import signed_in_client

from polyroute.ui.gateway_client import ANSWER_REFUSAL, INPUT_REFUSAL


@pytest.fixture(scope="module")
def guarded_ui(
    upstream: FakeModels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[UIServer, str]]:
    config = gateway_config(upstream)
    config["guardrails"] = [
        {
            "guardrail_name": "house-rules",
            "litellm_params": {"guardrail": "blocklist", "mode": "pre_call", "default_on": True,
                               "blocked_words": ["contraband"], "category": "smuggling"},
        },
        {
            "guardrail_name": "answer-rules",
            "litellm_params": {"guardrail": "blocklist", "mode": "post_call", "default_on": True,
                               "blocked_words": ["smuggle"], "category": "smuggling"},
        },
    ]  # fmt: skip
    tmp = tmp_path_factory.mktemp("guarded-ui")
    with GatewayServer(config, tmp) as gateway, UIServer(gateway.url, tmp) as ui:
        yield ui, mint_key(gateway)


def error_event(ui: UIServer, key: str, text: str) -> dict:
    client, csrf = signed_in_client(ui, key)
    with contextlib.closing(client):
        response = client.post(
            "/api/chat/send", json={"model": "alpha", "text": text}, headers={"x-csrf-token": csrf}
        )
        assert response.status_code == 200
    events = [
        block.split("\n", 1) for block in response.text.split("\n\n") if block.startswith("event: error")
    ]
    assert len(events) == 1, response.text
    return json.loads(events[0][1].removeprefix("data: "))


def test_a_refused_prompt_reads_as_fastchats_moderation_message(guarded_ui, upstream: FakeModels) -> None:
    ui, key = guarded_ui
    before = len(upstream.requests)
    event = error_event(ui, key, "where do I buy contraband?")
    assert event["code"] == "content_policy_violation"
    assert event["message"].startswith(INPUT_REFUSAL)
    assert "'house-rules'" in event["message"] and "smuggling" in event["message"]
    assert len(upstream.requests) == before  # refused before the model was asked


def test_a_withheld_answer_reads_as_a_moderation_message(guarded_ui) -> None:
    ui, key = guarded_ui
    event = error_event(ui, key, "how to smuggle things")  # the fake's answer repeats the prompt
    assert event["message"].startswith(ANSWER_REFUSAL) and "'answer-rules'" in event["message"]

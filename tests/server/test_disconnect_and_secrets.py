"""A client that goes away cancels the upstream call; no secret ever leaves the gateway."""

from __future__ import annotations

import logging
import time

import httpx
import openai
import pytest

from tests.conftest import ALL_SECRETS
from tests.fakes.base import Error, Reply

MESSAGES = [{"role": "user", "content": "hi"}]


def _wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_stream_disconnect_cancels_upstream(gateway, fake_openai):
    fake_openai.script(Reply(text=" ".join(f"w{i}" for i in range(200)), chunk_delay=0.05))
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
        headers={"authorization": f"Bearer {gateway.master_key}"},
    ) as response:
        for _ in response.iter_bytes():
            break  # one piece, then hang up
    assert _wait_for(lambda: fake_openai.cancelled == 1), "upstream request was not cancelled"


def test_non_stream_disconnect_cancels_upstream(gateway, fake_openai):
    fake_openai.script(Reply(ttfb=3.0))
    with pytest.raises(openai.APITimeoutError):
        gateway.client(timeout=0.3).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert _wait_for(lambda: fake_openai.cancelled == 1), "upstream request was not cancelled"
    # the gateway still serves
    assert gateway.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices


def test_no_secret_in_any_response_or_log(gateway, fake_openai, caplog):
    caplog.set_level(logging.DEBUG, logger="polyroute")
    client = gateway.client()
    seen: list[str] = []
    # An upstream that echoes our provider key in its error text (as OpenAI does for a bad key).
    fake_openai.script(
        Error(401, message=f"Incorrect API key provided: {ALL_SECRETS[1]}."),
        Error(500, message=f"internal failure for key {ALL_SECRETS[1]} and Bearer {ALL_SECRETS[0]}"),
        Reply(text="a b c", error_after=1),
        Error(429, message="rate limited", headers={"retry-after": "1"}),
    )
    for stream in (False, False, True, False):
        try:
            if stream:
                for chunk in client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True
                ):
                    seen.append(chunk.model_dump_json())
            else:
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        except openai.APIError as exc:
            seen.append(str(exc.body))
            if getattr(exc, "response", None) is not None:
                seen.append(exc.response.text)
                seen.append(str(dict(exc.response.headers)))
    # Wrong client key, model listing, readiness, unknown model.
    for call in (
        lambda: httpx.get(gateway.url + "/v1/models", headers={"authorization": "Bearer " + ALL_SECRETS[1]}),
        lambda: httpx.get(
            gateway.url + "/health/readiness", headers={"authorization": "Bearer " + gateway.master_key}
        ),
        lambda: httpx.post(
            gateway.url + "/v1/chat/completions",
            headers={"authorization": "Bearer " + gateway.master_key},
            json={"model": "nope", "messages": MESSAGES},
        ),
    ):
        response = call()
        seen.append(response.text + str(dict(response.headers)))
    assert len(seen) >= 7
    text = "\n".join(seen) + "\n" + caplog.text
    for secret in ALL_SECRETS:
        assert secret not in text
    assert "[redacted]" in text  # the echoed key was scrubbed, not the whole message dropped


def test_the_protocol_hook_cancels_only_an_answer_the_client_does_not_have_yet() -> None:
    """polyroute's own protocol reports a lost connection at once (server/connections.py): a client
    that leaves before its answer is complete cancels the request; one that leaves after the
    stream's end marker reached it (before the stream's formal end) cancels nothing."""
    from types import SimpleNamespace
    from unittest.mock import Mock

    from polyroute.server.app import _Cancel

    for delivered, finished, cancels in ((False, False, True), (True, False, False), (False, True, False)):
        request = SimpleNamespace(finished=finished, delivered=delivered, disconnected=False)
        task = Mock()
        _Cancel(request, task)()  # type: ignore[arg-type]
        assert task.cancel.called is cancels
        assert request.disconnected is cancels

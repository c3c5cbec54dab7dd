"""Guardrails end to end: the openai SDK against the gateway, each guardrail type against its
protocol-faithful fake, the fake OpenAI upstream or a canary as the model."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import openai
import pytest

from tests.fakes.base import Error, Reply
from tests.guardrails.conftest import SECRETS
from tests.keys.conftest import Admin

PII_PROMPT = (
    "Mail jane.doe@example.com or call +1 415-555-0100; card 4111 1111 1111 1111; "
    "key sk-proj-abcdefghijklmnopqrstuvwx; order 1234 5678 9012 3456"
)


def wait_for(condition, what: str, timeout_s: float = 15.0) -> None:
    """Waits (bounded) for a condition another thread makes true."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def error_of(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert not any(secret in json.dumps(body) for secret in SECRETS)
    return body["error"]


def image_message(data: bytes, text: str = "what is this?") -> list[dict]:
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}],
        }
    ]


def test_a_flagged_request_is_refused_before_any_provider_is_called(
    guard_gateway, moderation, canary
) -> None:
    client = guard_gateway.client()
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="canary", messages=[{"role": "user", "content": "tell me about stabbing"}]
        )
    error = error_of(caught.value)
    assert error["type"] == "invalid_request_error" and error["code"] == "content_policy_violation"
    assert "'moderation'" in error["message"] and "violence" in error["message"]
    assert "stabbing" not in error["message"]
    assert canary.settle() == 0  # not one connection reached the provider
    (sent,) = moderation.requests
    assert sent.headers["authorization"].endswith(moderation.api_key)
    assert sent.json["model"] == "omni-moderation-latest"


def test_pii_is_masked_before_the_prompt_leaves_the_gateway(guard_gateway, fake_openai, moderation) -> None:
    reply = guard_gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PII_PROMPT}]
    )
    assert reply.choices[0].message.content
    upstream = fake_openai.requests[-1].json["messages"][0]["content"]
    assert upstream == (
        "Mail [EMAIL_ADDRESS] or call [PHONE_NUMBER]; card [CREDIT_CARD]; "
        "key [API_KEY]; order 1234 5678 9012 3456"
    )  # the last number fails the Luhn check: not a card
    # The moderation service, too, saw the masked prompt only.
    assert "jane.doe" not in moderation.requests[-1].body.decode()


def test_a_webhook_can_mask_and_a_request_may_add_guardrails(guard_gateway, fake_openai) -> None:
    guard_gateway.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "please mask-me now"}],
        extra_body={"guardrails": ["masking-webhook"]},
    )
    assert fake_openai.requests[-1].json["messages"][0]["content"] == "please [MASKED] now"
    assert "guardrails" not in fake_openai.requests[-1].json  # a gateway field, never forwarded


def test_a_flagged_answer_is_replaced_by_the_error(guard_gateway, fake_openai) -> None:
    fake_openai.script(Reply(text="this answer holds a Forbidden word"))
    with pytest.raises(openai.BadRequestError) as caught:
        guard_gateway.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    error = error_of(caught.value)
    assert error["code"] == "content_policy_violation"
    assert "response" in error["message"] and "'output-words'" in error["message"]
    assert "banned-words" in error["message"] and "Forbidden" not in error["message"]


def test_a_stream_is_cut_at_the_first_flagged_chunk(guard_gateway, fake_openai) -> None:
    fake_openai.script(Reply(text="alpha beta gamma forbidden delta epsilon zeta", chunk_delay=0.02))
    received = []
    with pytest.raises(openai.APIError) as caught:
        stream = guard_gateway.client().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    text = "".join(received)
    assert "forbidden" not in text and "delta" not in text and "zeta" not in text
    assert "output-words" in str(caught.value) and "forbidden" not in str(caught.value)


def test_a_clean_stream_passes_whole(guard_gateway, fake_openai) -> None:
    fake_openai.script(Reply(text="alpha beta gamma delta"))
    stream = guard_gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "alpha beta gamma delta"


def test_a_guardrail_that_times_out_fails_closed_by_default(
    guard_gateway, canary, stalled_moderation
) -> None:
    before = len(stalled_moderation.requests)
    with pytest.raises(openai.InternalServerError) as caught:
        guard_gateway.client().chat.completions.create(
            model="canary",
            messages=[{"role": "user", "content": "hello"}],
            extra_body={"guardrails": ["slow-closed"]},
        )
    assert caught.value.status_code == 503
    error = error_of(caught.value)
    assert error["code"] == "guardrail_unavailable" and "'slow-closed'" in error["message"]
    assert len(stalled_moderation.requests) == before + 1  # it was asked, and never answered
    assert canary.settle() == 0


def test_a_fail_open_guardrail_lets_the_request_through_when_it_times_out(guard_gateway, fake_openai) -> None:
    reply = guard_gateway.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hello"}],
        extra_body={"guardrails": ["slow-open"]},
    )
    assert reply.choices[0].message.content == "Hello from the fake upstream."
    assert len(fake_openai.requests) == 1


def test_image_moderation_blocks_a_flagged_image(guard_gateway, content_safety, canary) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        guard_gateway.client().chat.completions.create(
            model="canary", messages=image_message(b"\x89PNG fake image bytes UNSAFE:Sexual")
        )
    error = error_of(caught.value)
    assert (
        error["code"] == "content_policy_violation"
        and "'images'" in error["message"]
        and "Sexual" in error["message"]
    )
    (sent,) = content_safety.requests
    assert sent.query["api-version"] == "2024-09-01" and sent.json["image"]["content"]
    assert canary.settle() == 0


def test_photodna_blocks_a_known_image_and_the_spend_row_records_it(guard_gateway, photodna, canary) -> None:
    image = b"\x89PNG a known image's bytes"
    photodna.known.add(hashlib.sha256(image).hexdigest())
    admin = Admin(guard_gateway.url)
    made = admin.new_key(key_alias="photodna-test")
    with pytest.raises(openai.BadRequestError) as caught:
        guard_gateway.client(api_key=made["key"]).chat.completions.create(
            model="canary", messages=image_message(image)
        )
    error = error_of(caught.value)
    assert "'hashes'" in error["message"] and "csam" in error["message"]
    (sent,) = photodna.requests
    assert sent.headers["content-type"] == "image/png" and sent.body == image
    assert canary.settle() == 0
    (row,) = admin.wait_for_logs(1, api_key=made["key"])
    decisions = row["metadata"]["guardrails"]
    blocked = [d for d in decisions if d["decision"] == "block"]
    assert blocked == [
        {
            "guardrail": "hashes",
            "mode": "pre_call",
            "decision": "block",
            "category": "csam",
            "tracking_id": blocked[0]["tracking_id"],
        }
    ]
    assert blocked[0]["tracking_id"].startswith("1_photodna_")
    metrics = admin.http.get("/metrics").text
    assert 'polyroute_guardrail_decisions_total{decision="block",guardrail="hashes"}' in metrics


def test_a_clean_image_passes_both_image_guardrails(
    guard_gateway, content_safety, photodna, moderation, fake_openai
) -> None:
    reply = guard_gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=image_message(b"\x89PNG a cat")
    )
    assert reply.choices[0].message.content
    assert len(content_safety.requests) == 1 and len(photodna.requests) == 1
    # OpenAI's moderation saw the image as an image_url part beside the text.
    parts = moderation.requests[-1].json["input"]
    assert [p["type"] for p in parts] == ["text", "image_url"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_per_key_guardrails(guard_gateway, fake_openai, webhook) -> None:
    admin = Admin(guard_gateway.url)
    guarded = admin.new_key(key_alias="webhook-guarded", metadata={"guardrails": ["strict-webhook"]})
    plain = admin.new_key(key_alias="plain")
    chooser = admin.new_key(key_alias="chooser", metadata={"allow_request_guardrails": True})
    messages = [{"role": "user", "content": "please block-me"}]

    # during_call: the model is called at the same time, its answer is withheld.
    with pytest.raises(openai.BadRequestError) as caught:
        guard_gateway.client(api_key=guarded["key"]).chat.completions.create(
            model="gpt-4o-mini", messages=messages
        )
    error = error_of(caught.value)
    assert "'strict-webhook'" in error["message"] and "custom-policy" in error["message"]
    # The model call starts beside the check; a block that comes first cancels it before it
    # reaches the upstream, so the upstream saw the request or not, depending on who was first.
    assert len(webhook.requests) == 1 and len(fake_openai.requests) <= 1

    # Another key is not checked by it, and may not ask for it.
    assert guard_gateway.client(api_key=plain["key"]).chat.completions.create(
        model="gpt-4o-mini", messages=messages
    )
    with pytest.raises(openai.PermissionDeniedError) as refused:
        guard_gateway.client(api_key=plain["key"]).chat.completions.create(
            model="gpt-4o-mini", messages=messages, extra_body={"guardrails": ["strict-webhook"]}
        )
    assert error_of(refused.value)["code"] == "guardrails_not_allowed"
    assert len(webhook.requests) == 1

    # A key allowed to choose adds it per request; unknown names are refused by name.
    with pytest.raises(openai.BadRequestError):
        guard_gateway.client(api_key=chooser["key"]).chat.completions.create(
            model="gpt-4o-mini", messages=messages, extra_body={"guardrails": ["strict-webhook"]}
        )
    with pytest.raises(openai.BadRequestError) as unknown:
        guard_gateway.client(api_key=chooser["key"]).chat.completions.create(
            model="gpt-4o-mini", messages=messages, extra_body={"guardrails": ["no-such-guardrail"]}
        )
    assert error_of(unknown.value)["param"] == "guardrails[0]"


def test_moderations_route_through_a_moderation_deployment(guard_gateway, moderation) -> None:
    client = guard_gateway.client()
    result = client.moderations.create(model="omni-moderation-latest", input="a story about stabbing")
    assert result.results[0].flagged and result.results[0].categories.violence
    assert moderation.requests[-1].json == {
        "model": "omni-moderation-latest",
        "input": "a story about stabbing",
    }
    # No model: OpenAI's default model name, served by the same deployment.
    assert not client.moderations.create(input="a calm story").results[0].flagged
    mocked = client.moderations.create(model="mock-moderation", input=["fine", "mock-flag-hate here"])
    assert [r.flagged for r in mocked.results] == [False, True] and mocked.results[1].categories.hate


def test_legacy_completions_are_guarded_too(guard_gateway, fake_openai, canary) -> None:
    client = guard_gateway.client()
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="canary", prompt="a tale of stabbing")
    assert error_of(caught.value)["code"] == "content_policy_violation"
    assert canary.settle() == 0
    client.completions.create(model="gpt-4o-mini", prompt="reach me at jane.doe@example.com")
    assert fake_openai.requests[-1].json["prompt"] == "reach me at [EMAIL_ADDRESS]"
    with pytest.raises(openai.BadRequestError) as tokens:
        client.completions.create(model="gpt-4o-mini", prompt=[1, 2, 3])  # token ids cannot be read
    assert error_of(tokens.value)["code"] == "guardrails_need_text"


def test_a_withheld_answer_is_not_a_reason_to_fall_back(guard_gateway, fake_openai, canary) -> None:
    """content_policy_fallbacks are for a provider's own refusal; a guardrail's verdict on the
    answer stands (another model's answer would be checked the same way, and billed twice)."""
    fake_openai.script(Reply(text="a forbidden answer"))
    with pytest.raises(openai.BadRequestError) as caught:
        guard_gateway.client().chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"content_policy_fallbacks": ["canary"]},
        )
    assert "'output-words'" in error_of(caught.value)["message"]
    assert canary.settle() == 0


def test_a_providers_own_refusal_still_falls_back(guard_gateway, fake_openai) -> None:
    fake_openai.script(
        Error(
            400, message="Your request was rejected by the safety system.", code="content_policy_violation"
        ),
        Reply(text="served by the fallback"),
    )
    reply = guard_gateway.client().chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"content_policy_fallbacks": ["fallback-gpt"]},
    )
    assert reply.parse().choices[0].message.content == "served by the fallback"
    assert reply.headers["x-polyroute-fallback"] == "true"


def test_during_call_holds_the_stream_until_the_check_passes(guard_gateway, fake_openai, webhook) -> None:
    webhook.stall = True  # the check cannot finish: nothing of the answer may reach the client
    fake_openai.script(Reply(text="an answer that is ready at once"))
    with pytest.raises(openai.InternalServerError) as caught:
        stream = guard_gateway.client().chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_body={"guardrails": ["strict-webhook-short"]},
        )
        for _ in stream:
            pytest.fail("a chunk arrived before the during_call check passed")
    assert error_of(caught.value)["code"] == "guardrail_unavailable"
    assert len(fake_openai.requests) == 1  # the model was called meanwhile


def test_a_during_call_block_cancels_the_model_call(guard_gateway, fake_openai, webhook) -> None:
    fake_openai.script(Reply(text="a slow answer", ttfb=60))  # would answer long after the verdict
    with pytest.raises(openai.BadRequestError) as caught:
        guard_gateway.client().chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "please block-me"}],
            extra_body={"guardrails": ["strict-webhook"]},
        )
    assert "'strict-webhook'" in error_of(caught.value)["message"]
    wait_for(lambda: fake_openai.cancelled == 1, "the upstream call to be cancelled")


def test_key_metadata_for_guardrails_is_validated(guard_gateway) -> None:
    admin = Admin(guard_gateway.url)
    bad = admin.post("/key/generate", metadata={"guardrails": "strict-webhook"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "metadata.guardrails"
    bad = admin.post("/key/generate", metadata={"allow_request_guardrails": "yes"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "metadata.allow_request_guardrails"


def test_a_translated_stream_is_cut_too(guard_gateway, fake_anthropic) -> None:
    """Anthropic's events, translated to OpenAI chunks, are checked the same way."""
    fake_anthropic.script(Reply(text="one two three forbidden four five", chunk_delay=0.02))
    received = []
    with pytest.raises(openai.APIError) as caught:
        stream = guard_gateway.client().chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert "forbidden" not in "".join(received) and "five" not in "".join(received)
    assert "output-words" in str(caught.value)
    assert len(fake_anthropic.requests) == 1


def test_a_withheld_stream_is_billed_and_recorded(guard_gateway, fake_openai) -> None:
    admin = Admin(guard_gateway.url)
    made = admin.new_key(key_alias="withheld-stream")
    # The first event already carries the flagged word: withheld before the stream's first byte.
    first = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "forbidden words"}, "finish_reason": None}
        ],
    }
    fake_openai.script(
        Reply(raw_events=[b"data: " + json.dumps(first).encode() + b"\n\n", b"data: [DONE]\n\n"])
    )
    with pytest.raises(openai.BadRequestError):
        stream = guard_gateway.client(api_key=made["key"]).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for _ in stream:
            pass
    (row,) = admin.wait_for_logs(1, api_key=made["key"])
    assert row["status"] == "failure" and row["error_code"] == "content_policy_violation"
    assert row["model"] == "gpt-4o-mini" and row["spend"] > 0  # the provider produced it
    decisions = row["metadata"]["guardrails"]
    assert {
        "guardrail": "output-words",
        "mode": "post_call",
        "decision": "block",
        "category": "banned-words",
    } in decisions

"""Guardrail pieces without a network: config errors, PII masking, stream text, selection."""

from __future__ import annotations

import asyncio

import pytest

from polyroute.auth.keys import KeyRecord
from polyroute.auth.principal import ADMIN, VIRTUAL_KEY, Principal
from polyroute.config.loader import ConfigError, load_config
from polyroute.errors import InvalidRequestError, PermissionDeniedError
from polyroute.guardrails.config import build_guardrails
from polyroute.guardrails.engine import GuardrailSet
from polyroute.guardrails.pii import luhn_valid, mask_text
from polyroute.guardrails.stream import StreamGuard, delta_text
from polyroute.secrets import Redactor
from polyroute.store.key_store import guardrail_settings

ALL = frozenset({"EMAIL_ADDRESS", "CREDIT_CARD", "API_KEY", "PHONE_NUMBER"})


def entry(name: str = "g", **params) -> dict:
    return {"guardrail_name": name, "litellm_params": params}


@pytest.mark.parametrize(
    ("raw", "env", "named"),
    [
        ([entry(guardrail="nope")], {}, "guardrails[0].litellm_params.guardrail"),
        ([entry(guardrail="blocklist", mode="sometimes", blocked_words=["x"])], {}, "litellm_params.mode"),
        ([entry(guardrail="pii_mask", mode="post_call")], {}, "runs in pre_call only"),
        ([entry(guardrail="blocklist")], {}, "litellm_params.blocked_words"),
        ([entry(guardrail="blocklist", blocked_patterns=["("])], {}, "blocked_patterns[0]"),
        ([entry(guardrail="blocklist", blocked_words=["x"], colour="red")], {}, "litellm_params.colour"),
        ([entry(guardrail="openai_moderation")], {}, "OPENAI_API_KEY"),
        ([entry(guardrail="openai_moderation", api_key="os.environ/MISSING")], {}, "MISSING"),
        ([entry(guardrail="azure_image_moderation", api_key="k")], {}, "AZURE_IMG_MODERATION_ENDPOINT"),
        ([entry(guardrail="photodna")], {}, "PHOTODNA_API_KEY"),
        ([entry(guardrail="webhook")], {}, "litellm_params.api_base"),
        ([entry(guardrail="blocklist", blocked_words=["x"], timeout=0)], {}, "litellm_params.timeout"),
        (
            [entry(guardrail="openai_moderation", category_thresholds={"hate": 2})],
            {"OPENAI_API_KEY": "sk-x"},
            "category_thresholds.hate",
        ),
        ([entry(guardrail="blocklist", blocked_words=["x"])] * 2, {}, "used twice"),
        ("not a list", {}, "guardrails: expected a list"),
    ],
)
def test_config_errors_name_the_key(raw, env, named) -> None:
    with pytest.raises(ValueError) as caught:
        build_guardrails(raw, env, Redactor())
    assert named in str(caught.value)


def test_the_loader_reports_a_guardrail_error_as_a_config_error(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("guardrails:\n  - guardrail_name: g\n    litellm_params: {guardrail: photodna}\n")
    with pytest.raises(ConfigError, match="PHOTODNA_API_KEY"):
        load_config(path, {})
    path.write_text("guardrails:\n  - guardrail_name: g\n    litellm_params: {guardrail: photodna}\n")
    config = load_config(path, {"PHOTODNA_API_KEY": "pdna-secret-value-123"})
    (guardrail,) = config.guardrails.values()
    assert guardrail.modes == ("pre_call",) and guardrail.fail_open is False and guardrail.timeout_s == 3.0
    assert "pdna-secret-value-123" not in repr(guardrail.api_key)
    assert config.redactor.scrub("x pdna-secret-value-123 y") != "x pdna-secret-value-123 y"
    assert not any("guardrails" in w for w in config.warnings)


def test_litellm_fail_on_error_is_the_opposite_of_fail_open() -> None:
    (g,) = build_guardrails(
        [entry(guardrail="webhook", api_base="http://127.0.0.1:9/x", fail_on_error=False)], {}, Redactor()
    ).values()
    assert g.fail_open is True


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("write to a.b-c@mail.example.org now", "write to [EMAIL_ADDRESS] now"),
        ("visa 4242-4242-4242-4242 ok", "visa [CREDIT_CARD] ok"),
        ("amex 378282246310005", "amex [CREDIT_CARD]"),
        ("not a card 4242 4242 4242 4241", "not a card 4242 4242 4242 4241"),
        ("call (020) 7946 0958 today", "call [PHONE_NUMBER] today"),
        ("key AKIAIOSFODNN7EXAMPLE here", "key [API_KEY] here"),
        ("password: hunter2-but-longer", "[API_KEY]"),
        ("the year 2026 and 42 apples", "the year 2026 and 42 apples"),
    ],
)
def test_pii_masking(text: str, masked: str) -> None:
    assert mask_text(text, ALL) == masked


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_stream_text_is_read_from_sse_batches() -> None:
    data = (
        b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n'
        b'data: {"choices":[],"usage":{"total_tokens":3}}\n\ndata: [DONE]\n\n'
    )
    assert delta_text(data) == "Hello"


def test_a_blocklist_matches_across_stream_batches() -> None:
    guardrails = build_guardrails(
        [entry(guardrail="blocklist", mode="post_call", blocked_words=["forbidden"])], {}, Redactor()
    )
    from polyroute.guardrails import RequestGuards, Withheld

    guard = StreamGuard(RequestGuards(list(guardrails.values()), http=None))

    def batch(text: str) -> bytes:
        return b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'

    async def run() -> None:
        await guard.on_send(batch("a forb"))
        with pytest.raises(Withheld):
            await guard.on_send(batch("idden word"))

    asyncio.run(run())


def test_selection_by_default_key_and_request() -> None:
    guardrails = GuardrailSet(
        build_guardrails(
            [
                entry("always", guardrail="blocklist", blocked_words=["a"], default_on=True),
                entry("keyed", guardrail="blocklist", blocked_words=["b"]),
                entry("asked", guardrail="blocklist", blocked_words=["c"]),
            ],
            {},
            Redactor(),
        )
    )
    admin = Principal(ADMIN)
    names = lambda chosen: [g.name for g in chosen]  # noqa: E731
    assert names(guardrails.select(admin, {})) == ["always"]
    assert names(guardrails.select(admin, {"guardrails": ["asked"]})) == ["always", "asked"]
    keyed = Principal(VIRTUAL_KEY, KeyRecord(token="t", guardrails=("keyed",)))
    assert names(guardrails.select(keyed, {})) == ["always", "keyed"]
    with pytest.raises(PermissionDeniedError):
        guardrails.select(keyed, {"guardrails": ["asked"]})
    chooser = Principal(VIRTUAL_KEY, KeyRecord(token="t", request_guardrails=True))
    assert names(guardrails.select(chooser, {"guardrails": ["asked"]})) == ["always", "asked"]
    with pytest.raises(InvalidRequestError):
        guardrails.select(Principal(VIRTUAL_KEY, KeyRecord(token="t", guardrails=("gone",))), {})


def test_key_team_and_user_metadata_combine() -> None:
    assert guardrail_settings([{"guardrails": ["a"]}, {"guardrails": ["b", "a"]}]) == {
        "guardrails": ("a", "b"),
        "request_guardrails": False,
    }
    assert guardrail_settings([{"allow_request_guardrails": True}, {}])["request_guardrails"] is True
    # A team (or user) that says false wins over a key that says true.
    both = [{"allow_request_guardrails": True}, {"allow_request_guardrails": False}]
    assert guardrail_settings(both)["request_guardrails"] is False
    record = KeyRecord(token="t", guardrails=("a",), request_guardrails=True)
    assert KeyRecord.from_bytes(record.to_bytes()) == record


def test_more_images_than_are_checked_are_refused_not_skipped() -> None:
    from polyroute.guardrails.content import MAX_IMAGES, images_to_check

    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert len(images_to_check([{"role": "user", "content": [part] * MAX_IMAGES}])) == MAX_IMAGES
    with pytest.raises(InvalidRequestError) as caught:
        images_to_check([{"role": "user", "content": [part] * (MAX_IMAGES + 1)}])
    assert caught.value.code == "too_many_images"


def test_webhook_header_values_are_secrets() -> None:
    redactor = Redactor()
    build_guardrails(
        [
            entry(
                guardrail="webhook", api_base="http://127.0.0.1:9/x", headers={"X-Token": "os.environ/TOKEN"}
            )
        ],
        {"TOKEN": "hook-token-abcdef123456"},
        redactor,
    )
    assert "hook-token-abcdef123456" not in redactor.scrub("sent hook-token-abcdef123456")


class RecordingGuardrail:
    """A remote-like guardrail that records the text it is shown and allows it."""

    def __init__(self, every: int) -> None:
        from polyroute.guardrails.base import Guardrail

        class Recorder(Guardrail):
            kind = "recorder"
            seen: list[str] = []

            async def check_output(self, text, http):
                from polyroute.guardrails.base import ALLOW

                self.seen.append(text)
                return ALLOW

        self.guardrail = Recorder("rec", ("post_call",), stream_check_chars=every)


def test_stream_checks_send_each_character_a_bounded_number_of_times() -> None:
    from polyroute.guardrails import RequestGuards
    from polyroute.guardrails.engine import MAX_DECISIONS
    from polyroute.guardrails.stream import CONTEXT_CHARS

    recorder = RecordingGuardrail(every=100).guardrail
    guards = RequestGuards([recorder], http=None)
    guard = StreamGuard(guards)
    piece = "x" * 99 + " "

    async def run() -> None:
        for _ in range(200):  # 20,000 characters in 100-character batches
            await guard.on_send(
                b'data: {"choices":[{"index":0,"delta":{"content":"' + piece.encode() + b'"}}]}\n\n'
            )
        await guard.on_send(b"data: [DONE]\n\n")

    asyncio.run(run())
    assert len(recorder.seen) == 200  # one check per 100 new characters; the end adds none here
    assert max(len(text) for text in recorder.seen) <= 100 + CONTEXT_CHARS
    assert sum(len(text) for text in recorder.seen) <= 20_000 * (1 + CONTEXT_CHARS / 100)
    # The spend row keeps the first decisions and counts the rest.
    assert len(guards.decisions) == MAX_DECISIONS + 1
    assert guards.decisions[-1] == {"more": 200 - MAX_DECISIONS}


def test_openai_category_thresholds_replace_the_services_flag() -> None:
    (g,) = build_guardrails(
        [entry(guardrail="openai_moderation", category_thresholds={"violence": 0.99, "hate": 0.2})],
        {"OPENAI_API_KEY": "sk-test-0000000000000000"},
        Redactor(),
    ).values()
    flagged = {
        "categories": {"violence": True, "hate": False},
        "category_scores": {"violence": 0.97, "hate": 0.3},
    }
    assert g._flagged(flagged) == "hate"  # its threshold reached, though the service did not flag it
    calm = {"categories": {"violence": True, "sexual": False}, "category_scores": {"violence": 0.97}}
    assert g._flagged(calm) is None  # violence below its own threshold
    assert g._flagged({"categories": {"sexual": True}, "category_scores": {}}) == "sexual"

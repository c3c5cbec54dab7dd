"""The UI's pure parts: session cookies and expiry, battle-pair sampling, markdown sanitising,
settings from FastChat's environment variables."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from polyroute.ui.conversations import Page, Side, request_messages
from polyroute.ui.rendering import render_markdown
from polyroute.ui.sampling import NoBattlePair, battle_pair
from polyroute.ui.sessions import SessionStore
from polyroute.ui.settings import ArenaSampling, UISettingsError, settings_from


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_tampered_or_foreign_cookie_opens_no_session() -> None:
    store = SessionStore(b"k" * 32, 3600, 100)
    session = store.new()
    cookie = store.cookie_value(session)
    assert store.get(cookie) is session
    session_id, _, signature = cookie.partition(".")
    assert store.get(session_id + ".AAAA") is None
    assert store.get(session_id) is None
    assert SessionStore(b"o" * 32, 3600, 100).get(cookie) is None  # another secret
    assert store.get("x" * 500) is None


def test_sessions_expire_after_their_last_use_and_the_store_is_bounded() -> None:
    clock = Clock()
    store = SessionStore(b"k" * 32, 3600, 3, clock=clock)
    session = store.new()
    cookie = store.cookie_value(session)
    clock.now = 3000
    assert store.get(cookie) is session  # used: its hour starts again
    clock.now = 6599
    assert store.get(cookie) is session
    clock.now = 10_200
    assert store.expired(cookie) and store.get(cookie) is None
    cookies = [store.cookie_value(store.new()) for _ in range(4)]
    assert store.get(cookies[0]) is None and all(store.get(c) for c in cookies[1:])


def test_a_flood_of_sign_in_pages_evicts_no_signed_in_user() -> None:
    store = SessionStore(b"k" * 32, 3600, 10, max_anonymous=5)
    user = store.sign_in(store.new(), None, "local", "local")
    cookie = store.cookie_value(user)
    opened = [store.cookie_value(store.new()) for _ in range(50)]
    assert store.get(cookie) is user
    assert sum(store.get(c) is not None for c in opened) == 5


def test_sign_in_renews_the_session_id_and_csrf_token() -> None:
    store = SessionStore(b"k" * 32, 3600, 10)
    anonymous = store.new()
    signed = store.sign_in(anonymous, None, "local", "local")
    assert signed.id != anonymous.id and signed.csrf_token != anonymous.csrf_token
    assert store.get(store.cookie_value(anonymous)) is None
    assert not store.csrf_ok(signed, anonymous.csrf_token) and store.csrf_ok(signed, signed.csrf_token)


def test_battle_pairs_follow_fastchats_weights_and_targets() -> None:
    rng = random.Random(7)
    models = ["a", "b", "c", "d"]
    sampling = ArenaSampling(sampling_weights={"a": 4, "b": 1, "c": 1, "d": 0}, battle_targets={"a": ["c"]})
    pairs = [battle_pair(models, sampling, rng) for _ in range(4000)]
    seen = Counter(m for pair in pairs for m in pair)
    assert seen["d"] == 0  # weight 0: never drawn
    assert all(x != y for x, y in pairs)
    with_a = Counter(frozenset(p) for p in pairs if "a" in p)
    # a's target c takes half of the total weight against b's 1 of 6: about 3:1 when a goes first.
    assert with_a[frozenset("ac")] > 2 * with_a[frozenset("ab")]
    lefts = Counter(p[0] for p in pairs)
    assert lefts["a"] > 0.3 * seen["a"]  # shuffled: a is not always on the left
    assert lefts["a"] < 0.7 * seen["a"]


def test_without_weights_every_model_battles_and_one_model_is_refused() -> None:
    rng = random.Random(1)
    pairs = {frozenset(battle_pair(["x", "y", "z"], ArenaSampling(), rng)) for _ in range(300)}
    assert pairs == {frozenset("xy"), frozenset("xz"), frozenset("yz")}
    with pytest.raises(NoBattlePair):
        battle_pair(["x"], ArenaSampling(), rng)


@pytest.mark.parametrize(
    ("markdown", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ("<img src=x onerror=alert(1)>", "<img"),
        ("[x](javascript:alert(1))", "href"),
        ("[x](  JaVaScRiPt:alert(1))", "href"),
        ("[x](vbscript:msgbox(1))", "href"),
        ("[x](data:text/html,<script>alert(1)</script>)", "href"),
        ("![x](https://tracker.example/p.png)", "<img"),
        ("<a href='javascript:alert(1)'>x</a>", "<a "),
        ('```js" onmouseover="alert(1)\ncode\n```', 'onmouseover="'),
        ("[x]: javascript:alert(1)\n\n[x]", "href"),
        ("<details open ontoggle=alert(1)>", "<details"),
    ],
)
def test_markdown_tricks_come_out_inert(markdown: str, forbidden: str) -> None:
    assert forbidden not in render_markdown(markdown).lower()


def test_markdown_still_renders_code_lists_tables_and_safe_links() -> None:
    html = render_markdown("# T\n\n- **a**\n\n| h |\n|---|\n| c |\n\n```py\nx < 1\n```\n\n[d](https://e.org)")
    assert "<h1>T</h1>" in html and "<strong>a</strong>" in html and "<table>" in html
    assert '<code class="language-py">x &lt; 1' in html
    assert '<a href="https://e.org" rel="noopener noreferrer nofollow" target="_blank">d</a>' in html


def test_settings_take_fastchats_limits_from_the_environment(tmp_path: Path) -> None:
    defaults = settings_from({}, "http://gw/")
    assert (defaults.input_char_len_limit, defaults.blind_mode_input_char_len_limit) == (12000, 30000)
    assert (defaults.conversation_turn_limit, defaults.session_expiration_s) == (50, 3600)
    assert defaults.gateway_url == "http://gw"
    env = {"FASTCHAT_INPUT_CHAR_LEN_LIMIT": "500", "FASTCHAT_BLIND_MODE_INPUT_CHAR_LEN_LIMIT": "900"}
    custom = settings_from(env, "http://gw")
    assert (custom.input_char_len_limit, custom.blind_mode_input_char_len_limit) == (500, 900)
    with pytest.raises(UISettingsError, match="FASTCHAT_INPUT_CHAR_LEN_LIMIT"):
        settings_from({"FASTCHAT_INPUT_CHAR_LEN_LIMIT": "lots"}, "http://gw")
    with pytest.raises(UISettingsError, match="--key-env UI_KEY"):
        settings_from({}, "http://gw", key_env="UI_KEY")
    config = tmp_path / "ui.yaml"
    config.write_text("arena:\n  sampling_weights: {a: 2}\n  battle_targets: {a: [b]}\n  bogus: 1\n")
    with pytest.raises(UISettingsError, match="arena.bogus"):
        settings_from({}, "http://gw", config_path=config)
    config.write_text("arena:\n  sampling_weights: {a: 2, b: 1}\n  battle_targets: {a: [b]}\n")
    assert settings_from({}, "http://gw", config_path=config).arena.battle_targets == {"a": ["b"]}


def test_a_prompt_a_guardrail_refused_leaves_the_conversation() -> None:
    side = Side(
        "m",
        messages=[
            {"role": "user", "content": "a flagged prompt"},
            {"role": "assistant", "content": "", "note": "refused"},
            {"role": "user", "content": "a fine one"},
        ],
    )
    page = Page(kind="chat", sides=[side], system_prompt="")
    assert request_messages(page, side) == [{"role": "user", "content": "a fine one"}]


def test_requests_carry_the_system_prompt_and_skip_empty_failed_answers() -> None:
    side = Side(
        "m",
        messages=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "", "note": "error"},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": "half an answ", "note": "stopped"},
            {"role": "user", "content": "three"},
        ],
    )
    page = Page(kind="chat", sides=[side], system_prompt="Be brief.")
    assert request_messages(page, side) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "half an answ"},
        {"role": "user", "content": "three"},
    ]

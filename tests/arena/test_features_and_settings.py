"""Identity leaks (FastChat's words and the battle's own model names), style counts, language,
the settings read once from the environment, and the migration's way down and up again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from polyroute.arena.features import (
    StyleCounts,
    conversation_facts,
    detect_language,
    identity_leak,
    model_words,
)
from polyroute.arena.settings import ArenaSettings, ArenaSettingsError
from polyroute.store.database import Database, alembic_config


@pytest.mark.parametrize(
    ("answer", "models", "word"),
    [
        ("I was trained by OpenAI.", [], "openai"),
        ("As a LLaMA model...", [], "llama"),
        ("Google it.", [], "google"),  # FastChat drops these too: the word is on its list
        ("I am Tülu!", [], "tülu"),
        ("Qwen here", ["qwen2.5-7b-instruct"], "qwen"),
        ("Call me qwen2.5-7b-instruct", ["openrouter/qwen2.5-7b-instruct"], "qwen2.5-7b-instruct"),
        ("The capital of France is Paris.", ["qwen2.5-7b-instruct", "phi-3"], None),
        ("o1 thinks so", ["o1"], None),  # too short to search for safely
    ],
)
def test_identity_leaks(answer: str, models: list[str], word: str | None) -> None:
    assert identity_leak(answer, models) == word


def test_model_words_are_the_name_and_its_family() -> None:
    assert model_words("anthropic/claude-3-5-sonnet") == {"claude-3-5-sonnet", "claude"}
    assert model_words("o1") == set()


def test_style_counts_markdown_features() -> None:
    text = (
        "# Title\n## Sub\nnot#header\n- one\n* two\n1. three\n2) four\n"
        "**bold** and __also__ but **not\nthis**"
    )
    assert StyleCounts.of([text, "plain"]) == StyleCounts(
        chars=len(text) + 5, headers=2, list_items=4, bold=2
    )


def test_conversation_facts() -> None:
    facts = conversation_facts(
        ["Bonjour, comment allez-vous aujourd'hui ?", "et ensuite"], ["# a"], ["b", "c"]
    )
    assert (facts.turns, facts.user_chars, facts.language) == (2, 51, "French")
    assert facts.style["a"]["headers"] == 1 and facts.style["b"]["chars"] == 2
    assert detect_language("1234 !!") == "unknown"
    assert detect_language("这是一个关于天气的问题，今天会下雨吗？") == "Chinese"


def test_settings_come_from_fastchats_variables_and_ours(tmp_path: Path) -> None:
    settings = ArenaSettings.from_env(
        {
            "LOGDIR": str(tmp_path),
            "POLYROUTE_ARENA_DAILY_VOTE_CAP": "7",
            "POLYROUTE_ARENA_BOOTSTRAP_ROUNDS": "250",
            "UNRELATED": "x",
        }
    )
    assert (settings.logdir, settings.daily_vote_cap, settings.bootstrap_rounds) == (tmp_path, 7, 250)
    assert (settings.max_turns, settings.external_leaderboard_url) == (50, None)
    defaults = ArenaSettings.from_env({})
    assert (defaults.daily_vote_cap, defaults.bootstrap_rounds) == (200, 100)
    assert defaults.logdir == Path(".polyroute")
    # no LOGDIR: the logs go beside the database in the data dir, not into the working directory
    assert ArenaSettings.from_env({"POLYROUTE_DATA_DIR": str(tmp_path)}).logdir == tmp_path


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POLYROUTE_ARENA_DAILY_VOTE_CAP", "0"),
        ("POLYROUTE_ARENA_DAILY_VOTE_CAP", "many"),
        ("COPILOT_ARENA_LEADERBOARD_URL", "file:///etc/passwd"),
        ("POLYROUTE_ARENA_MAX_TURNS", "-1"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ArenaSettingsError, match=f"^{name}: "):
        ArenaSettings.from_env({name: value})


async def test_the_arena_migration_goes_down_and_up_again(database: Database) -> None:
    from alembic import command

    def tables(sync) -> set[str]:
        return set(inspect(sync).get_table_names())

    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0001"))
        remaining = await connection.run_sync(tables)
    assert "polyroute_keys" in remaining and not {t for t in remaining if t.startswith("polyroute_arena")}
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
        restored = await connection.run_sync(tables)
    assert {"polyroute_arena_battles", "polyroute_arena_votes"} <= restored
    assert await database.at_head()

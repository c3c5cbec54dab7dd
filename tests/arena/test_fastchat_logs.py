"""The conversation logs are FastChat's: its own monitor code (fschat 0.2.36's
`fastchat/serve/monitor/clean_battle_data.py` and `elo_analysis.py`) reads polyroute's battles
back, drops the same leaked one, and rates them as polyroute does."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

from polyroute.arena.conv_log import ConversationLog
from polyroute.arena.ratings import online_elo
from polyroute.arena.settings import ArenaSettings
from polyroute.arena.store import ArenaStore
from polyroute.store.database import Database
from tests.arena.conftest import Clock, answered_battle, caller

# FastChat's detect_language needs polyglot, which needs PyICU and pycld2: C extensions built
# against the system's ICU, with no wheels on PyPI. Only that one function is replaced, with
# polyroute's own detector; everything that reads the logs is FastChat's.
#
# elo_analysis imports fastchat.model.model_registry for its table's model links, which imports
# torch and transformers (30 s here); the functions used below never touch it, so an empty module
# stands in for the registry.
_FASTCHAT_READER = """
import json, sys, types
sys.modules["fastchat.model.model_registry"] = types.ModuleType("fastchat.model.model_registry")
sys.modules["fastchat.model.model_registry"].get_model_info = None
import fastchat.serve.monitor.clean_battle_data as cleaner
from fastchat.serve.monitor.elo_analysis import compute_elo, compute_elo_mle_with_tie
from polyroute.arena.features import detect_language
import pandas as pd

cleaner.detect_language = detect_language
battles = cleaner.clean_battle_data(sys.argv[1:], exclude_model_names=[])
frame = pd.DataFrame(battles)
anonymous = frame[frame["anony"]]
print("RESULT " + json.dumps({
    "battles": [{k: b[k] for k in ("model_a", "model_b", "winner", "anony", "turn", "language",
                                   "conversation_a", "conversation_b", "judge")} for b in battles],
    "online_elo": compute_elo(anonymous),
    "mle": compute_elo_mle_with_tie(anonymous).to_dict(),
}))
"""

WINNERS = {"leftvote": "model_a", "rightvote": "model_b", "tievote": "tie", "bothbad_vote": "tie (bothbad)"}


def run_fastchat_reader(files: list[Path]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _FASTCHAT_READER, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])


async def test_a_battle_and_its_answers_are_logged_with_fastchats_field_names(
    sqlite_database: Database, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ArenaSettings(logdir=tmp_path / "logs")
    store = ArenaStore(sqlite_database, settings, clock=clock)
    writers: set[int] = set()
    append = ConversationLog._append

    def spied(self, path, line):  # type: ignore[no-untyped-def]
        writers.add(threading.get_ident())
        return append(self, path, line)

    monkeypatch.setattr(ConversationLog, "_append", spied)
    who = caller()
    battle = await store.start_battle(
        who, mode="anonymous", model_a="model-x", model_b="model-y", system_message="Be brief."
    )
    await store.add_turn(battle, who.session_id, "Hi")
    for side in "ab":
        await store.record_answer(
            battle, who.session_id, side=side, turn_index=0, text=f"hello from {side}", request_id="r",
            gen_params={"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 256}, started_at=clock.now - 2,
        )  # fmt: skip
    await store.vote(battle, who.session_id, "bothbad_vote")

    [path] = sorted((tmp_path / "logs").iterdir())
    assert path.name == "2026-12-04-conv.json"
    assert writers and threading.get_ident() not in writers  # files are written off the event loop
    chat_a, chat_b, vote = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert set(chat_a) == {
        "tstamp",
        "type",
        "model",
        "gen_params",
        "start",
        "finish",
        "state",
        "ip",
        "images",
    }
    assert (chat_a["type"], chat_a["model"], chat_b["model"]) == ("chat", "model-x", "model-y")
    assert chat_a["start"] == clock.now - 2 and chat_a["finish"] == chat_a["tstamp"] == clock.now
    assert chat_a["gen_params"] == {"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 256}
    assert chat_a["state"] == {
        "template_name": "polyroute",
        "system_message": "Be brief.",
        "roles": ["user", "assistant"],
        "messages": [["user", "Hi"], ["assistant", "hello from a"]],
        "offset": 0,
        "conv_id": f"{battle}-a",
        "model_name": "model-x",
    }
    assert set(vote) == {"tstamp", "type", "models", "states", "ip"}
    assert (vote["type"], vote["models"], vote["ip"]) == ("bothbad_vote", ["", ""], "203.0.113.7")
    assert [s["model_name"] for s in vote["states"]] == ["model-x", "model-y"]
    # the key never reaches a log line, not even as its hash
    assert "ab" * 32 not in path.read_text()


async def test_fastchats_own_cleaner_and_ratings_read_our_battles(
    sqlite_database: Database, tmp_path: Path, clock: Clock
) -> None:
    settings = ArenaSettings(logdir=tmp_path / "logs", daily_vote_cap=1000)
    store = ArenaStore(sqlite_database, settings, clock=clock)
    who = caller()
    plan = [
        ("model-x", "model-y", "leftvote"),
        ("model-y", "model-z", "rightvote"),
        ("model-x", "model-z", "tievote"),
        ("model-z", "model-x", "bothbad_vote"),
        ("model-x", "model-y", "leftvote"),
        ("model-y", "model-x", "rightvote"),
        ("model-z", "model-y", "leftvote"),
        ("model-x", "model-z", "leftvote"),
        ("model-y", "model-z", "tievote"),
    ] * 3
    for a, b, vote in plan:
        battle = await answered_battle(store, who, model_a=a, model_b=b, answers=("Paris.", "It is Paris."))
        await store.vote(battle, who.session_id, vote)
        clock.now += 1.0
    # a named battle, and anonymous ones where a model said who made it or the user named one
    # (FastChat drops those too)
    named = await answered_battle(store, who, model_a="model-x", model_b="model-y", mode="named")
    await store.vote(named, who.session_id, "rightvote")
    clock.now += 1.0
    leaked = await answered_battle(store, who, answers=("As an OpenAI model: Paris.", "Paris."))
    await store.vote(leaked, who.session_id, "leftvote")
    clock.now += 1.0
    asked = await answered_battle(store, who, prompt="Are you Claude? And the capital of France?")
    await store.vote(asked, who.session_id, "rightvote")
    clock.now += 1.0
    # a second day, a second file
    clock.now += 86_400.0
    late = await answered_battle(store, who, model_a="model-z", model_b="model-x")
    await store.vote(late, who.session_id, "leftvote")

    files = sorted((tmp_path / "logs").iterdir())
    assert [f.name for f in files] == ["2026-12-04-conv.json", "2026-12-05-conv.json"]
    read = run_fastchat_reader(files)

    expected = [(a, b, WINNERS[v], True) for a, b, v in plan] + [
        ("model-x", "model-y", "model_b", False),
        ("model-z", "model-x", "model_a", True),
    ]
    got = [(b["model_a"], b["model_b"], b["winner"], b["anony"]) for b in read["battles"]]
    assert got == expected
    first = read["battles"][0]
    assert first["turn"] == 1 and first["language"] == "English"
    assert first["conversation_a"] == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ]
    assert first["judge"] == "arena_user_203.0.113.7"

    # the store hands the leaderboard exactly the anonymous battles FastChat kept, in its order
    ours = await store.outcomes()
    assert [(o.model_a, o.model_b, o.winner) for o in ours] == [x[:3] for x in expected if x[3]]
    # FastChat's online Elo over its reading equals ours over the store's
    mine = online_elo([(o.model_a, o.model_b, o.winner) for o in ours])
    assert read["online_elo"] == pytest.approx(mine, abs=1e-9)
    # and its (lightly L2-penalised) Bradley-Terry fit orders the models as ours does
    fastchat_order = sorted(read["mle"], key=lambda m: -read["mle"][m])
    from polyroute.arena.ratings import Battles, fit_bradley_terry

    fit = fit_bradley_terry(Battles.from_outcomes([(o.model_a, o.model_b, o.winner) for o in ours]))
    assert sorted(fit.ratings, key=lambda m: -fit.ratings[m]) == fastchat_order

"""The leaderboard table (JSON rows, CSV, categories, the MT-Bench column, models without votes),
its cache, and the plots."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest

from polyroute.arena.features import StyleCounts
from polyroute.arena.leaderboard import LeaderboardCache, build_leaderboard, categories, compute_leaderboard
from polyroute.arena.plots import render_plot
from polyroute.arena.settings import ArenaSettings
from polyroute.arena.store import ArenaStore, Outcome
from polyroute.errors import InvalidRequestError
from polyroute.store.database import Database
from tests.arena.conftest import Clock, answered_battle, caller


def outcome(
    a: str, b: str, winner: str, *, turns: int = 1, chars: int = 50, language: str = "English"
) -> Outcome:
    style = {"a": StyleCounts(chars=100).as_dict(), "b": StyleCounts(chars=120).as_dict()}
    return Outcome(a, b, winner, 0.0, turns, chars, language, style)


OUTCOMES = (
    [outcome("strong", "weak", "model_a")] * 6
    + [outcome("strong", "middle", "model_a")] * 4
    + [outcome("middle", "weak", "model_a")] * 4
    + [outcome("weak", "strong", "model_b", turns=3)] * 3
    + [outcome("middle", "strong", "tie", chars=5_000)] * 2
    + [outcome("weak", "middle", "model_a", language="German")] * 3
)


def test_the_table_ranks_rates_and_counts_every_model_that_battled() -> None:
    board = compute_leaderboard(
        OUTCOMES,
        ["middle", "retired", "strong", "weak"],
        rounds=40,
        extra_scores={"strong": 8.25, "weak": 4.0},
    )
    assert [r["model"] for r in board.rows] == ["strong", "middle", "weak", "retired"]
    strong, middle, weak, retired = board.rows
    assert strong["rank"] == 1 and strong["votes"] == 6 + 4 + 3 + 2
    assert strong["ci_lower"] <= strong["rating"] <= strong["ci_upper"]
    assert middle["elo_online"] is not None and weak["mt_bench"] == 4.0 and middle["mt_bench"] is None
    # a model that battled but has no counted vote stays on the board, unrated
    assert retired == {
        "rank": None, "model": "retired", "rating": None, "ci_lower": None, "ci_upper": None,
        "votes": 0, "elo_online": None, "mt_bench": None,
    }  # fmt: skip
    data = json.loads(json.dumps(board.to_json()))  # plain JSON types, no numpy scalars
    assert data["columns"][-1] == "mt_bench" and data["battles"] == len(OUTCOMES)
    assert data["win_fraction"]["models"] == ["strong", "middle", "weak"]
    assert data["categories"] == ["all", "multi_turn", "long_query", "language:English", "language:German"]


def test_categories_filter_the_battles() -> None:
    multi = compute_leaderboard(OUTCOMES, [], category="multi_turn", rounds=10)
    assert multi.battles == 3 and {r["model"] for r in multi.rows if r["votes"]} == {"weak", "strong"}
    long = compute_leaderboard(OUTCOMES, [], category="long_query", rounds=10, long_query_chars=2_000)
    assert long.battles == 2
    german = compute_leaderboard(OUTCOMES, ["strong"], category="language:German", rounds=10)
    assert german.battles == 3
    assert [r["model"] for r in german.rows] == ["weak", "middle", "strong"]  # strong: no German votes
    assert german.rows[-1]["rating"] is None
    with pytest.raises(InvalidRequestError) as unknown:
        compute_leaderboard(OUTCOMES, [], category="sports")
    assert unknown.value.param == "category"
    with pytest.raises(InvalidRequestError) as bad_view:
        compute_leaderboard(OUTCOMES, [], view="vibes")
    assert bad_view.value.param == "view"
    assert categories([]) == ["all", "multi_turn", "long_query"]


def test_the_style_view_reports_its_coefficients() -> None:
    board = compute_leaderboard(OUTCOMES, [], view="style", rounds=10)
    json.dumps(board.to_json())
    assert set(board.style_coefficients) == {"chars", "headers", "list_items", "bold"}
    assert board.view == "style" and board.rows[0]["rating"] is not None


def test_csv_has_a_header_a_row_per_model_and_no_formulas() -> None:
    board = compute_leaderboard(
        [outcome("=HYPERLINK(1)", "plain", "model_a")] * 2, ["=HYPERLINK(1)", "plain"], rounds=5
    )
    rows = list(csv.reader(io.StringIO(board.to_csv())))
    assert rows[0] == ["rank", "model", "rating", "ci_lower", "ci_upper", "votes", "elo_online"]
    assert [r[1] for r in rows[1:]] == ["'=HYPERLINK(1)", "plain"]
    assert rows[1][5] == "2" and "." in rows[1][2]


def test_no_votes_yet_is_an_empty_table_not_an_error() -> None:
    board = compute_leaderboard([], ["a", "b"])
    assert [(r["model"], r["rating"], r["votes"]) for r in board.rows] == [("a", None, 0), ("b", None, 0)]
    assert board.win_matrix == [] and board.battles == 0


async def test_built_from_the_store_and_cached_per_view_and_category(
    sqlite_database: Database, tmp_path
) -> None:
    settings = ArenaSettings(logdir=tmp_path, write_conv_logs=False, bootstrap_rounds=20, daily_vote_cap=100)
    store = ArenaStore(sqlite_database, settings, clock=Clock())
    who = caller()
    for vote in ("leftvote", "leftvote", "rightvote"):
        battle = await answered_battle(store, who, model_a="m-one", model_b="m-two")
        await store.vote(battle, who.session_id, vote)
    board = await build_leaderboard(store, settings)
    assert [r["model"] for r in board.rows] == ["m-one", "m-two"] and board.battles == 3

    reads = 0
    original = store.outcomes

    async def counted() -> list[Outcome]:
        nonlocal reads
        reads += 1
        return await original()

    store.outcomes = counted  # type: ignore[method-assign]
    now = [0.0]
    cache = LeaderboardCache(store, settings, ttl_s=30, clock=lambda: now[0])
    boards = await asyncio.gather(*(cache.get() for _ in range(5)))
    assert reads == 1 and all(b is boards[0] for b in boards)  # one computation served them all
    await cache.get(view="style")
    assert reads == 2
    now[0] = 29.0
    await cache.get()
    assert reads == 2
    now[0] = 30.0  # the ttl passed: recomputed
    await cache.get()
    assert reads == 3
    assert (await cache.get(category="language:English")).battles == 3
    assert reads == 4
    with pytest.raises(InvalidRequestError, match="no battles"):
        await cache.get(category="language:" + "x" * 10_000)
    with pytest.raises(InvalidRequestError):
        await cache.get(category="nope")
    assert reads == 4 and len(cache._entries) == 3


async def test_plots_render_as_svg_and_png() -> None:
    board = compute_leaderboard(OUTCOMES, ["retired"], rounds=10)
    svg = await render_plot(board, "ratings", "svg")
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert await render_plot(board, "ratings", "svg") == svg  # no timestamp: the same bytes again
    heat = await render_plot(board, "win_fraction", "svg")
    assert b"<image" not in heat and b"data:" not in heat  # all vector: nothing embedded
    png = await render_plot(board, "win_fraction", "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    empty = await render_plot(compute_leaderboard([], []), "win_fraction", "svg")
    assert b"<svg" in empty
    with pytest.raises(InvalidRequestError):
        await render_plot(board, "pie", "svg")
    with pytest.raises(InvalidRequestError):
        await render_plot(board, "ratings", "gif")


async def test_the_maths_and_the_drawing_run_off_the_event_loop(
    sqlite_database: Database, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import polyroute.arena.leaderboard as leaderboard_module
    import polyroute.arena.plots as plots_module

    threads: dict[str, int] = {}

    def spy(name: str, function):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            threads[name] = threading.get_ident()
            return function(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(leaderboard_module, "compute_leaderboard", spy("maths", compute_leaderboard))
    monkeypatch.setattr(plots_module, "draw", spy("drawing", plots_module.draw))
    settings = ArenaSettings(logdir=tmp_path, write_conv_logs=False, bootstrap_rounds=5)
    store = ArenaStore(sqlite_database, settings, clock=Clock())
    board = await build_leaderboard(store, settings)
    await render_plot(board, "ratings", "svg")
    loop_thread = threading.get_ident()
    assert set(threads) == {"maths", "drawing"} and loop_thread not in threads.values()

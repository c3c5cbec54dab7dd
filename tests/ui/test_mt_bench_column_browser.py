"""MT-Bench scores (`polyroute eval mt-bench`, stored in the same database as the arena's votes)
stand beside the arena's ratings on the leaderboard: in its JSON, its CSV and the page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.async_api import Page, expect
from tests.gateway import GatewayServer
from tests.ui.conftest import screenshot
from tests.ui.support import UIServer

from polyroute.store.database import Database
from polyroute.store.eval_results import save_eval_run


def _single_run(scores: dict[str, float]) -> dict:
    return {
        "run_id": "run-ui",
        "mode": "single",
        "judge": "judge-model",
        "baseline": None,
        "questions": 80,
        "spend": 0.0,
        "judge_usage": {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0},
        "errors": [],
        "scores": {
            m: {"score": s, "turn1": s, "turn2": s, "ci_low": s - 0.5, "ci_high": s + 0.5}
            for m, s in scores.items()
        },
    }


async def _store_scores(data_dir: Path, scores: dict[str, float]) -> None:
    database = Database.from_settings(None, {"POLYROUTE_DATA_DIR": str(data_dir)})
    try:
        await database.migrate()
        await save_eval_run(database, _single_run(scores), datetime.now(UTC))
    finally:
        await database.close()


async def test_mt_bench_scores_stand_beside_the_arena_ratings(
    page: Page, gateway: GatewayServer, tmp_path: Path
) -> None:
    with UIServer(gateway.url, tmp_path) as ui:
        board = httpx.get(ui.url + "/leaderboard", timeout=30).json()
        assert "mt_bench" not in board["columns"]  # no evaluation yet: no column

        await _store_scores(ui.data_dir, {"judged-only-model": 7.25})
        board = httpx.get(ui.url + "/leaderboard", timeout=30).json()
        assert "mt_bench" in board["columns"]
        row = next(r for r in board["rows"] if r["model"] == "judged-only-model")
        assert row["mt_bench"] == 7.25 and row["rating"] is None and row["votes"] == 0
        csv = httpx.get(ui.url + "/leaderboard.csv", timeout=30).text
        assert csv.splitlines()[0].endswith(",mt_bench") and "judged-only-model" in csv

        await page.goto(ui.url + "/arena/leaderboard")
        await page.wait_for_selector("body[data-ready='1']")
        await expect(page.locator("#mt-bench-head")).to_be_visible()
        line = page.locator("#board-rows tr", has_text="judged-only-model")
        await expect(line.locator("td").last).to_have_text("7.25")
        await expect(page.locator("#plots")).to_be_hidden()  # no battles: no empty plots
        await screenshot(page, "leaderboard-mt-bench")

"""`polyroute eval` end to end (its command-line entry point; tests/eval/test_resume.py runs it as
a real process), through a real gateway (mock models answer, a
scripted fake OpenAI judge grades over real HTTP), checked file by file, number by number, and
against FastChat's own show_result.py reading the same files."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fastchat
import orjson
import pytest

from polyroute.eval import load_latest_scores
from polyroute.store.database import Database, async_url
from tests.eval.support import (
    JUDGE_COST_PER_REQUEST,
    JUDGE_KEY,
    MASTER,
    Rules,
    gateway_config,
    read_jsonl,
    run_eval,
    write_inputs,
)
from tests.fakes.judge import FakeJudge
from tests.gateway import GatewayServer

SHOW_RESULT = Path(fastchat.__file__).parent / "llm_judge" / "show_result.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules()


@pytest.fixture(scope="module")
def judge(rules: Rules) -> Iterator[FakeJudge]:
    with FakeJudge(rules, api_key=JUDGE_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(judge: FakeJudge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    with GatewayServer(gateway_config(judge.url), tmp_path_factory.mktemp("eval-gw")) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_judge(judge: FakeJudge, rules: Rules) -> None:
    judge.reset()
    rules.asked.clear()
    rules.stall = None
    rules.malformed = True


def show_result(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(SHOW_RESULT), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def section_scores(output: str, title: str) -> dict[str, float]:
    """model -> score of one '########## <title> ##########' block of show_result's output."""
    block = output.split(f"########## {title} ##########")[1].split("##########")[0]
    return {m: float(v) for m, v in re.findall(r"^(mock-\w+)\s+(?:\d\s+)?([\d.]+)\s*$", block, re.MULTILINE)}


def test_single_grading_files_scores_and_fastchat_agree(gateway, judge, rules, tmp_path: Path) -> None:
    questions, references = write_inputs(tmp_path)
    out = tmp_path / "mt_bench"
    db_url = f"sqlite:///{tmp_path / 'results.db'}"
    done = run_eval(
        gateway.url,
        out,
        "mt-bench",
        "--models",
        "mock-good,mock-bad",
        "--judge",
        "judge",
        "--questions",
        str(questions),
        "--references",
        str(references),
        "--parallel",
        "4",
        "--database-url",
        db_url,
    )
    assert done.returncode == 0, done.stderr

    # Answers: FastChat's records, both turns, MT-Bench's temperature per category.
    good = read_jsonl(out / "model_answer" / "mock-good.jsonl")
    assert sorted(r["question_id"] for r in good) == [1, 2, 3, 4]
    assert all(r["model_id"] == "mock-good" and len(r["choices"][0]["turns"]) == 2 for r in good)
    assert good[0]["choices"][0]["turns"][0] == "GOOD answer"

    # Judge traffic: 16 matches, one readable on the second try, one never (3 tries).
    sent = judge.chat_requests()
    assert len(sent) == 16 + 1 + 2
    assert all(body["temperature"] == 0 and body["model"] == "judge-1" for body in sent)
    prompts = [body["messages"][1]["content"] for body in sent]
    math_prompts = [p for p in prompts if "Q2-T1" in p]
    assert math_prompts and all("REF-2-1" in p for p in math_prompts)  # reference-guided
    assert all("REF-" not in p for p in prompts if "Q2-T1" not in p)

    judgments = read_jsonl(out / "model_judgment" / "judge_single.jsonl")
    assert len(judgments) == 15  # the unreadable one is an error, never a score
    by_key = {(j["question_id"], j["model"], j["turn"]): j for j in judgments}
    assert (4, "mock-bad", 2) not in by_key
    assert by_key[(2, "mock-good", 1)]["score"] == 8.0  # read from "[8]"
    assert by_key[(2, "mock-good", 1)]["judge"] == ["judge", "single-math-v1"]
    assert by_key[(1, "mock-good", 2)]["judge"] == ["judge", "single-v1-multi-turn"]
    assert by_key[(3, "mock-good", 1)]["score"] == 9.0  # after one unreadable answer

    summary = orjson.loads((out / "polyroute" / "summary.json").read_bytes())
    good_score, bad_score = summary["scores"]["mock-good"], summary["scores"]["mock-bad"]
    assert good_score["score"] == pytest.approx(63 / 8)
    assert (good_score["turn1"], good_score["turn2"]) == (pytest.approx(35 / 4), 7.0)
    assert good_score["categories"] == {"math": 7.5, "roleplay": 8.0, "stem": 8.0, "writing": 8.0}
    assert bad_score["score"] == pytest.approx(18 / 7)
    assert (bad_score["turn1"], bad_score["turn2"]) == (3.0, 2.0)
    assert good_score["ci_low"] <= good_score["score"] <= good_score["ci_high"]
    assert summary["judge_usage"]["requests"] == 19
    assert summary["judge_usage"]["cost"] == pytest.approx(19 * JUDGE_COST_PER_REQUEST)
    assert summary["spend"] >= summary["judge_usage"]["cost"] > 0
    [error] = summary["errors"]
    assert (error["model"], error["question_id"], error["turn"]) == ("mock-bad", 4, 2)
    errors = read_jsonl(out / "polyroute" / "errors.jsonl")
    assert errors == [error]

    # The terminal table and the markdown report, the charts as PNG and SVG.
    assert "mock-good" in done.stdout and "7.88" in done.stdout and "1 errors" in done.stdout
    report = (out / "polyroute" / "report.md").read_text()
    assert "| mock-good | 7.88 | 8.75 | 7.00 |" in report
    for name in ("radar.png", "radar.svg", "scores.png", "scores.svg"):
        assert (out / "polyroute" / "charts" / name).stat().st_size > 1000
    assert (out / "polyroute" / "charts" / "scores.png").read_bytes()[:4] == b"\x89PNG"

    # FastChat's own show_result.py reads the same numbers from the same files.
    shown = show_result(
        "--mode", "single", "--input-file", str(out / "model_judgment" / "judge_single.jsonl")
    )
    assert section_scores(shown, "Average") == {
        "mock-good": pytest.approx(63 / 8, abs=1e-6),
        "mock-bad": pytest.approx(18 / 7, abs=1e-6),
    }
    assert section_scores(shown, "First turn") == {"mock-good": 8.75, "mock-bad": 3.0}
    assert section_scores(shown, "Second turn") == {"mock-good": 7.0, "mock-bad": 2.0}

    # The scores are in SQL for the leaderboard.
    async def latest() -> dict:
        database = Database(async_url(db_url, tmp_path))
        try:
            return await load_latest_scores(database)
        finally:
            await database.close()

    scores = asyncio.run(latest())
    assert scores["mock-good"]["score"] == pytest.approx(63 / 8)
    assert scores["mock-bad"]["turn2"] == 2.0
    assert scores["mock-good"]["run_id"] == summary["run_id"]

    # A second run asks nothing that is in the files; it retries the error only.
    judge.reset()
    rules.malformed = False
    again = run_eval(
        gateway.url,
        out,
        "mt-bench",
        "--models",
        "mock-good,mock-bad",
        "--judge",
        "judge",
        "--questions",
        str(questions),
        "--references",
        str(references),
        "--no-store",
    )
    assert again.returncode == 0, again.stderr
    [retried] = judge.chat_requests()
    assert "Q4-T2" in retried["messages"][1]["content"] and "BAD" in retried["messages"][1]["content"]
    summary = orjson.loads((out / "polyroute" / "summary.json").read_bytes())
    assert summary["errors"] == [] and summary["this_invocation"]["new_answers"] == 0
    assert summary["scores"]["mock-bad"]["score"] == pytest.approx(20 / 8)


def test_pairwise_swap_rule_and_fastchat_win_rates(gateway, judge, tmp_path: Path) -> None:
    questions, references = write_inputs(tmp_path)
    out = tmp_path / "mt_bench"
    done = run_eval(
        gateway.url,
        out,
        "mt-bench",
        "--models",
        "mock-good,mock-bad",
        "--judge",
        "judge",
        "--mode",
        "pairwise-all",
        "--questions",
        str(questions),
        "--references",
        str(references),
        "--no-store",
    )
    assert done.returncode == 0, done.stderr
    assert len(judge.chat_requests()) == 7 * 2 + 1 + 3

    records = read_jsonl(out / "model_judgment" / "judge_pair.jsonl")
    by_key = {(r["question_id"], r["turn"]): r for r in records}
    assert len(records) == 7 and (4, 2) not in by_key
    assert all((r["model_1"], r["model_2"]) == ("mock-good", "mock-bad") for r in records)
    # Always "[[A]]": game 1 names model_1, the swapped game 2 names model_2 -> a tie.
    assert (by_key[(2, 1)]["g1_winner"], by_key[(2, 1)]["g2_winner"]) == ("model_1", "model_2")
    assert (by_key[(1, 1)]["g1_winner"], by_key[(1, 1)]["g2_winner"]) == ("model_1", "model_1")
    assert by_key[(3, 2)]["g1_winner"] == "tie"
    assert "[The Start of Assistant A's Answer]\nGOOD" in by_key[(1, 1)]["g1_user_prompt"]
    assert "[The Start of Assistant A's Answer]\nBAD" in by_key[(1, 1)]["g2_user_prompt"]

    summary = orjson.loads((out / "polyroute" / "summary.json").read_bytes())
    good = summary["win_rates"]["mock-good"]
    assert (good["win"], good["loss"], good["tie"]) == (3, 0, 4)
    assert good["win_rate"] == pytest.approx(3 / 7) and good["win_rate_adjusted"] == pytest.approx(5 / 7)
    bad = summary["win_rates"]["mock-bad"]
    assert (bad["win"], bad["loss"], bad["tie"]) == (0, 3, 4)

    shown = show_result(
        "--mode", "pairwise-all", "--input-file", str(out / "model_judgment" / "judge_pair.jsonl")
    )
    rows = {
        m: [float(x) for x in rest.split()] for m, rest in re.findall(r"^(mock-\w+)\s+(.*)$", shown, re.M)
    }
    assert rows["mock-good"] == pytest.approx([3, 0, 4, 3 / 7, 0, 5 / 7], abs=1e-6)
    assert rows["mock-bad"] == pytest.approx([0, 3, 4, 0, 3 / 7, 2 / 7], abs=1e-6)


def test_arena_hard_five_way_against_a_baseline(gateway, judge, tmp_path: Path) -> None:
    questions, _ = write_inputs(tmp_path)
    out = tmp_path / "arena"
    done = run_eval(
        gateway.url,
        out,
        "arena-hard",
        "--models",
        "mock-good",
        "--baseline",
        "mock-bad",
        "--judge",
        "judge",
        "--questions",
        str(questions),
        "--style-control",
        "--no-store",
    )
    assert done.returncode == 0, done.stderr
    records = {r["question_id"]: r for r in read_jsonl(out / "model_judgment" / "judge_arena_hard.jsonl")}
    assert len(records) == 4 and len(judge.chat_requests()) == 8
    # Game 1 shows the baseline as A, game 2 the model.
    assert [g["score"] for g in records[1]["games"]] == ["B>>A", "A>>B"]
    assert [g["score"] for g in records[2]["games"]] == ["A=B", "A=B"]
    summary = orjson.loads((out / "polyroute" / "summary.json").read_bytes())
    score = summary["arena"]["mock-good"]
    # Weighted battles: q1 3+3 wins, q2 two ties, q3 and q4 1+1 wins: (10 + 1) / 12.
    assert score["raw_win_rate"] == pytest.approx(100 * 11 / 12)
    assert score["battles"] == 8 and score["score"] > 80


def test_refused_key_and_rate_limit_are_reported_and_the_run_goes_on(gateway, judge, tmp_path: Path) -> None:
    import httpx

    made = httpx.post(
        gateway.url + "/key/generate",
        headers={"Authorization": f"Bearer {MASTER}"},
        json={"models": ["mock-good", "mock-limited", "judge"]},
    )
    assert made.status_code == 200, made.text
    questions, _ = write_inputs(tmp_path)
    out = tmp_path / "mt_bench"
    done = run_eval(
        gateway.url,
        out,
        "mt-bench",
        "--models",
        "mock-good,mock-bad,mock-limited",
        "--judge",
        "judge",
        "--questions",
        str(questions),
        "--question-ids",
        "1,2",
        "--no-store",
        env={"POLYROUTE_API_KEY": made.json()["key"]},
    )
    assert done.returncode == 0, done.stderr
    summary = orjson.loads((out / "polyroute" / "summary.json").read_bytes())
    assert set(summary["scores"]) == {"mock-good"} and summary["questions"] == 2
    failures = {(e["model"], e["question_id"]): e for e in summary["errors"]}
    assert set(failures) == {("mock-bad", 1), ("mock-bad", 2), ("mock-limited", 1), ("mock-limited", 2)}
    assert failures[("mock-bad", 1)]["status"] in (401, 403)
    assert failures[("mock-limited", 1)]["status"] == 429
    assert made.json()["key"] not in (out / "polyroute" / "errors.jsonl").read_text()
    assert "4 errors" in done.stdout


def test_pairwise_baseline_with_two_choices_per_answer(gateway, judge, tmp_path: Path) -> None:
    questions, references = write_inputs(tmp_path)
    out = tmp_path / "mt_bench"
    done = run_eval(
        gateway.url, out, "mt-bench", "--models", "mock-good", "--baseline", "mock-bad",
        "--mode", "pairwise-baseline", "--judge", "judge", "--questions", str(questions),
        "--references", str(references), "--question-ids", "1,3", "--num-choices", "2", "--no-store",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    baseline_answers = read_jsonl(out / "model_answer" / "mock-bad.jsonl")  # the baseline answers too
    assert sorted(r["question_id"] for r in baseline_answers) == [1, 3]
    assert all([c["index"] for c in r["choices"]] == [0, 1] for r in baseline_answers)
    records = read_jsonl(out / "model_judgment" / "judge_pair.jsonl")
    assert len(records) == 4 and len(judge.chat_requests()) == 8
    assert {(r["model_1"], r["model_2"]) for r in records} == {("mock-good", "mock-bad")}

    summary = orjson.loads((out / "polyroute" / "summary.json").read_bytes())
    assert set(summary["win_rates"]) == {"mock-good"}  # the baseline is not ranked
    good = summary["win_rates"]["mock-good"]
    assert (good["win"], good["loss"], good["tie"], good["win_rate_adjusted"]) == (2, 0, 2, 0.75)
    judgments = str(out / "model_judgment" / "judge_pair.jsonl")
    shown = show_result(
        "--mode", "pairwise-baseline", "--baseline-model", "mock-bad", "--input-file", judgments
    )
    rows = {
        m: [float(x) for x in rest.split()] for m, rest in re.findall(r"^(mock-\w+)\s+(.*)$", shown, re.M)
    }
    assert rows == {"mock-good": pytest.approx([2, 0, 2, 0.5, 0, 0.75])}


def test_answers_use_mt_bench_temperatures_and_carry_the_first_turn(gateway, judge, tmp_path: Path) -> None:
    questions, _ = write_inputs(tmp_path)
    out = tmp_path / "mt_bench"
    done = run_eval(
        gateway.url, out, "mt-bench", "--models", "fake-answerer", "--judge", "judge",
        "--questions", str(questions), "--max-tokens", "256", "--no-store",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    asked = [b for b in judge.chat_requests() if b["model"] == "answerer-1"]
    assert len(asked) == 8
    by_turn = {b["messages"][-1]["content"][:5]: b for b in asked}
    temperatures = {name: by_turn[name]["temperature"] for name in ("Q1-T1", "Q2-T1", "Q3-T1", "Q4-T1")}
    assert temperatures == {
        "Q1-T1": 0.7,
        "Q2-T1": 0.0,
        "Q3-T1": 0.7,
        "Q4-T1": 0.1,
    }  # writing, math, roleplay, stem
    second = by_turn["Q2-T2"]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert second["messages"][1]["content"] == "answer 1 to Q2-T1 add 2 and 2"
    assert second["temperature"] == 0.0 and all(b["max_tokens"] == 256 for b in asked)
    [record] = [r for r in read_jsonl(out / "model_answer" / "fake-answerer.jsonl") if r["question_id"] == 2]
    assert record["choices"][0]["turns"] == ["answer 1 to Q2-T1 add 2 and 2", "answer 3 to Q2-T2 now times 3"]

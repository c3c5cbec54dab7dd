"""An interrupted run continues where it stopped: `polyroute eval` as a real process, stopped
with Ctrl-C (SIGINT) while the judge holds a request, then run again. Counted at the fake judge:
nothing that is in the files is asked for twice; only the request that never got its answer is."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from tests.eval.support import JUDGE_KEY, MASTER, Rules, eval_command, gateway_config, read_jsonl, run_eval
from tests.eval.support import write_inputs as write_question_files
from tests.fakes.judge import FakeJudge
from tests.gateway import GatewayServer

pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def rules() -> Rules:
    rules = Rules()
    rules.malformed = False
    return rules


@pytest.fixture
def judge(rules: Rules) -> Iterator[FakeJudge]:
    with FakeJudge(rules, api_key=JUDGE_KEY) as fake:
        yield fake


@pytest.fixture
def gateway(judge: FakeJudge, tmp_path: Path) -> Iterator[GatewayServer]:
    (tmp_path / "gw").mkdir()
    with GatewayServer(gateway_config(judge.url), tmp_path / "gw") as server:
        yield server


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_ctrl_c_mid_run_then_resume_asks_nothing_twice(gateway, judge, rules, tmp_path: Path) -> None:
    questions, references = write_question_files(tmp_path)
    out = tmp_path / "mt_bench"
    args = (
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
        "1",
        "--no-store",
    )

    def held(user: str) -> bool:  # question 3's first-turn grade of mock-good: never answered
        return "Q3-T1" in user and "GOOD" in user and "Q3-T2" not in user

    rules.stall = held
    verdicts = out / "model_judgment" / "judge_single.jsonl"
    env = {**os.environ, "POLYROUTE_API_KEY": MASTER}
    process = subprocess.Popen(
        eval_command(gateway.url, out, *args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # One at a time, question by question: 2 questions x 2 models x 2 turns come first.
        wait_for(
            lambda: any(held(b["messages"][1]["content"]) for b in judge.chat_requests()), "the held request"
        )
        wait_for(lambda: _lines(verdicts) == 8, "eight verdicts on disk")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "Run the same command again to continue" in stderr
    raw = verdicts.read_bytes()
    assert raw.endswith(b"\n") and len(read_jsonl(verdicts)) == 8  # whole lines only
    assert not (out / "polyroute" / "summary.json").exists()
    answers_before = {m: read_jsonl(out / "model_answer" / f"{m}.jsonl") for m in ("mock-good", "mock-bad")}
    assert all(len(records) == 4 for records in answers_before.values())

    rules.stall = None
    done = run_eval(gateway.url, out, *args, process=True)
    assert done.returncode == 0, done.stderr

    asked = Counter(b["messages"][1]["content"] for b in judge.chat_requests())
    assert len(asked) == 16  # every grade of 4 questions x 2 models x 2 turns
    twice = [prompt for prompt, count in asked.items() if count > 1]
    assert len(twice) == 1 and held(twice[0]) and asked[twice[0]] == 2
    records = read_jsonl(verdicts)
    keys = [(r["question_id"], r["model"], r["turn"]) for r in records]
    assert len(keys) == len(set(keys)) == 16
    for model, before in answers_before.items():
        assert read_jsonl(out / "model_answer" / f"{model}.jsonl") == before  # not one answer asked again
    summary = orjson.loads((out / "polyroute" / "summary.json").read_bytes())
    assert summary["this_invocation"]["new_answers"] == 0
    assert summary["this_invocation"]["new_judgments"] == 8
    assert summary["scores"]["mock-good"]["score"] == pytest.approx((9 * 3 + 8 + 7 * 4) / 8)

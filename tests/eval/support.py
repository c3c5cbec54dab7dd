"""Shared pieces of the eval tests: a small question file, a scripted judge's rules, a gateway
with mock models and the judge, and the `polyroute eval` command run as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tests.fakes.base import Error, Reply

MASTER = "sk-polyroute-eval-master-5d1c0b7e2f"
JUDGE_KEY = "sk-fake-judge-key-0123456789abcdef"
# The judge's price (model_info): each fake answer is 11 prompt + 7 completion tokens.
JUDGE_COST_PER_REQUEST = 11 * 1e-6 + 7 * 2e-6

QUESTIONS = [
    {"question_id": 1, "category": "writing", "turns": ["Q1-T1 write a poem", "Q1-T2 make it rhyme"]},
    {"question_id": 2, "category": "math", "turns": ["Q2-T1 add 2 and 2", "Q2-T2 now times 3"]},
    {"question_id": 3, "category": "roleplay", "turns": ["Q3-T1 be a pirate", "Q3-T2 now a knight"]},
    {"question_id": 4, "category": "stem", "turns": ["Q4-T1 what is DNA", "Q4-T2 and RNA"]},
]
REFERENCES = [
    {"question_id": 2, "model_id": "gpt-4", "choices": [{"index": 0, "turns": ["REF-2-1", "REF-2-2"]}]}
]


def write_inputs(directory: Path) -> tuple[Path, Path]:
    questions = directory / "questions.jsonl"
    questions.write_bytes(b"".join(orjson.dumps(q) + b"\n" for q in QUESTIONS))
    references = directory / "references.jsonl"
    references.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in REFERENCES))
    return questions, references


def gateway_config(judge_url: str) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "mock-good",
                "litellm_params": {"model": "mock/good", "mock_response": "GOOD answer"},
            },
            {
                "model_name": "mock-bad",
                "litellm_params": {"model": "mock/bad", "mock_response": "BAD answer"},
            },
            {
                "model_name": "mock-limited",
                "litellm_params": {"model": "mock/limited", "mock_error_rate": 1.0, "mock_error_status": 429},
            },
            {  # a model answering from the same fake server, so its requests can be inspected
                "model_name": "fake-answerer",
                "litellm_params": {
                    "model": "openai/answerer-1",
                    "api_base": judge_url + "/v1",
                    "api_key": JUDGE_KEY,
                },
            },
            {
                "model_name": "judge",
                "litellm_params": {
                    "model": "openai/judge-1",
                    "api_base": judge_url + "/v1",
                    "api_key": JUDGE_KEY,
                },
                "model_info": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            },
        ],
        "general_settings": {"master_key": MASTER},
        "router_settings": {"num_retries": 0},
    }


_QUESTION = re.compile(r"Q(\d)-T1")


def _question_of(prompt: str) -> int:
    return int(_QUESTION.search(prompt).group(1))


def _verdict(text: str) -> Reply:
    return Reply(text=f"Explanation first. {text}")


class Rules:
    """The judge's behaviour, from the request alone; `asked` counts prompts by their text."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()
        self.stall: Callable[[str], bool] | None = None  # prompts that never get an answer
        self.malformed = True

    def __call__(self, body: dict[str, Any]) -> Any:
        if body["model"] == "answerer-1":
            return Reply(text=f"answer {len(body['messages'])} to {body['messages'][-1]['content']}")
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        self.asked[user] += 1
        if self.stall is not None and self.stall(user):
            return Error(500, ttfb=120)
        if "[[A>>B]]" in system:
            return self.five_way(user)
        if "[[rating]]" in system + user:  # single-v1 keeps its instructions in the user turn
            return self.single(user)
        return self.pair(user)

    def single(self, user: str) -> Reply:
        question, second = _question_of(user), re.search(r"Q\d-T2", user) is not None
        good = "GOOD" in user
        if self.malformed and question == 3 and good and not second and self.asked[user] == 1:
            return _verdict("I would rate this quite highly.")  # no verdict: asked again
        if self.malformed and question == 4 and not good and second:
            return _verdict("Rating: high")  # never readable: an error after the retries
        if question == 2 and good and not second:
            return _verdict("Rating: [8]")  # FastChat's single-bracket fallback
        if good:
            return _verdict("Rating: [[7]]" if second else "Rating: [[9]]")
        return _verdict("Rating: [[2]]" if second else "Rating: [[3]]")

    def pair(self, user: str) -> Reply:
        question = _question_of(user)
        second = re.search(r"Q\d-T2", user) is not None
        good_first = user.find("GOOD") < user.find("BAD")
        if question == 2:
            return _verdict("[[A]]")  # position bias: the swap turns it into a tie
        if question == 3:
            return _verdict("[[C]]")
        if self.malformed and question == 4 and second and not good_first:
            return _verdict("I cannot choose.")
        return _verdict("[[A]]" if good_first else "[[B]]")

    def five_way(self, user: str) -> Reply:
        question = _question_of(user)
        good_first = user.find("GOOD") < user.find("BAD")
        if question == 2:
            return _verdict("[[A=B]]")
        strong = question == 1
        if good_first:
            return _verdict("[[A>>B]]" if strong else "[[A>B]]")
        return _verdict("[[B>>A]]" if strong else "[[B>A]]")


def eval_command(gateway_url: str, out: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "polyroute",
        "eval",
        *args,
        "--out",
        str(out),
        "--gateway-url",
        gateway_url,
        "--max-retries",
        "0",
        "--bootstrap-rounds",
        "200",
        "--quiet",
    ]


def run_eval(
    gateway_url: str, out: Path, *args: str, env: dict[str, str] | None = None, process: bool = False
) -> subprocess.CompletedProcess:
    """`polyroute eval ...` as a real process, or (the default, to spare ~2 s of imports per run)
    through the same command-line entry point in this process."""
    command = eval_command(gateway_url, out, *args)
    full_env = {"POLYROUTE_API_KEY": MASTER, "COLUMNS": "200", **(env or {})}
    if process:
        return subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, **full_env}, timeout=120
        )
    from typer.testing import CliRunner

    from polyroute.cli.main import app

    result = CliRunner().invoke(app, command[3:], env=full_env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(command, result.exit_code, result.stdout, result.stderr)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]

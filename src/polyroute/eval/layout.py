"""Where a run's files go: FastChat's layout under --out, plus polyroute's own files.

    <out>/model_answer/<model>.jsonl              FastChat's answer records
    <out>/model_judgment/<judge>_single.jsonl     single-answer grading (FastChat's fields)
    <out>/model_judgment/<judge>_pair.jsonl       pairwise grading (FastChat's fields)
    <out>/model_judgment/<judge>_arena_hard.jsonl five-way verdicts against a baseline
    <out>/polyroute/errors.jsonl                  what failed, per run
    <out>/polyroute/summary.json, report.md, charts/*.png|svg

So `--out data/mt_bench` is what FastChat's scripts expect (`--bench-name mt_bench`). A model
name becomes a file name with every character other than letters, digits, `.`, `_` and `-`
replaced by `_` (`openai/gpt-4o` -> `openai_gpt-4o`); the records keep the real name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from polyroute.eval.questions import EvalInputError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(name: str) -> str:
    stem = _UNSAFE.sub("_", name)
    return "_" + stem if stem.startswith(".") else stem


def check_distinct_stems(names: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(file_stem(name), name)
        if other != name:
            raise EvalInputError(f"--models: '{name}' and '{other}' would share the file {file_stem(name)}")


@dataclass(frozen=True)
class RunLayout:
    out: Path
    judge: str

    def answers(self, model: str) -> Path:
        return self.out / "model_answer" / f"{file_stem(model)}.jsonl"

    def judgments(self, kind: str) -> Path:
        """kind: single, pair or arena_hard."""
        return self.out / "model_judgment" / f"{file_stem(self.judge)}_{kind}.jsonl"

    @property
    def own(self) -> Path:
        return self.out / "polyroute"

    @property
    def errors(self) -> Path:
        return self.own / "errors.jsonl"

    @property
    def summary(self) -> Path:
        return self.own / "summary.json"

    @property
    def report(self) -> Path:
        return self.own / "report.md"

    @property
    def charts(self) -> Path:
        return self.own / "charts"

"""MT-Bench's inputs: questions, reference answers and judge prompts, in FastChat's JSONL formats.

The 80 MT-Bench questions, GPT-4's reference answers and the judge prompts ship inside the
package (data/mt_bench, Apache-2.0, from lm-sys/FastChat; see SOURCE.md there). A user's own
question file in the same format (one `{"question_id", "category", "turns": [...]}` per line)
takes the questions' place. Files are read once, validated, and each bad line is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

# The sampling temperature MT-Bench answers each category with (FastChat's temperature_config);
# a category it does not know (a user's own file) gets 0.7, as FastChat's answer generator does.
CATEGORY_TEMPERATURES = {
    "writing": 0.7,
    "roleplay": 0.7,
    "extraction": 0.0,
    "math": 0.0,
    "coding": 0.0,
    "reasoning": 0.0,
    "stem": 0.1,
    "humanities": 0.1,
    "arena-hard-200": 0.0,
}
DEFAULT_TEMPERATURE = 0.7
# Categories judged against a reference answer (FastChat's NEED_REF_CATS).
REFERENCE_CATEGORIES = frozenset({"math", "reasoning", "coding", "arena-hard-200"})


class EvalInputError(ValueError):
    """A question, reference or prompt file cannot be used; the message names file and line."""


@dataclass(frozen=True)
class Question:
    question_id: int | str
    category: str
    turns: tuple[str, ...]

    @property
    def temperature(self) -> float:
        return CATEGORY_TEMPERATURES.get(self.category, DEFAULT_TEMPERATURE)

    @property
    def needs_reference(self) -> bool:
        return self.category in REFERENCE_CATEGORIES


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    type: str  # "single" or "pairwise"
    system_prompt: str
    prompt_template: str
    output_format: str


def builtin_dir() -> Path:
    """The MT-Bench data shipped in the package."""
    return Path(str(resources.files("polyroute.eval") / "data" / "mt_bench"))


def _lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvalInputError(f"{path}: cannot be read ({exc.strerror})") from None
    rows = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise EvalInputError(f"{path}:{number}: not a JSON object") from None
        if not isinstance(row, dict):
            raise EvalInputError(f"{path}:{number}: not a JSON object")
        rows.append((number, row))
    return rows


def load_questions(path: Path | None = None) -> list[Question]:
    """Questions of `path` (default: MT-Bench's 80), in file order; ids must be unique."""
    path = path or builtin_dir() / "question.jsonl"
    questions: list[Question] = []
    seen: set[int | str] = set()
    for number, row in _lines(path):
        qid, category, turns = row.get("question_id"), row.get("category"), row.get("turns")
        if not isinstance(qid, int | str) or isinstance(qid, bool):
            raise EvalInputError(f"{path}:{number}: question_id must be an integer or a string")
        if qid in seen:
            raise EvalInputError(f"{path}:{number}: question_id {qid!r} appears twice")
        if not isinstance(category, str) or not category:
            raise EvalInputError(f"{path}:{number}: category must be a non-empty string")
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise EvalInputError(f"{path}:{number}: turns must be a non-empty list of strings")
        seen.add(qid)
        questions.append(Question(qid, category, tuple(turns)))
    if not questions:
        raise EvalInputError(f"{path}: holds no questions")
    return questions


def load_reference_answers(path: Path | None = None) -> dict[int | str, tuple[str, ...]]:
    """question_id -> the reference answer's turns (first choice), FastChat's answer format."""
    path = path or builtin_dir() / "reference_answer" / "gpt-4.jsonl"
    references: dict[int | str, tuple[str, ...]] = {}
    for number, row in _lines(path):
        try:
            references[row["question_id"]] = tuple(row["choices"][0]["turns"])
        except (KeyError, IndexError, TypeError):
            raise EvalInputError(f"{path}:{number}: not an answer record (question_id, choices)") from None
    return references


def load_judge_prompts(path: Path | None = None) -> dict[str, JudgePrompt]:
    path = path or builtin_dir() / "judge_prompts.jsonl"
    prompts: dict[str, JudgePrompt] = {}
    for number, row in _lines(path):
        try:
            prompts[row["name"]] = JudgePrompt(
                row["name"], row["type"], row["system_prompt"], row["prompt_template"], row["output_format"]
            )
        except KeyError as exc:
            raise EvalInputError(f"{path}:{number}: judge prompt lacks {exc.args[0]}") from None
    return prompts


def select_questions(
    questions: list[Question], question_ids: list[str] | None = None, limit: int | None = None
) -> list[Question]:
    """The questions named by `question_ids` (as text, matched against str(id)), then the first
    `limit` of them; an id that is not in the file is an error."""
    chosen = questions
    if question_ids:
        by_id = {str(q.question_id): q for q in questions}
        missing = [qid for qid in question_ids if qid not in by_id]
        if missing:
            raise EvalInputError(f"--question-ids: no question with id {', '.join(missing)}")
        wanted = set(question_ids)
        chosen = [q for q in questions if str(q.question_id) in wanted]
    if limit is not None:
        chosen = chosen[:limit]
    return chosen

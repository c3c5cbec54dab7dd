"""Verdict parsing, the shipped MT-Bench data and question files, and kill-safe JSONL files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from polyroute.eval.journal import Journal, write_atomically
from polyroute.eval.layout import check_distinct_stems, file_stem
from polyroute.eval.questions import (
    EvalInputError,
    load_judge_prompts,
    load_questions,
    load_reference_answers,
    select_questions,
)
from polyroute.eval.verdicts import parse_five_way, parse_pair_winner, parse_rating, single_request


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("Rating: [[7]]", 7.0),
        ("[[7.5]]", 7.5),
        ("Rating: [8]", 8.0),  # FastChat's fallback
        ("[[3]] though I first thought [5]", 3.0),  # double brackets win
        ("[[11]]", None),  # off the 1-10 scale: asked again, never a score
        ("[[0]]", None),
        ("I rate it highly", None),
    ],
)
def test_parse_rating(text: str, rating: float | None) -> None:
    assert parse_rating(text) == rating


def test_parse_pair_winner_in_fastchats_order() -> None:
    assert parse_pair_winner("so [[B]]") == "B"
    assert parse_pair_winner("[[C]]") == "tie"
    assert parse_pair_winner("[[B]] or rather [[A]]") == "A"
    assert parse_pair_winner("A is better") is None


def test_parse_five_way_needs_one_verdict() -> None:
    assert parse_five_way("My final verdict is [[A>>B]]") == "A>>B"
    assert parse_five_way("[[B>A]] ... again [[B>A]]") == "B>A"
    assert parse_five_way("[[A>B]] no, [[B>A]]") is None
    assert parse_five_way("[[A]]") is None


def test_shipped_mt_bench_data() -> None:
    questions = load_questions()
    assert len(questions) == 80 and all(len(q.turns) == 2 for q in questions)
    categories = {q.category for q in questions}
    assert categories == {
        "writing",
        "roleplay",
        "extraction",
        "math",
        "coding",
        "reasoning",
        "stem",
        "humanities",
    }
    temperatures = {q.category: q.temperature for q in questions}
    assert temperatures == {
        "writing": 0.7,
        "roleplay": 0.7,
        "extraction": 0.0,
        "math": 0.0,
        "coding": 0.0,
        "reasoning": 0.0,
        "stem": 0.1,
        "humanities": 0.1,
    }
    references = load_reference_answers()
    assert all(q.question_id in references for q in questions if q.needs_reference)
    prompts = load_judge_prompts()
    math_question = next(q for q in questions if q.category == "math")
    request = single_request(prompts, math_question, ("A1", "A2"), references[math_question.question_id], 2)
    assert request.prompt_name == "single-math-v1-multi-turn"
    assert references[math_question.question_id][1] in request.user and "A2" in request.user


def test_question_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"question_id": 1, "category": "x", "turns": ["a"]}\n{"question_id": 2, "category": "x"}\n'
    )
    with pytest.raises(EvalInputError, match=r"q.jsonl:2: turns must be"):
        load_questions(path)
    path.write_text('{"question_id": 1, "category": "x", "turns": ["a"]}\nnot json\n')
    with pytest.raises(EvalInputError, match=r"q.jsonl:2: not a JSON object"):
        load_questions(path)
    path.write_text('{"question_id": 1, "category": "x", "turns": ["a"]}\n' * 2)
    with pytest.raises(EvalInputError, match="appears twice"):
        load_questions(path)


def test_select_questions_by_id_and_limit() -> None:
    questions = load_questions()
    assert [q.question_id for q in select_questions(questions, ["82", "81"])] == [81, 82]
    assert len(select_questions(questions, None, 3)) == 3
    with pytest.raises(EvalInputError, match="no question with id 7"):
        select_questions(questions, ["7"])


def test_journal_cuts_a_torn_last_line_and_appends_after_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "a" / "answers.jsonl")
    journal.append({"question_id": 1})
    journal.append({"question_id": 2})
    with open(journal.path, "ab") as handle:  # what a kill in the middle of a write leaves
        handle.write(b'{"question_id": 3, "cho')
    assert journal.read() == [{"question_id": 1}, {"question_id": 2}]
    assert journal.path.read_bytes().endswith(b"}\n")
    journal.append({"question_id": 3})
    assert [r["question_id"] for r in journal.read()] == [1, 2, 3]


def test_write_atomically_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    write_atomically(target, orjson.dumps({"v": 1}))
    write_atomically(target, orjson.dumps({"v": 2}))
    assert orjson.loads(target.read_bytes()) == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left behind


def test_model_names_become_safe_file_names() -> None:
    assert file_stem("openai/gpt-4o") == "openai_gpt-4o"
    assert file_stem("../etc") == "_.._etc"
    with pytest.raises(EvalInputError, match="would share the file"):
        check_distinct_stems(["a/b", "a_b"])

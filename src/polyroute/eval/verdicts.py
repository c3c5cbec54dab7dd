"""Judge prompts and the verdicts read back from the judge's text, as MT-Bench defines them.

Single-answer grading asks for `[[rating]]` (1 to 10; FastChat also takes `[rating]` when the
double brackets are missing). Pairwise grading asks for `[[A]]`, `[[B]]` or `[[C]]` (a tie);
the Arena-Hard method asks for one of five labels, `[[A>>B]]` to `[[B>>A]]`. A text with no
verdict, or with two different ones, reads as None: the caller asks again, then records an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from polyroute.eval.questions import JudgePrompt, Question

RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
RATING_FALLBACK = re.compile(r"\[(\d+\.?\d*)\]")
FIVE_WAY = re.compile(r"\[\[(A>>B|A>B|A=B|B>A|B>>A)\]\]")
FIVE_WAY_LABELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")

# Which of the shipped prompts grades which kind of match: (needs a reference, second turn).
SINGLE_PROMPTS = {
    (False, False): "single-v1",
    (True, False): "single-math-v1",
    (False, True): "single-v1-multi-turn",
    (True, True): "single-math-v1-multi-turn",
}
PAIR_PROMPTS = {
    (False, False): "pair-v2",
    (True, False): "pair-math-v1",
    (False, True): "pair-v2-multi-turn",
    (True, True): "pair-math-v1-multi-turn",
}


@dataclass(frozen=True)
class JudgeRequest:
    """What is sent to the judge for one game, and the prompt's name for the record."""

    prompt_name: str
    system: str
    user: str

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


def parse_rating(judgment: str) -> float | None:
    """The `[[rating]]` (else `[rating]`) of a single-answer verdict, if it is on the 1-10 scale."""
    match = RATING.search(judgment) or RATING_FALLBACK.search(judgment)
    if match is None:
        return None
    rating = float(match.group(1))
    return rating if 1.0 <= rating <= 10.0 else None


def parse_pair_winner(judgment: str) -> str | None:
    """ "A", "B" or "tie" from a pairwise verdict, checked in FastChat's order ([[A]] first)."""
    for mark, winner in (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")):
        if mark in judgment:
            return winner
    return None


def parse_five_way(judgment: str) -> str | None:
    """One of the five labels when the text gives exactly one (repeated is fine)."""
    found = set(FIVE_WAY.findall(judgment))
    return found.pop() if len(found) == 1 else None


def _turn_kwargs(question: Question, reference: tuple[str, ...] | None, multi_turn: bool) -> dict[str, str]:
    values: dict[str, str] = {}
    if multi_turn:
        values["question_1"], values["question_2"] = question.turns[0], question.turns[1]
    else:
        values["question"] = question.turns[0]
    if reference is not None:
        values["ref_answer_1"] = reference[0]
        if multi_turn:
            values["ref_answer_2"] = reference[1] if len(reference) > 1 else ""
    return values


def single_request(
    prompts: dict[str, JudgePrompt],
    question: Question,
    answer: tuple[str, ...],
    reference: tuple[str, ...] | None,
    turn: int,
) -> JudgeRequest:
    """The single-answer grading prompt for `turn` (1 or 2) of one model's answer."""
    multi_turn = turn == 2
    prompt = prompts[SINGLE_PROMPTS[(reference is not None, multi_turn)]]
    values = _turn_kwargs(question, reference, multi_turn)
    if multi_turn:
        values["answer_1"], values["answer_2"] = answer[0], answer[1]
    else:
        values["answer"] = answer[0]
    # The template is the shipped prompt file; the question and answers are only values.
    return JudgeRequest(prompt.name, prompt.system_prompt, prompt.prompt_template.format(**values))


def pair_request(
    prompts: dict[str, JudgePrompt],
    question: Question,
    answer_a: tuple[str, ...],
    answer_b: tuple[str, ...],
    reference: tuple[str, ...] | None,
    turn: int,
) -> JudgeRequest:
    """The pairwise prompt with `answer_a` shown as assistant A."""
    multi_turn = turn == 2
    prompt = prompts[PAIR_PROMPTS[(reference is not None, multi_turn)]]
    values = _turn_kwargs(question, reference, multi_turn)
    if multi_turn:
        values.update(
            answer_a_1=answer_a[0], answer_a_2=answer_a[1], answer_b_1=answer_b[0], answer_b_2=answer_b[1]
        )
    else:
        values.update(answer_a=answer_a[0], answer_b=answer_b[0])
    return JudgeRequest(prompt.name, prompt.system_prompt, prompt.prompt_template.format(**values))


# polyroute's own wording of the Arena-Hard judging instructions (its method, not its text).
ARENA_SYSTEM = (
    "You are an impartial judge comparing two AI assistants' answers to the same user prompt. "
    "First write your own answer to the prompt, so you have something to compare with. Then "
    "assess both answers against yours: point out mistakes and inaccurate information, and judge "
    "whether each answer is helpful (it does what was asked; where the prompt is ambiguous it asks "
    "for clarification rather than assuming), relevant, and concise, and what important "
    "information it leaves out. Judge only quality: the order of the answers, their length and "
    "the assistants' names must not sway you. End with exactly one verdict label:\n"
    "[[A>>B]]: assistant A is significantly better\n"
    "[[A>B]]: assistant A is slightly better\n"
    "[[A=B]]: a tie, relatively the same\n"
    "[[B>A]]: assistant B is slightly better\n"
    "[[B>>A]]: assistant B is significantly better\n"
    'For example: "My final verdict is [[A=B]]".'
)


def _conversation(question: Question, answer: tuple[str, ...], name: str) -> str:
    parts = []
    for user, reply in zip(question.turns, answer, strict=False):
        parts.append(f"### User:\n{user}\n\n### Assistant {name}:\n{reply}")
    return "\n\n".join(parts)


def arena_request(question: Question, answer_a: tuple[str, ...], answer_b: tuple[str, ...]) -> JudgeRequest:
    """A five-way comparison of two whole conversations (every turn of the question)."""
    user = (
        f"<|Conversation with Assistant A|>\n{_conversation(question, answer_a, 'A')}\n<|End of A|>\n\n"
        f"<|Conversation with Assistant B|>\n{_conversation(question, answer_b, 'B')}\n<|End of B|>"
    )
    return JudgeRequest("arena-hard-polyroute-v1", ARENA_SYSTEM, user)

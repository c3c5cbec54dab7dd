"""One evaluation run: answers from every model, then the judge's verdicts, each written the
moment it arrives, so an interrupted run continues where it stopped.

What is already in the files is never asked for again: the run reads the answer and judgment
files first and schedules only what is missing. A question whose request fails (a 429 after
the SDK's retries, a refused key, a verdict the judge would not give in a readable form after
`judge_retries` more tries) is written to errors.jsonl and reported; the others go on, and the
next run tries the failed ones again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from polyroute.eval import verdicts
from polyroute.eval.client import GatewayClient, RequestFailed, Usage
from polyroute.eval.journal import Journal
from polyroute.eval.layout import RunLayout, check_distinct_stems
from polyroute.eval.progress import PhaseProgress
from polyroute.eval.questions import EvalInputError, JudgePrompt, Question

MODES = ("single", "pairwise-baseline", "pairwise-all", "arena-hard")


@dataclass(frozen=True)
class EvalOptions:
    models: list[str]
    judge: str
    mode: str
    out: Path
    baseline: str | None = None
    parallel: int = 8
    num_choices: int = 1
    max_tokens: int = 1024
    judge_max_tokens: int = 2048
    judge_retries: int = 2
    style_control: bool = False
    bootstrap_rounds: int = 1000

    def check(self) -> None:
        if self.mode not in MODES:
            raise EvalInputError(f"--mode must be one of {', '.join(MODES)}")
        if not self.models:
            raise EvalInputError("--models names no model")
        if len(set(self.models)) != len(self.models):
            raise EvalInputError("--models names a model twice")
        if self.mode in ("pairwise-baseline", "arena-hard") and not self.baseline:
            raise EvalInputError(f"--baseline is required with --mode {self.mode}")
        if self.mode == "pairwise-all" and len(self.models) < 2:
            raise EvalInputError("--mode pairwise-all needs at least two --models")
        for name, value in (
            ("--parallel", self.parallel),
            ("--num-choices", self.num_choices),
            ("--max-tokens", self.max_tokens),
        ):
            if value < 1:
                raise EvalInputError(f"{name} must be at least 1")
        check_distinct_stems(self.answering_models)

    @property
    def answering_models(self) -> list[str]:
        """Every model that must answer: the evaluated ones and the baseline."""
        if self.baseline and self.mode in ("pairwise-baseline", "arena-hard"):
            return [*self.models, *([] if self.baseline in self.models else [self.baseline])]
        return list(self.models)

    @property
    def judgment_kind(self) -> str:
        return {"single": "single", "arena-hard": "arena_hard"}.get(self.mode, "pair")


class VerdictUnreadable(Exception):
    def __init__(self, judgment: str) -> None:
        super().__init__("the judge's answer holds no readable verdict")
        self.judgment = judgment


@dataclass
class RunState:
    """What this invocation did: requests' usage by phase, errors, and how many items were new."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    answer_usage: Usage = field(default_factory=Usage)
    judge_usage: Usage = field(default_factory=Usage)
    errors: list[dict[str, Any]] = field(default_factory=list)
    new_answers: int = 0
    new_judgments: int = 0


class EvalRun:
    def __init__(
        self,
        options: EvalOptions,
        client: GatewayClient,
        questions: list[Question],
        references: dict[Any, tuple[str, ...]],
        prompts: dict[str, JudgePrompt],
        progress: PhaseProgress,
        clock: Callable[[], float] = time.time,
    ) -> None:
        options.check()
        self.options = options
        self.client = client
        self.questions = questions
        self.references = references
        self.prompts = prompts
        self.progress = progress
        self.clock = clock
        self.layout = RunLayout(options.out, options.judge)
        self.state = RunState()
        self.errors = Journal(self.layout.errors)
        self.answers: dict[str, dict[Any, dict[str, Any]]] = {}
        self.judgments = Journal(self.layout.judgments(options.judgment_kind))
        self.judged: dict[tuple[Any, ...], dict[str, Any]] = {}

    # -- the run -------------------------------------------------------------------------------
    async def execute(self) -> RunState:
        await self._answer_phase()
        await self._judge_phase()
        return self.state

    async def _run_all(self, phase: str, jobs: list[Callable[[], Awaitable[None]]]) -> None:
        limit = asyncio.Semaphore(self.options.parallel)
        with self.progress.phase(phase, len(jobs)) as advance:

            async def one(job: Callable[[], Awaitable[None]]) -> None:
                async with limit:
                    await job()
                advance()

            await asyncio.gather(*(one(job) for job in jobs))

    async def _record_error(
        self, phase: str, error: str, usage: Usage, status: int | None = None, **where: Any
    ) -> None:
        """Notes a failed item, with what its requests cost (they count in the run's spend)."""
        entry = {
            "run_id": self.state.run_id,
            "phase": phase,
            **({"judge": self.options.judge, "mode": self.options.mode} if phase == "judgments" else {}),
            **where,
            "status": status,
            "error": error,
            "tstamp": self.clock(),
            "polyroute_usage": usage.as_dict(),
        }
        self.state.errors.append(entry)
        await asyncio.to_thread(self.errors.append, entry)

    # -- answers -------------------------------------------------------------------------------
    async def _answer_phase(self) -> None:
        jobs = []
        for model in self.options.answering_models:
            journal = Journal(self.layout.answers(model))
            known = {r["question_id"]: r for r in await asyncio.to_thread(journal.read)}
            self.answers[model] = known
            for question in self.questions:
                if question.question_id not in known:
                    jobs.append(lambda m=model, q=question, j=journal: self._answer(m, q, j))
        await self._run_all("answers", jobs)

    async def _answer(self, model: str, question: Question, journal: Journal) -> None:
        usage = Usage()
        choices = []
        try:
            for index in range(self.options.num_choices):
                messages: list[dict[str, str]] = []
                turns = []
                for text in question.turns:
                    messages.append({"role": "user", "content": text})
                    completion = await self.client.chat(
                        model, messages, temperature=question.temperature, max_tokens=self.options.max_tokens
                    )
                    usage.add(completion.usage)
                    turns.append(completion.texts[0])
                    messages.append({"role": "assistant", "content": completion.texts[0]})
                choices.append({"index": index, "turns": turns})
        except RequestFailed as failed:
            self.state.answer_usage.add(usage)
            await self._record_error(
                "answers", failed.message, usage, failed.status, model=model, question_id=question.question_id
            )
            return
        record = {
            "question_id": question.question_id,
            "answer_id": uuid.uuid4().hex,
            "model_id": model,
            "choices": choices,
            "tstamp": self.clock(),
            "polyroute_usage": usage.as_dict(),
        }
        await asyncio.to_thread(journal.append, record)
        self.answers[model][question.question_id] = record
        self.state.answer_usage.add(usage)
        self.state.new_answers += 1

    # -- verdicts ------------------------------------------------------------------------------
    async def _ask_judge(
        self, request: verdicts.JudgeRequest, parse: Callable[[str], Any], usage: Usage
    ) -> tuple[Any, str]:
        """The parsed verdict and the judge's text; unreadable ones are asked again."""
        text = ""
        for _ in range(1 + self.options.judge_retries):
            completion = await self.client.chat(
                self.options.judge,
                request.messages(),
                temperature=0.0,
                max_tokens=self.options.judge_max_tokens,
            )
            usage.add(completion.usage)
            text = completion.texts[0]
            value = parse(text)
            if value is not None:
                return value, text
        raise VerdictUnreadable(text)

    async def _judge_phase(self) -> None:
        for record in await asyncio.to_thread(self.judgments.read):
            self.judged[judgment_key(self.options.judgment_kind, record)] = record
        jobs = []
        for key, make in self._matches():
            if key not in self.judged:
                jobs.append(make)
        await self._run_all("judgments", jobs)

    def _answer_turns(self, model: str, question: Question) -> tuple[str, ...] | None:
        record = self.answers.get(model, {}).get(question.question_id)
        return tuple(record["choices"][0]["turns"]) if record else None

    def _reference(self, question: Question) -> tuple[str, ...] | None:
        return self.references.get(question.question_id) if question.needs_reference else None

    def _turns(self, question: Question) -> tuple[int, ...]:
        return (1, 2) if len(question.turns) >= 2 else (1,)

    def _pairs(self) -> list[tuple[str, str]]:
        models = self.options.models
        if self.options.mode == "pairwise-all":
            return [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]]
        return [(m, self.options.baseline or "") for m in models if m != self.options.baseline]

    def _matches(self) -> list[tuple[tuple[Any, ...], Callable[[], Awaitable[None]]]]:
        matches: list[tuple[tuple[Any, ...], Callable[[], Awaitable[None]]]] = []
        for question in self.questions:
            qid = question.question_id
            if self.options.mode == "single":
                for model in self.options.models:
                    for turn in self._turns(question):
                        matches.append(
                            ((qid, model, turn), lambda m=model, q=question, t=turn: self._single(m, q, t))
                        )
            elif self.options.mode == "arena-hard":
                for model, baseline in self._pairs():
                    matches.append(((qid, model, baseline), lambda m=model, q=question: self._arena(m, q)))
            else:
                for one, two in self._pairs():
                    for turn in self._turns(question):
                        matches.append(
                            (
                                (qid, one, two, turn),
                                lambda a=one, b=two, q=question, t=turn: self._pair(a, b, q, t),
                            )
                        )
        return matches

    async def _judge(self, where: dict[str, Any], play: Callable[[Usage], Awaitable[dict[str, Any]]]) -> None:
        """Plays one match and appends its record, or records why it could not be judged."""
        usage = Usage()
        try:
            record = await play(usage)
        except RequestFailed as failed:
            await self._record_error("judgments", failed.message, usage, failed.status, **where)
        except VerdictUnreadable as unreadable:
            await self._record_error(
                "judgments",
                f"no readable verdict after {1 + self.options.judge_retries} tries: "
                f"{unreadable.judgment[:200]!r}",
                usage,
                **where,
            )
        else:
            record["polyroute_usage"] = usage.as_dict()
            record["tstamp"] = self.clock()
            await asyncio.to_thread(self.judgments.append, record)
            self.judged[judgment_key(self.options.judgment_kind, record)] = record
            self.state.new_judgments += 1
        finally:
            self.state.judge_usage.add(usage)

    async def _single(self, model: str, question: Question, turn: int) -> None:
        answer = self._answer_turns(model, question)
        if answer is None:
            return  # its answer failed: already reported
        request = verdicts.single_request(self.prompts, question, answer, self._reference(question), turn)

        async def play(usage: Usage) -> dict[str, Any]:
            score, text = await self._ask_judge(request, verdicts.parse_rating, usage)
            return {
                "question_id": question.question_id,
                "model": model,
                "judge": [self.options.judge, request.prompt_name],
                "user_prompt": request.user,
                "judgment": text,
                "score": score,
                "turn": turn,
            }

        await self._judge({"model": model, "question_id": question.question_id, "turn": turn}, play)

    async def _pair(self, model_1: str, model_2: str, question: Question, turn: int) -> None:
        answer_1, answer_2 = self._answer_turns(model_1, question), self._answer_turns(model_2, question)
        if answer_1 is None or answer_2 is None:
            return
        reference = self._reference(question)
        game_1 = verdicts.pair_request(self.prompts, question, answer_1, answer_2, reference, turn)
        game_2 = verdicts.pair_request(self.prompts, question, answer_2, answer_1, reference, turn)

        async def play(usage: Usage) -> dict[str, Any]:
            g1, g1_text = await self._ask_judge(game_1, verdicts.parse_pair_winner, usage)
            g2, g2_text = await self._ask_judge(game_2, verdicts.parse_pair_winner, usage)
            # Game 2 shows model_2 as assistant A: map both back to model names' slots.
            g1_winner = {"A": "model_1", "B": "model_2"}.get(g1, g1)
            g2_winner = {"A": "model_2", "B": "model_1"}.get(g2, g2)
            return {
                "question_id": question.question_id,
                "model_1": model_1,
                "model_2": model_2,
                "g1_winner": g1_winner,
                "g2_winner": g2_winner,
                "judge": [self.options.judge, game_1.prompt_name],
                "g1_user_prompt": game_1.user,
                "g1_judgment": g1_text,
                "g2_user_prompt": game_2.user,
                "g2_judgment": g2_text,
                "turn": turn,
            }

        where = {"model_1": model_1, "model_2": model_2, "question_id": question.question_id, "turn": turn}
        await self._judge(where, play)

    async def _arena(self, model: str, question: Question) -> None:
        baseline = self.options.baseline or ""
        answer, base = self._answer_turns(model, question), self._answer_turns(baseline, question)
        if answer is None or base is None:
            return
        games = (
            verdicts.arena_request(question, base, answer),
            verdicts.arena_request(question, answer, base),
        )

        async def play(usage: Usage) -> dict[str, Any]:
            played = []
            for game in games:
                label, text = await self._ask_judge(game, verdicts.parse_five_way, usage)
                played.append({"user_prompt": game.user, "judgment": text, "score": label})
            return {
                "question_id": question.question_id,
                "model": model,
                "baseline": baseline,
                "judge": [self.options.judge, games[0].prompt_name],
                "games": played,
            }

        await self._judge({"model": model, "baseline": baseline, "question_id": question.question_id}, play)


def judgment_key(kind: str, record: dict[str, Any]) -> tuple[Any, ...]:
    """The identity of a judgment record: what a resumed run must not ask for again."""
    if kind == "single":
        return record["question_id"], record["model"], record["turn"]
    if kind == "arena_hard":
        return record["question_id"], record["model"], record["baseline"]
    return record["question_id"], record["model_1"], record["model_2"], record["turn"]


def utc_now() -> datetime:
    return datetime.now(UTC)

"""Which guardrails run for a request, and running them: the hooks a model route calls.

    guards = await pre_call(request, state, body)   # before routing; may mask body["messages"]
    ...inside the attempt:
        await guards.check_answer(answer)           # non-streamed answer, before it is sent
        relay.guard = guards.stream_guard()         # streams: StreamRelay calls it per batch
    await run_guarded(guards, router.execute(...))  # a withheld answer becomes the client's error

Selection: every `default_on` guardrail, the ones the caller's key, team or user names in its
metadata (`guardrails: [...]`), and the ones the request names (`guardrails: [...]`), which only
the master key or a key whose metadata says `allow_request_guardrails: true` may do. A request
can add guardrails, never remove one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from polyroute.errors import GatewayError, InvalidRequestError, PermissionDeniedError, ServiceUnavailableError
from polyroute.guardrails import content
from polyroute.guardrails.base import (
    ALLOW,
    Guardrail,
    GuardrailFailure,
    Mode,
    Verdict,
    Withheld,
    blocked_error,
)
from polyroute.observability.metrics import METRICS

log = logging.getLogger("polyroute.guardrails")
MAX_REQUEST_GUARDRAILS = 32
MAX_DECISIONS = 64  # kept per request for the spend row (a long stream checks many times)
T = TypeVar("T")


class GuardrailSet:
    """The configured guardrails (config order), shared by every request."""

    def __init__(self, guardrails: dict[str, Guardrail] | None = None) -> None:
        self.by_name = dict(guardrails or {})
        self.default_on = [g for g in self.by_name.values() if g.default_on]

    def __bool__(self) -> bool:
        return bool(self.by_name)

    def select(self, principal: Any, body: dict[str, Any]) -> list[Guardrail]:
        """The guardrails this request runs, in config order (400/403 for a bad request field)."""
        names = {g.name for g in self.default_on}
        key = getattr(principal, "key", None)
        for name in getattr(key, "guardrails", ()) or ():
            if name not in self.by_name:
                # Fail closed: the operator meant this key to be checked by it.
                raise InvalidRequestError(
                    f"guardrail '{name}' named by this key's settings is not configured on this gateway",
                    code="guardrail_not_configured",
                )
            names.add(name)
        asked = body.get("guardrails")
        if asked is not None:
            names.update(self._requested(asked, principal))
        return [g for g in self.by_name.values() if g.name in names]

    def _requested(self, asked: Any, principal: Any) -> list[str]:
        if not isinstance(asked, list) or len(asked) > MAX_REQUEST_GUARDRAILS:
            raise InvalidRequestError(
                f"Invalid value for 'guardrails': expected a list of at most {MAX_REQUEST_GUARDRAILS} "
                "guardrail names",
                param="guardrails",
            )
        if not asked:
            return []
        key = getattr(principal, "key", None)
        if key is not None and not getattr(key, "request_guardrails", False):
            raise PermissionDeniedError(
                "this key may not choose guardrails per request (the key's metadata "
                "allow_request_guardrails: true allows it)",
                param="guardrails",
                code="guardrails_not_allowed",
            )
        for i, name in enumerate(asked):
            if not isinstance(name, str) or name not in self.by_name:
                shown = name if isinstance(name, str) and len(name) <= 100 else "?"
                raise InvalidRequestError(
                    f"Invalid value for 'guardrails[{i}]': no guardrail named '{shown}' is configured",
                    param=f"guardrails[{i}]",
                    code="unknown_guardrail",
                )
        return asked


class RequestGuards:
    """One request's guardrails and their decisions (for the metric and the spend row)."""

    def __init__(self, chosen: list[Guardrail], http: Any, account: Any = None) -> None:
        self.http = http
        self.by_mode: dict[Mode, list[Guardrail]] = {
            mode: [g for g in chosen if mode in g.modes] for mode in ("pre_call", "during_call", "post_call")
        }
        self.decisions: list[dict[str, Any]] = []
        self.account = account
        if account is not None and hasattr(account, "guardrail_decisions"):
            account.guardrail_decisions = self.decisions
        self._during: asyncio.Future[None] | None = None
        self.masked = False  # a pre_call guardrail changed the prompt (the pipeline's native path
        # sends the client's own body: server/pipeline.py decides with this)

    # -- recording ------------------------------------------------------------------------------
    def _record(
        self, guardrail: Guardrail, mode: Mode, decision: str, verdict: Verdict | None = None
    ) -> None:
        METRICS.guardrail_decisions.inc((guardrail.name, decision))
        entry: dict[str, Any] = {"guardrail": guardrail.name, "mode": mode, "decision": decision}
        if verdict is not None and verdict.category:
            entry["category"] = verdict.category
        if verdict is not None and verdict.detail:
            entry.update(verdict.detail)
        if len(self.decisions) < MAX_DECISIONS:
            self.decisions.append(entry)
        elif len(self.decisions) == MAX_DECISIONS:
            self.decisions.append({"more": 1})
        else:
            self.decisions[-1]["more"] += 1
        if decision == "block" and len(self.decisions) > MAX_DECISIONS:
            self.decisions[MAX_DECISIONS - 1] = entry  # the verdict that mattered is always kept

    async def _run(
        self, guardrail: Guardrail, mode: Mode, check: Callable[[], Awaitable[Verdict]], output: bool
    ) -> Verdict:
        """One check within its timeout; a failure allows (fail_open) or refuses with a 503."""
        try:
            async with asyncio.timeout(guardrail.timeout_s):
                verdict = await check()
        except (TimeoutError, GuardrailFailure) as exc:
            reason = (
                f"timed out after {guardrail.timeout_s:g}s" if isinstance(exc, TimeoutError) else str(exc)
            )
            log.warning(
                "guardrail failed: guardrail=%s mode=%s reason=%s fail_open=%s",
                guardrail.name,
                mode,
                reason,
                guardrail.fail_open,
            )
            if guardrail.fail_open:
                self._record(guardrail, mode, "fail_open")
                return ALLOW
            self._record(guardrail, mode, "fail_closed")
            what = "response" if output else "request"
            raise ServiceUnavailableError(
                f"guardrail '{guardrail.name}' could not check the {what} ({reason}); "
                f"the {what} was {'withheld' if output else 'not sent'}",
                code="guardrail_unavailable",
            ) from None
        if verdict.action == "mask" and mode != "pre_call":
            verdict = Verdict("block", verdict.category or "mask_required")  # it already left
        if verdict.action == "block":
            self._record(guardrail, mode, "block", verdict)
            log.info(
                "guardrail blocked: guardrail=%s mode=%s category=%s", guardrail.name, mode, verdict.category
            )
            raise blocked_error(guardrail.name, verdict.category, output)
        self._record(guardrail, mode, verdict.action, verdict)
        return verdict

    # -- input ------------------------------------------------------------------------------------
    async def _check_input(self, mode: Mode, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        guardrails = self.by_mode[mode]
        # Maskers run one after another (each sees the last one's text); the rest together, on
        # the masked messages.
        for guardrail in (g for g in guardrails if g.masks):
            verdict = await self._run(
                guardrail, mode, lambda g=guardrail, m=messages: g.check_input(m, self.http), output=False
            )
            if verdict.action == "mask" and verdict.messages is not None:
                messages = verdict.messages
        checkers = [g for g in guardrails if not g.masks]
        if checkers:
            await run_together(
                self._run(g, mode, lambda g=g: g.check_input(messages, self.http), output=False)
                for g in checkers
            )
        return messages

    async def pre_call(self, body: dict[str, Any]) -> None:
        """Runs pre_call guardrails; a masked prompt replaces body["messages"] (or a legacy
        completion's body["prompt"]). Raises the 400 (or the 503 of a failed check)."""
        if self.by_mode["pre_call"]:
            messages = input_messages(body)
            checked = await self._check_input("pre_call", messages)
            if checked is not messages:
                apply_masked(body, checked)
                self.masked = True

    def start_during_call(self, body: dict[str, Any]) -> None:
        """Starts during_call guardrails beside the model call; `gate` waits for them."""
        if self.by_mode["during_call"]:
            self._during = asyncio.ensure_future(self._check_input("during_call", input_messages(body)))

    async def gate(self) -> None:
        """Holds an answer until the during_call checks passed (Withheld when they did not)."""
        if self._during is None:
            return
        try:
            await asyncio.shield(self._during)
        except GatewayError as error:
            raise Withheld(error) from None

    def close(self) -> None:
        during = self._during
        if during is None:
            return
        if not during.done():
            during.cancel()
        elif not during.cancelled():
            during.exception()  # read, so an unawaited block is not reported as never retrieved

    # -- output -----------------------------------------------------------------------------------
    @property
    def checks_output(self) -> bool:
        return bool(self.by_mode["post_call"])

    async def check_text(self, text: str, guardrails: list[Guardrail] | None = None) -> None:
        try:
            await run_together(
                self._run(g, "post_call", lambda g=g: g.check_output(text, self.http), output=True)
                for g in (guardrails if guardrails is not None else self.by_mode["post_call"])
            )
        except GatewayError as error:
            raise Withheld(error) from None

    async def check_answer(self, answer: dict[str, Any], deployment: Any = None) -> None:
        """Before a whole answer leaves: during_call gate, then post_call on its text. A withheld
        answer is still billed to the request's account (the provider produced it)."""
        try:
            await self.gate()
            if self.checks_output:
                await self.check_text(content.answer_text(answer))
        except Withheld:
            if self.account is not None and deployment is not None:
                self.account.answered(deployment, answer.get("usage"), answer)
            raise

    def stream_guard(self) -> Any:
        from polyroute.guardrails.stream import StreamGuard

        if self._during is None and not self.checks_output:
            return None
        return StreamGuard(self)


def input_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What input guardrails read: the chat messages, or a legacy prompt as user messages."""
    messages = body.get("messages")
    if isinstance(messages, list):
        return messages
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if isinstance(prompts, list) and all(isinstance(p, str) for p in prompts):
        return [{"role": "user", "content": p} for p in prompts]
    # Token ids (or anything else) cannot be read: refused rather than let through unchecked.
    raise InvalidRequestError(
        "this gateway checks prompts with guardrails, which read text only: send the prompt as text",
        param="prompt" if "prompt" in body else "messages",
        code="guardrails_need_text",
    )


def apply_masked(body: dict[str, Any], checked: list[dict[str, Any]]) -> None:
    if "messages" in body:
        body["messages"] = checked
        return
    texts = [m.get("content") for m in checked]
    if not all(isinstance(t, str) for t in texts) or len(texts) != (
        1 if isinstance(body["prompt"], str) else len(body["prompt"])
    ):
        raise ServiceUnavailableError(
            "a guardrail masked the prompt into a shape a completion cannot take",
            code="guardrail_unavailable",
        )
    body["prompt"] = texts[0] if isinstance(body["prompt"], str) else texts


async def run_together(checks: Any) -> None:
    """Runs checks together; the first failure cancels the others and is raised."""
    tasks = [asyncio.ensure_future(c) for c in checks]
    if not tasks:
        return
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()


# -- the hooks a route calls --------------------------------------------------------------------
async def pre_call(request: Any, state: Any, body: dict[str, Any]) -> RequestGuards | None:
    """Chooses the request's guardrails and runs its pre_call ones (raising the client's 400 or
    503 before any provider is called), then starts the during_call ones. None when none apply."""
    guardrails: GuardrailSet | None = getattr(state, "guardrails", None)
    if not guardrails:
        if body.get("guardrails"):
            raise InvalidRequestError(
                "Invalid value for 'guardrails': no guardrails are configured on this gateway",
                param="guardrails",
                code="unknown_guardrail",
            )
        return None
    chosen = guardrails.select(request.principal, body)
    if not chosen:
        return None
    guards = RequestGuards(chosen, state.http, request.account)
    await guards.pre_call(body)
    guards.start_during_call(body)
    return guards


async def run_guarded(guards: RequestGuards | None, work: Awaitable[T]) -> T:
    """Awaits the routed work; an answer a guardrail withheld becomes the client's error. A
    during_call check that blocks (or fails closed) before the model has answered cancels the
    model call at once: nothing of it could be sent, so nothing more of it is paid for."""
    try:
        during = guards._during if guards is not None else None
        if during is None:
            return await work
        return await _race(during, asyncio.ensure_future(work))
    except Withheld as withheld:
        raise withheld.error from None
    finally:
        if guards is not None:
            guards.close()


async def _race(during: asyncio.Future[Any], work: asyncio.Future[T]) -> T:
    try:
        await asyncio.wait({during, work}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()  # the client left (or the server stops): the model call goes with us
        raise
    if not work.done() and not during.cancelled() and during.exception() is not None:
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work  # its cleanup (limits, in-flight counts) runs before the answer
        raise during.exception()  # type: ignore[misc]  # the block's 400 or the 503
    return await work

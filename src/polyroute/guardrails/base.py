"""What every guardrail is: a name, the modes it runs in, and checks that return a `Verdict`.

A guardrail looks at content and answers allow, block (with a category) or mask (with the
changed messages). It never raises for what it finds; it raises `GuardrailFailure` when it could
not decide (its service timed out, refused, or answered something unreadable), and the engine
then applies its `fail_open` setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from polyroute.errors import ContentPolicyViolationError, GatewayError

Mode = Literal["pre_call", "during_call", "post_call"]
MODES: tuple[Mode, ...] = ("pre_call", "during_call", "post_call")
Action = Literal["allow", "block", "mask"]
DEFAULT_TIMEOUT_S = 3.0  # FastChat's moderation request timeout


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action = "allow"
    category: str | None = None  # why it blocked: a category name, never the flagged text
    messages: list[dict[str, Any]] | None = None  # mask: the messages to send instead
    detail: dict[str, Any] = field(default_factory=dict)  # for the log and the spend row (no content)


ALLOW = Verdict()


class GuardrailFailure(Exception):
    """The guardrail could not decide (timeout, service error, unreadable answer)."""


class Withheld(Exception):  # noqa: N818  # not an error of the gateway's: a control-flow signal
    """Raised inside a model attempt when a guardrail blocks the answer (or fails closed).

    Deliberately not a GatewayError: the router must neither retry, fall back nor cool a
    deployment for it. `guardrails.engine.run_guarded` turns it into `error` for the client.
    """

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


def blocked_error(name: str, category: str | None, output: bool) -> ContentPolicyViolationError:
    """The client's 400: names the guardrail and category, never the flagged content."""
    what = "response" if output else "request"
    because = f" (category: {category})" if category else ""
    return ContentPolicyViolationError(
        f"The {what} was blocked by guardrail '{name}'{because}: it violates the content policy.",
        param="messages" if not output else None,
    )


class Guardrail:
    """Base of the built-in types. Subclasses set `kind` and override the checks they support."""

    kind: ClassVar[str] = ""
    #: whether `check_input` may answer "mask" (such guardrails run one after another)
    masks: ClassVar[bool] = False
    #: modes this type may be configured for
    allowed_modes: ClassVar[tuple[Mode, ...]] = MODES
    #: a check calls a remote service (streams check it every `stream_check_chars`, not per chunk)
    remote: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        modes: tuple[Mode, ...],
        default_on: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        fail_open: bool = False,
        stream_check_chars: int | None = None,
    ) -> None:
        self.name = name
        self.modes = modes
        self.default_on = default_on
        self.timeout_s = timeout_s
        self.fail_open = fail_open
        # Remote checks of a growing stream cost a call each: by default one per 400 new characters.
        self.stream_check_chars = (
            stream_check_chars if stream_check_chars is not None else (400 if self.remote else 0)
        )

    async def check_input(self, messages: list[dict[str, Any]], http: Any) -> Verdict:
        """The request's messages (OpenAI chat format)."""
        return ALLOW

    async def check_output(self, text: str, http: Any) -> Verdict:
        """The answer's text (for a stream: the text so far, or its recent window)."""
        return ALLOW

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, modes={self.modes!r})"

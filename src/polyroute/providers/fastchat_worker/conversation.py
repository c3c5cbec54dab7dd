"""FastChat conversation templates: OpenAI messages -> the prompt a FastChat worker generates from.

A FastChat worker publishes its template at /worker_get_conv_template as the fields of FastChat's
`Conversation` (name, system_template, system_message, roles, messages, offset, sep_style, sep,
sep2, stop_str, stop_token_ids). FastChat's API server fills it with the request's messages and
renders it with the rules of its `sep_style`; this module renders the same text from the same
fields, so a worker sees exactly the prompt FastChat's own API server would have sent.

`sep_style` travels as an integer. The released fschat (0.2.36, on PyPI) numbers 19 styles; its
git main inserted LLAMA3 at 8 and appended GEMMA, CLLM and DEFAULT, shifting the rest. A
template from git main carries fields 0.2.36 does not have (`system_message_vision`,
`max_image_size_mb`), which tells the numberings apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from polyroute.errors import InvalidRequestError, UpstreamError

RELEASED_STYLES = (
    "ADD_COLON_SINGLE",
    "ADD_COLON_TWO",
    "ADD_COLON_SPACE_SINGLE",
    "NO_COLON_SINGLE",
    "NO_COLON_TWO",
    "ADD_NEW_LINE_SINGLE",
    "LLAMA2",
    "CHATGLM",
    "CHATML",
    "CHATINTERN",
    "DOLLY",
    "RWKV",
    "PHOENIX",
    "ROBIN",
    "FALCON_CHAT",
    "CHATGLM3",
    "DEEPSEEK_CHAT",
    "METAMATH",
    "YUAN2",
)
MAIN_STYLES = (
    *RELEASED_STYLES[:7],
    "LLAMA3",
    *RELEASED_STYLES[7:],
    "GEMMA",
    "CLLM",
    "DEFAULT",
)
_MAIN_ONLY_FIELDS = ("system_message_vision", "max_image_size_mb")


@dataclass
class Conversation:
    name: str
    system_template: str
    system_message: str
    roles: tuple[str, str]
    style: str
    sep: str
    sep2: str | None
    stop_str: str | list[str] | None
    stop_token_ids: list[int] | None
    messages: list[tuple[str, str | None]] = field(default_factory=list)

    @classmethod
    def from_template(cls, data: Any) -> Conversation:
        """From /worker_get_conv_template's `conv` object; a malformed one is the worker's fault."""
        try:
            styles = MAIN_STYLES if any(k in data for k in _MAIN_ONLY_FIELDS) else RELEASED_STYLES
            number = int(data["sep_style"])
            if not 1 <= number <= len(styles):
                raise ValueError(f"unknown sep_style {number}")
            roles = data["roles"]
            conv = cls(
                name=str(data.get("name") or ""),
                system_template=str(_default(data.get("system_template"), "{system_message}")),
                system_message=str(data.get("system_message") or ""),
                roles=(str(roles[0]), str(roles[1])),
                style=styles[number - 1],
                sep=str(_default(data.get("sep"), "\n")),
                sep2=data.get("sep2"),
                stop_str=data.get("stop_str"),
                stop_token_ids=data.get("stop_token_ids"),
                messages=[(str(m[0]), m[1]) for m in data.get("messages") or ()],
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise UpstreamError(f"the worker's conversation template is malformed ({exc})") from None
        return conv

    # -- filling ---------------------------------------------------------------------------------
    def add_openai_messages(self, messages: list[dict[str, Any]]) -> None:
        """As FastChat's API server: system replaces the template's system message, user and
        assistant turns are appended, then an empty assistant turn to generate into."""
        for i, message in enumerate(messages):
            role = message.get("role")
            content = _text_of(message.get("content"), i)
            if role in ("system", "developer"):
                self.system_message = content
            elif role == "user":
                self.messages.append((self.roles[0], content))
            elif role == "assistant":
                if message.get("tool_calls") or message.get("function_call"):
                    raise InvalidRequestError(
                        "FastChat workers cannot take tool calls", param=f"messages[{i}].tool_calls"
                    )
                self.messages.append((self.roles[1], content))
            else:
                raise InvalidRequestError(
                    f"FastChat workers take system, user and assistant messages, not '{role}'",
                    param=f"messages[{i}].role",
                )
        self.messages.append((self.roles[1], None))

    # -- rendering -------------------------------------------------------------------------------
    def prompt(self) -> str:
        system = self.system_template.format(system_message=self.system_message)
        render = _RENDERERS.get(self.style)
        if render is None:
            raise UpstreamError(f"the worker's separator style {self.style} is not supported")
        return render(self, system)


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _text_of(content: Any, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text") or ""))
            else:
                raise InvalidRequestError(
                    "FastChat workers take text only", param=f"messages[{index}].content"
                )
        return "\n".join(texts)
    raise InvalidRequestError(
        "message content must be a string or a list of parts", param=f"messages[{index}].content"
    )


# One function per separator style, each the documented layout of that style.
def _add_colon_single(c: Conversation, system: str) -> str:
    out = system + c.sep
    for role, message in c.messages:
        out += f"{role}: {message}{c.sep}" if message else f"{role}:"
    return out


def _add_colon_two(c: Conversation, system: str) -> str:
    seps = (c.sep, c.sep2 or "")
    out = system + seps[0]
    for i, (role, message) in enumerate(c.messages):
        out += f"{role}: {message}{seps[i % 2]}" if message else f"{role}:"
    return out


def _add_colon_space_single(c: Conversation, system: str) -> str:
    out = system + c.sep
    for role, message in c.messages:
        out += f"{role}: {message}{c.sep}" if message else f"{role}: "
    return out


def _no_colon_single(c: Conversation, system: str) -> str:
    out = system
    for role, message in c.messages:
        out += f"{role}{message}{c.sep}" if message else role
    return out


def _no_colon_two(c: Conversation, system: str) -> str:
    seps = (c.sep, c.sep2 or "")
    out = system
    for i, (role, message) in enumerate(c.messages):
        out += f"{role}{message}{seps[i % 2]}" if message else role
    return out


def _add_new_line_single(c: Conversation, system: str) -> str:
    out = "" if system == "" else system + c.sep
    for role, message in c.messages:
        out += f"{role}\n{message}{c.sep}" if message else f"{role}\n"
    return out


def _llama2(c: Conversation, system: str) -> str:
    seps = (c.sep, c.sep2 or "")
    out = system if c.system_message else "[INST] "
    for i, (_, message) in enumerate(c.messages):
        tag = c.roles[i % 2]
        if message:
            out += message + " " if i == 0 else f"{tag} {message}{seps[i % 2]}"
        else:
            out += tag
    return out


def _llama3(c: Conversation, system: str) -> str:
    out = "<|begin_of_text|>" + (system if c.system_message else "")
    for role, message in c.messages:
        out += f"<|start_header_id|>{role}<|end_header_id|>\n\n"
        if message:
            out += f"{message.strip()}<|eot_id|>"
    return out


def _chatglm(c: Conversation, system: str) -> str:
    round_offset = 1 if c.name == "chatglm2" else 0
    out = system + c.sep if system else ""
    for i, (role, message) in enumerate(c.messages):
        if i % 2 == 0:
            out += f"[Round {i // 2 + round_offset}]{c.sep}"
        out += f"{role}：{message}{c.sep}" if message else f"{role}："
    return out


def _chatml(c: Conversation, system: str) -> str:
    out = "" if system == "" else system + c.sep + "\n"
    for role, message in c.messages:
        out += f"{role}\n{message}{c.sep}\n" if message else f"{role}\n"
    return out


def _chatglm3(c: Conversation, system: str) -> str:
    out = system if c.system_message else ""
    for role, message in c.messages:
        out += f"{role}\n{message}" if message else role
    return out


def _chatintern(c: Conversation, system: str) -> str:
    seps = (c.sep, c.sep2 or "")
    out = system
    for i, (role, message) in enumerate(c.messages):
        if i % 2 == 0:
            out += "<s>"
        out += f"{role}:{message}{seps[i % 2]}\n" if message else f"{role}:"
    return out


def _dolly(c: Conversation, system: str) -> str:
    seps = (c.sep, c.sep2 or "")
    out = system
    for i, (role, message) in enumerate(c.messages):
        if message:
            out += f"{role}:\n{message}{seps[i % 2]}" + ("\n\n" if i % 2 == 1 else "")
        else:
            out += f"{role}:\n"
    return out


def _rwkv(c: Conversation, system: str) -> str:
    out = system
    for role, message in c.messages:
        if message:
            out += f"{role}: " + message.replace("\r\n", "\n").replace("\n\n", "\n") + "\n\n"
        else:
            out += f"{role}:"
    return out


def _phoenix(c: Conversation, system: str) -> str:
    out = system
    for role, message in c.messages:
        out += f"{role}: <s>{message}</s>" if message else f"{role}: <s>"
    return out


def _robin(c: Conversation, system: str) -> str:
    out = system + c.sep
    for role, message in c.messages:
        out += f"{role}:\n{message}{c.sep}" if message else f"{role}:\n"
    return out


def _falcon_chat(c: Conversation, system: str) -> str:
    out = system + c.sep if c.system_message else ""
    for role, message in c.messages:
        out += f"{role}: {message}{c.sep}" if message else f"{role}:"
    return out


def _metamath(c: Conversation, system: str) -> str:
    out = "" if system == "" else system + c.sep
    for i, (role, message) in enumerate(c.messages):
        starting = ":\n" if i % 2 == 0 else ": " + (c.sep2 or "")
        ending = c.sep if i % 2 == 0 else ""
        out += f"{role}{starting}{message}{ending}" if message else f"{role}{starting}"
    return out


def _deepseek_chat(c: Conversation, system: str) -> str:
    seps = (c.sep, c.sep2 or "")
    out = system
    for i, (role, message) in enumerate(c.messages):
        out += f"{role}: {message}{seps[i % 2]}" if message else f"{role}:"
    return out


def _yuan2(c: Conversation, system: str) -> str:
    seps = (c.sep, c.sep2 or "")
    out = system + seps[1] if c.system_message else ""
    for _, message in c.messages:
        if message:
            out += message + "<n>"
    # FastChat strips trailing characters of the set "<n>" (str.rstrip), not the suffix.
    return out.rstrip("<n>") + seps[0]


def _gemma(c: Conversation, system: str) -> str:
    out = "<bos>"
    for role, message in c.messages:
        out += f"<start_of_turn>{role}\n{message}{c.sep}" if message else f"<start_of_turn>{role}\n"
    return out


def _cllm(c: Conversation, system: str) -> str:
    seps = (c.sep, c.sep2 or "")
    out = system + seps[0]
    for i, (role, message) in enumerate(c.messages[-2:]):
        out += f"{role}: {message}{seps[i % 2]}" if message else f"{role}:"
    return out


def _default_style(c: Conversation, system: str) -> str:
    out = system + "\n"
    for role, message in c.messages:
        out += f"{role}: {message}\n" if message else f"{role}:"
    return out


_RENDERERS: dict[str, Callable[[Conversation, str], str]] = {
    "ADD_COLON_SINGLE": _add_colon_single,
    "ADD_COLON_TWO": _add_colon_two,
    "ADD_COLON_SPACE_SINGLE": _add_colon_space_single,
    "NO_COLON_SINGLE": _no_colon_single,
    "NO_COLON_TWO": _no_colon_two,
    "ADD_NEW_LINE_SINGLE": _add_new_line_single,
    "LLAMA2": _llama2,
    "LLAMA3": _llama3,
    "CHATGLM": _chatglm,
    "CHATML": _chatml,
    "CHATINTERN": _chatintern,
    "DOLLY": _dolly,
    "RWKV": _rwkv,
    "PHOENIX": _phoenix,
    "ROBIN": _robin,
    "FALCON_CHAT": _falcon_chat,
    "CHATGLM3": _chatglm3,
    "DEEPSEEK_CHAT": _deepseek_chat,
    "METAMATH": _metamath,
    "YUAN2": _yuan2,
    "GEMMA": _gemma,
    "CLLM": _cllm,
    "DEFAULT": _default_style,
}

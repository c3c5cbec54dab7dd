"""What a finished conversation tells the leaderboard: identity leaks, categories and answer style.

- `identity_leak(answer, models)`: the word in an answer that names a model, as FastChat's
  `clean_battle_data.py` finds it (a case-insensitive substring search for a fixed list of model
  and maker names), plus the battle's own model names and their families (`claude-3-haiku` ->
  `claude`), so a model of this deployment that says its name is caught too.
- `conversation_facts(prompts, answers_a, answers_b)`: turns, user text length, language and
  the per-side style counts the style-controlled view regresses on (answer length in characters,
  markdown headers, list items, bold spans: the features FastChat's style control uses).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

# FastChat's IDENTITY_WORDS (fastchat/serve/monitor/clean_battle_data.py, fschat 0.2.36): model and
# maker names. Its list also holds its own web server's error banners; polyroute's UI shows errors
# apart from answers, so those are left out.
FASTCHAT_IDENTITY_WORDS = (
    "vicuna", "lmsys", "koala", "uc berkeley", "open assistant", "laion", "chatglm", "chatgpt",
    "gpt-4", "openai", "anthropic", "claude", "bard", "palm", "lamda", "google", "llama", "qianwan",
    "alibaba", "mistral", "zhipu", "keg lab", "01.ai", "ai2", "tülu", "tulu",
)  # fmt: skip
# A family shorter than this would match ordinary words ("o1", "phi" in "philosophy" is already 3).
_MIN_FAMILY_CHARS = 3
# langdetect reads this much of the user's first message: enough to decide, bounded work.
_LANGUAGE_SAMPLE_CHARS = 2_000

_HEADER = re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def model_words(model: str) -> set[str]:
    """The model's name and its family: `openai/gpt-4o-mini` -> {"gpt-4o-mini", "gpt"}."""
    name = model.rsplit("/", 1)[-1].lower()
    words = {name} if len(name) >= _MIN_FAMILY_CHARS else set()
    family = re.match(r"[a-z]+", name)
    if family and len(family.group()) >= _MIN_FAMILY_CHARS:
        words.add(family.group())
    return words


def identity_leak(answer: str, models: Iterable[str]) -> str | None:
    """The first identity word found in `answer` (lower case), or None."""
    text = answer.lower()
    for word in FASTCHAT_IDENTITY_WORDS:
        if word in text:
            return word
    for model in models:
        for word in sorted(model_words(model), key=len, reverse=True):
            if word in text:
                return word
    return None


@dataclass(frozen=True)
class StyleCounts:
    """One side's answers, summed over the turns."""

    chars: int = 0
    headers: int = 0
    list_items: int = 0
    bold: int = 0

    @classmethod
    def of(cls, answers: Iterable[str]) -> StyleCounts:
        chars = headers = list_items = bold = 0
        for text in answers:
            chars += len(text)
            headers += len(_HEADER.findall(text))
            list_items += len(_LIST_ITEM.findall(text))
            bold += len(_BOLD.findall(text))
        return cls(chars, headers, list_items, bold)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


STYLE_FEATURES = tuple(StyleCounts.__dataclass_fields__)


@dataclass(frozen=True)
class ConversationFacts:
    turns: int
    user_chars: int
    language: str
    style: dict[str, dict[str, int]]  # {"a": StyleCounts.as_dict(), "b": ...}


def conversation_facts(
    prompts: Sequence[str], answers_a: Sequence[str], answers_b: Sequence[str]
) -> ConversationFacts:
    """CPU work (language detection): call it off the event loop."""
    return ConversationFacts(
        turns=len(prompts),
        user_chars=sum(len(p) for p in prompts),
        language=detect_language(prompts[0] if prompts else ""),
        style={"a": StyleCounts.of(answers_a).as_dict(), "b": StyleCounts.of(answers_b).as_dict()},
    )


# langdetect's ISO codes -> the English names FastChat's logs and leaderboard use (polyglot's)
_LANGUAGE_NAMES = {
    "en": "English", "zh-cn": "Chinese", "zh-tw": "Chinese", "ja": "Japanese", "ko": "Korean",
    "ru": "Russian", "de": "German", "fr": "French", "es": "Spanish", "pt": "Portuguese",
    "it": "Italian", "nl": "Dutch", "pl": "Polish", "uk": "Ukrainian", "tr": "Turkish",
    "ar": "Arabic", "fa": "Persian", "he": "Hebrew", "hi": "Hindi", "vi": "Vietnamese",
    "id": "Indonesian", "th": "Thai", "sv": "Swedish", "cs": "Czech", "el": "Greek",
}  # fmt: skip


def detect_language(text: str) -> str:
    """The language's English name ("English", "Chinese"...), its ISO code when unnamed here, or
    "unknown". Deterministic: a private detector factory with a fixed seed."""
    sample = text[:_LANGUAGE_SAMPLE_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return "unknown"
    from langdetect.lang_detect_exception import LangDetectException

    detector = _detector_factory().create()
    detector.append(sample)
    try:
        code = detector.detect()
    except LangDetectException:
        return "unknown"
    return _LANGUAGE_NAMES.get(code, code)


@lru_cache(maxsize=1)
def _detector_factory():  # type: ignore[no-untyped-def]
    # The profiles load once (~1 s, 55 languages); a factory of our own keeps langdetect's
    # module-level default (and its unseeded randomness) out of it.
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.seed = 0
    return factory

"""Model output to safe HTML, on the server: answers are untrusted text.

markdown-it-py in CommonMark mode with raw HTML off (any `<script>` or `<img onerror>` in an
answer comes out as escaped text), links only to http, https and mailto (a `javascript:` or
`data:` link stays plain text), images turned into plain links (an answer must not make the
browser fetch anything), every link opened with rel="noopener noreferrer nofollow". The page's
Content-Security-Policy forbids inline script as a second line of defence.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _link_ok(url: str) -> bool:
    return url.strip().lower().startswith(SAFE_SCHEMES)


class _SafeRenderer(RendererHTML):
    def link_open(self, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        token.attrs = {
            "href": str(token.attrs.get("href", "")),
            "rel": "noopener noreferrer nofollow",
            "target": "_blank",
        }
        return self.renderToken(tokens, idx, options, env)

    def image(self, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        src = str(token.attrs.get("src", ""))
        alt = self.renderInlineAsText(token.children or [], options, env) or src
        escaped_alt = _escape(alt)
        if not _link_ok(src):
            return escaped_alt
        return (
            f'<a href="{_escape(src)}" rel="noopener noreferrer nofollow" target="_blank">'
            f"[image: {escaped_alt}]</a>"
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _build() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "typographer": False}, renderer_cls=_SafeRenderer
    )
    md.validateLink = _link_ok  # type: ignore[method-assign]
    md.enable("table").enable("strikethrough")
    return md


_MARKDOWN = _build()


def render_markdown(text: str) -> str:
    """Sanitised HTML for untrusted markdown."""
    return _MARKDOWN.render(text)


def render_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the page shows it: rendered HTML for answers, plain text for the user's."""
    content = message.get("content")
    text = (
        content
        if isinstance(content, str)
        else " ".join(
            part.get("text", "")
            for part in content or []
            if isinstance(part, dict) and part.get("type") == "text"
        )
    )
    images = (
        0
        if isinstance(content, str)
        else sum(1 for part in content or [] if isinstance(part, dict) and part.get("type") == "image_url")
    )
    shown: dict[str, Any] = {"role": message.get("role"), "text": text, "images": images}
    if message.get("role") == "assistant":
        shown["html"] = render_markdown(text)
    if message.get("note"):
        shown["note"] = message["note"]
    return shown

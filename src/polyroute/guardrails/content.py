"""Reading and rewriting the content of OpenAI chat messages: texts, images and answer text.

Content is a string or a list of parts (`{type: "text", text}`, `{type: "image_url",
image_url: {url}}`); everything else (audio, files, tool calls) passes untouched.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from typing import Any

from polyroute.errors import InvalidRequestError

MAX_IMAGES = 16  # images an image guardrail checks per request; a request with more is refused


def texts(messages: list[dict[str, Any]]) -> Iterator[str]:
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if (
                    isinstance(part, dict)
                    and part.get("type") == "text"
                    and isinstance(part.get("text"), str)
                ):
                    yield part["text"]


def image_urls(messages: list[dict[str, Any]]) -> list[str]:
    urls = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url:
                urls.append(url)
    return urls


def images_to_check(messages: list[dict[str, Any]]) -> list[str]:
    """The image URLs an image guardrail checks: all of them, or a 400 when there are more than
    it checks per request (an unchecked image must not slip through)."""
    urls = image_urls(messages)
    if len(urls) > MAX_IMAGES:
        raise InvalidRequestError(
            f"at most {MAX_IMAGES} images per request on this gateway (its guardrails check each one)",
            param="messages",
            code="too_many_images",
        )
    return urls


def decode_data_url(url: str) -> tuple[str, bytes] | None:
    """(media type, bytes) of a base64 `data:` URL; None for any other URL or a broken one."""
    if not url.startswith("data:"):
        return None
    header, sep, payload = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    try:
        return header[: -len(";base64")] or "application/octet-stream", base64.b64decode(
            payload, validate=True
        )
    except (binascii.Error, ValueError):
        return None


def map_texts(messages: list[dict[str, Any]], change: Callable[[str], str]) -> list[dict[str, Any]]:
    """Copies of `messages` with `change` applied to every text; the originals are not touched."""
    out = []
    for message in messages:
        if not isinstance(message, dict):
            out.append(message)
            continue
        content = message.get("content")
        if isinstance(content, str):
            message = {**message, "content": change(content)}
        elif isinstance(content, list):
            parts = [
                {**part, "text": change(part["text"])}
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
                else part
                for part in content
            ]
            message = {**message, "content": parts}
        out.append(message)
    return out


def answer_text(answer: dict[str, Any]) -> str:
    """The text of every choice of a chat completion (content and refusal)."""
    pieces = []
    for choice in answer.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            for key in ("content", "refusal"):
                if isinstance(message.get(key), str):
                    pieces.append(message[key])
        elif isinstance(choice, dict) and isinstance(choice.get("text"), str):
            pieces.append(choice["text"])  # legacy completions
    return "\n".join(pieces)

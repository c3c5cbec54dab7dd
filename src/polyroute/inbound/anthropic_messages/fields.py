"""Small validators shared by the Messages request modules.

Error params use Anthropic's own path notation (`messages.2.content.0.type`), and messages start
with that path as Anthropic's do, so a client sees the field it sent.
"""

from __future__ import annotations

from typing import Any

from polyroute.errors import InvalidRequestError


def path(*parts: str | int) -> str:
    return ".".join(str(part) for part in parts)


def invalid(where: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{where}: {message}", param=where)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def need_dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(where, "Input should be an object")
    return value


def need_str(value: Any, where: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise invalid(where, "Input should be a valid string")
    if non_empty and not value:
        raise invalid(where, "String should have at least 1 character")
    return value


def need_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(where, "Input should be a valid list")
    return value


def unknown_keys(obj: dict[str, Any], allowed: frozenset[str], where: str | None) -> None:
    """Anthropic refuses fields it does not know ("Extra inputs are not permitted")."""
    for key in obj:
        if key not in allowed:
            field = path(where, key) if where else key
            raise invalid(field, "Extra inputs are not permitted")

"""Finds every string reachable from an object graph (dicts, lists, dataclasses, slots, Secrets
revealed): a test asserts that no client secret is held anywhere it should not be."""

from __future__ import annotations

import logging
import random
import re
import types
from collections.abc import Iterator
from typing import Any

from polyroute.secrets import Secret

_SKIP = (
    types.ModuleType,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    logging.Logger,
    random.Random,
    re.Pattern,
)


def reachable_strings(root: Any, limit: int = 500_000) -> Iterator[str]:
    seen: set[int] = set()
    stack = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (bool, int, float, *_SKIP)):
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            yield obj
        elif isinstance(obj, bytes | bytearray):
            yield bytes(obj).decode("latin-1")
        elif isinstance(obj, Secret):
            yield obj.reveal()
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif hasattr(obj, "__iter__") and type(obj).__module__ == "collections":
            stack.extend(list(obj))
        else:
            if hasattr(obj, "__dict__"):
                stack.extend(vars(obj).values())
            for cls in type(obj).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    if hasattr(obj, slot):
                        stack.append(getattr(obj, slot))


def holds_any(root: Any, secrets: tuple[str, ...] | list[str]) -> list[str]:
    """The secrets (of `secrets`) found in any string reachable from `root`."""
    found = set()
    for text in reachable_strings(root):
        for secret in secrets:
            if secret in text:
                found.add(secret)
    return sorted(found)

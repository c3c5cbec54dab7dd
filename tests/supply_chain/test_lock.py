"""uv.lock pins every package to files with sha256 hashes, all from the registry.

`uv sync --frozen` (scripts/test, scripts/serve, the Dockerfile) refuses any file whose hash
differs from the lock's, so a lock without hashes, or with a package from a URL, git or a path,
would be a hole in the install's integrity checking."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
# The override's placeholder (pyproject.toml [tool.uv]): never installed from the lock.
NEVER_INSTALLED = {"torch"}


def lock_problems(lock: dict) -> list[str]:
    problems = []
    for package in lock["package"]:
        name, source = package["name"], package["source"]
        if name == "polyroute":
            if source not in ({"editable": "."}, {"virtual": "."}):
                problems.append(f"polyroute: unexpected source {source}")
            continue
        if "registry" not in source:
            problems.append(f"{name}: not from the registry ({source})")
            continue
        files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
        if not files and name not in NEVER_INSTALLED:
            problems.append(f"{name}: no file pinned")
        for file in files:
            if not SHA256.fullmatch(file.get("hash", "")):
                problems.append(f"{name}: {file.get('url', '?')} has no sha256")
    return problems


def test_every_locked_file_has_a_hash() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    assert len(lock["package"]) > 50
    assert lock_problems(lock) == []


def test_a_hashless_or_off_registry_package_is_caught() -> None:
    lock = {
        "package": [
            {"name": "ok", "source": {"registry": "https://pypi.org/simple"},
             "wheels": [{"url": "u", "hash": "sha256:" + "a" * 64}]},
            {"name": "nohash", "source": {"registry": "https://pypi.org/simple"}, "sdist": {"url": "u"}},
            {"name": "fromgit", "source": {"git": "https://example.invalid/x.git"}},
        ]
    }
    assert lock_problems(lock) == [
        "nohash: u has no sha256",
        "fromgit: not from the registry ({'git': 'https://example.invalid/x.git'})",
    ]

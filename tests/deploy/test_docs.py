"""docs/deploy.md names only files that exist."""

from __future__ import annotations

import re

from tests.deploy.support import ROOT


def test_every_path_docs_deploy_names_exists() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    paths = set(re.findall(r"`((?:deploy|tests|scripts|src/polyroute)/[\w./@-]+?)`", text))
    paths |= set(re.findall(r"\b((?:deploy|tests)/[\w/@-]+\.(?:py|yml|yaml|conf|sh|service))\b", text))
    assert len(paths) > 10
    for path in sorted(paths):
        assert (ROOT / path).exists(), f"docs/deploy.md names {path}, which does not exist"

"""The README's provider table is generated from the specs: a test fails when they disagree."""

from __future__ import annotations

from polyroute.providers.registry import specs
from polyroute.providers.table import BEGIN, END, README, main, render_table, with_table


def test_readme_table_matches_the_specs():
    readme = README.read_text(encoding="utf-8")
    assert with_table(readme) == readme, "run: python -m polyroute.providers.table --write"


def test_every_provider_has_a_row_naming_its_api_framing_and_variables():
    table = render_table()
    for spec in specs():
        assert spec.api, f"provider {spec.name}: ProviderSpec.api (the wire API, for the README) is empty"
        [row] = [line for line in table.splitlines() if line.startswith(f"| `{spec.name}/`")]
        assert f"{spec.api} ({spec.framing})" in row
        assert all(f"`{variable}`" in row for variable in spec.key_env)


def test_check_fails_on_a_stale_table_and_write_fixes_it(tmp_path, capsys):
    stale = tmp_path / "README.md"
    stale.write_text(f"# title\n\n{BEGIN}\n| an old row |\n{END}\n\nafter\n", encoding="utf-8")
    assert main(["--check", "--readme", str(stale)]) == 1
    assert "differs from the specs" in capsys.readouterr().out
    assert main(["--write", "--readme", str(stale)]) == 0
    written = stale.read_text(encoding="utf-8")
    assert written.startswith("# title\n\n") and written.endswith(f"{END}\n\nafter\n")
    assert "| an old row |" not in written and render_table() in written
    assert main(["--check", "--readme", str(stale)]) == 0

"""No `.pth` file in the environment but the two known-good ones.

A `.pth` file in site-packages runs its `import` lines at every interpreter start, before any of
our code: the hook a malicious package uses (it needs no import of its own). What exists now, and
why each is allowed:
- `_editable_impl_polyroute.pth`: the editable install of this project (hatchling); one line, the
  checkout's `src` folder, no code.
- `distutils-precedence.pth`: setuptools' shim (setuptools comes in through the locked tree); its
  one line is exactly setuptools' own, checked to the byte, so a tampered copy fails.
"""

from __future__ import annotations

import site
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DISTUTILS_SHIM = (
    "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; "
    "enabled and __import__('_distutils_hack').add_shim(); \n"
)


def unexpected_pth_files(site_dir: Path, project_src: Path) -> list[str]:
    """The .pth files of site_dir that are not known-good, each with why."""
    problems = []
    for path in sorted(site_dir.glob("*.pth")):
        text = path.read_text(errors="replace")
        if path.name == "distutils-precedence.pth":
            if text != DISTUTILS_SHIM:
                problems.append(f"{path.name}: differs from setuptools' shim")
        elif path.name == "_editable_impl_polyroute.pth":
            lines = [line for line in text.splitlines() if line.strip()]
            if [Path(line).resolve() for line in lines] != [project_src.resolve()]:
                problems.append(f"{path.name}: should hold only {project_src}, holds {lines!r}")
        else:
            problems.append(f"{path.name}: not a known-good .pth file")
    return problems


def site_dirs() -> list[Path]:
    dirs = {Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["platlib"])}
    dirs.update(Path(d) for d in site.getsitepackages())
    return sorted(d for d in dirs if d.is_dir())


def test_only_known_good_pth_files_in_this_environment() -> None:
    for site_dir in site_dirs():
        assert unexpected_pth_files(site_dir, ROOT / "src") == [], site_dir


def test_an_unknown_or_tampered_pth_file_is_caught(tmp_path: Path) -> None:
    (tmp_path / "distutils-precedence.pth").write_text(DISTUTILS_SHIM)
    (tmp_path / "_editable_impl_polyroute.pth").write_text(f"{ROOT / 'src'}\n")
    assert unexpected_pth_files(tmp_path, ROOT / "src") == []
    (tmp_path / "evil.pth").write_text("import urllib.request; urllib.request.urlopen('http://x')\n")
    (tmp_path / "distutils-precedence.pth").write_text(DISTUTILS_SHIM + "import evil\n")
    (tmp_path / "_editable_impl_polyroute.pth").write_text(f"{ROOT / 'src'}\nimport evil\n")
    assert [problem.split(":")[0] for problem in unexpected_pth_files(tmp_path, ROOT / "src")] == [
        "_editable_impl_polyroute.pth",
        "distutils-precedence.pth",
        "evil.pth",
    ]

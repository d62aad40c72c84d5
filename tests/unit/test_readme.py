"""The README's runnable shell blocks run, and its command synopsis matches the parser.

A block is runnable when the line before its opening fence is ``<!-- runnable -->``: it
runs with bash (``set -euo pipefail``) from the repository root, with the project's
environment first on PATH and MLflow pointed at a throw-away store that the blocks share,
in the README's order (a later block may score with the model an earlier one trained).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clonescout_cli.main import build_parser
from tests.helpers.paths import REPO

README = REPO / "README.md"
MARK = "<!-- runnable -->"


def runnable_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, body) of each fenced block whose fence follows the marker line."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines[:-1]):
        if line.strip() == MARK and lines[i + 1].startswith("```"):
            end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
            out.append((i + 2, "\n".join(lines[i + 2 : end])))
    return out


def test_the_marker_finds_blocks() -> None:
    text = f"x\n{MARK}\n```bash\necho hi\n```\n```bash\nnot marked\n```\n"
    assert runnable_blocks(text) == [(3, "echo hi")]


BLOCKS = runnable_blocks(README.read_text())


def test_readme_has_runnable_blocks() -> None:
    assert len(BLOCKS) >= 3, "the README should keep its runnable examples"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("readme-mlflow")


@pytest.mark.slow
@pytest.mark.parametrize("line,body", BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_runnable_block(line: int, body: str, store: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}/mlflow.db"
    env.pop("CLONESCOUT_OPTUNA_STORAGE", None)
    done = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{body}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"README.md:{line} failed:\n{body}\n---\n{done.stderr[-3000:]}"


def test_command_synopsis_matches_the_parser() -> None:
    """Every `clonescout CMD --flag` of the synopsis block exists (no stale flags)."""
    text = README.read_text()
    start = text.index("```bash\nclonescout simulate --out DIR")
    synopsis = text[start : text.index("```\n", start + 8)]
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    commands = sub.choices  # type: ignore[attr-defined]
    current = None
    for line in synopsis.splitlines()[1:]:
        m = re.match(r"clonescout (\w+)", line)
        if m:
            current = m.group(1)
            assert current in commands, f"README lists unknown command {current}"
        flags = re.findall(r"(--[a-z][a-z0-9-]*)", line.split("#")[0])
        known = _options(commands[current])
        assert set(flags) <= known, f"{current}: {set(flags) - known} not in the parser"


def _options(parser) -> set[str]:
    """Every option of ``parser`` and of its sub-commands (``outcomes add --rejects``)."""
    out = set()
    for action in parser._actions:
        out |= set(action.option_strings)
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):  # a sub-command's parsers
            for sub in choices.values():
                out |= _options(sub)
    return out

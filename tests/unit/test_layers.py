"""The layers' import contracts ([tool.importlinter] in pyproject.toml) hold, and can fail.

The second test copies the packages to a scratch folder, adds one upward import (the
service importing the CLI) and checks that the same contracts reject the copy: a wrong
import fails CI, it is not only a convention.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("clonescout_cli", "twineval", "serving", "training", "models", "features", "simulator")


def _lint(root: Path) -> subprocess.CompletedProcess:
    # the packages are found on PYTHONPATH first (root), before the installed project
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layer_contracts_hold_on_the_tree() -> None:
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("serving/engine.py", "import clonescout_cli.main", "layers only point down"),
        ("models/bundle.py", "import simulator.twin", "does not depend on the digital twin"),
        ("features/contract/schemas.py", "import features.early", "contract stands alone"),
    ],
)
def test_an_upward_import_breaks_them(tmp_path: Path, module: str, line: str, contract: str):
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # the wrong import\n")
    done = _lint(tmp_path)
    assert done.returncode != 0, done.stdout[-3000:]
    broken = [ln for ln in done.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(contract in ln for ln in broken), done.stdout[-3000:]
    assert line.split()[-1] in done.stdout  # the report names the offending import

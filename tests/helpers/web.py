"""Inputs of the pages' tests: the demo's lab export, zipped as a user would upload it."""

from __future__ import annotations

import zipfile
from pathlib import Path

from clonescout_cli.demo import DemoSettings, _lab_export
from features.contract.spec import DEFAULT_SPEC_PATH


def lab_export(root: Path) -> Path:
    """The demo's step-4 lab export (4 campaigns, quirky rows) written under ``root``."""
    lab = root / "lab_export"
    _lab_export(DemoSettings(), DEFAULT_SPEC_PATH, lab)
    return lab


def zipped(folder: Path, out: Path) -> Path:
    """``folder`` as a .zip holding the folder itself (as a file manager zips it)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, Path(folder.name) / f.relative_to(folder))
    return out

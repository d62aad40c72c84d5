"""Writing files so that a reader never sees half of one: the one atomic write.

Every file clonescout writes for a person or another program (simulated tables, feature
tables, rejects, scores, reports, what-if and process JSON) goes through
:func:`write_atomic`: the content is written to ``<name>.tmp`` beside the target and
renamed onto it, which POSIX makes atomic within a file system. A crash or a kill mid-way
leaves the old file (or none), never a truncated one, and the scratch file is removed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a scratch name beside ``path``, then rename it onto ``path``.

    The parent folder is created when missing. Returns ``path``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_atomic(Path(d) / "a" / "x.txt", lambda tmp: tmp.write_text("hi"))
    ...     print(p.read_text(), sorted(f.name for f in p.parent.iterdir()))
    hi ['x.txt']
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_frame(df: pd.DataFrame, path: Path, suffix: str | None = None) -> None:
    """A whole table as CSV or Parquet, by ``suffix`` or else the file's (no index)."""
    if (suffix or path.suffix) == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """``df`` as CSV or Parquet (by the suffix of ``path``), written atomically."""
    return write_atomic(path, lambda tmp: write_frame(df, tmp, path.suffix))


def write_text(path: Path, text: str) -> Path:
    """``text`` as UTF-8, written atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

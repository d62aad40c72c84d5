"""What a logged model was made from: data hash, code commit, library versions."""

from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd

LIBRARIES = ("numpy", "pandas", "scikit-learn", "xgboost", "mlflow", "optuna", "pyyaml", "scipy")


def data_hash(tables: dict[str, pd.DataFrame]) -> str:
    """SHA-256 over the content of the contract tables (order of rows matters not)."""
    h = hashlib.sha256()
    for name in sorted(tables):
        if name == "truth":
            continue
        df = tables[name]
        df = df.reindex(sorted(df.columns), axis=1)
        key = [c for c in ("run_id", "clone_id", "day") if c in df.columns]
        df = df.sort_values(key).reset_index(drop=True) if key else df
        h.update(name.encode())
        h.update(",".join(df.columns).encode())
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def code_commit(root: Path) -> str:
    """Git commit of the code that trained, with "-dirty" if it had local changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return sha + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out

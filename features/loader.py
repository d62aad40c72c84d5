"""Load a campaign folder (CSV or Parquet) and hold it to the data contract.

Every problem found is collected, then raised as one :class:`ContractError` that names the
file, the column, the rule broken and the offending rows (the first few, and how many).
Rows are numbered as a person finds them: the line in a CSV file (the header is line 1),
the 1-based row in a Parquet file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.contract import (
    MAX_ROWS_SHOWN,
    ContractError,
    Source,
    Violation,
    validate_tables,
)
from features.schemas import TABLE_NAMES

__all__ = ["MAX_ROWS_SHOWN", "CampaignData", "ContractError", "Violation", "load_campaign"]


@dataclass(frozen=True)
class CampaignData:
    """The validated tables of one campaign set (``outcomes``/``truth`` may be None)."""

    folder: Path
    clones: pd.DataFrame
    runs: pd.DataFrame
    samples: pd.DataFrame
    outcomes: pd.DataFrame | None
    truth: pd.DataFrame | None = None
    files: dict[str, Path] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"clones": self.clones, "runs": self.runs, "samples": self.samples}
        if self.outcomes is not None:
            out["outcomes"] = self.outcomes
        if self.truth is not None:
            out["truth"] = self.truth
        return out


def _locate(folder: Path, name: str) -> tuple[Path | None, Violation | None]:
    found = [p for p in (folder / f"{name}.csv", folder / f"{name}.parquet") if p.exists()]
    if len(found) > 1:
        return None, Violation(
            f"{name}.csv / {name}.parquet", None, "both formats are present; keep exactly one"
        )
    return (found[0], None) if found else (None, None)


def read_table(path: Path) -> pd.DataFrame:
    """Read one table; CSV cells stay text so that the contract can judge them."""
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=True)
    return pd.read_parquet(path)


def load_campaign(folder: str | Path, require_outcomes: bool = False) -> CampaignData:
    """Read and validate a campaign folder; raise :class:`ContractError` on any problem."""
    folder = Path(folder)
    if not folder.is_dir():
        not_folder = Violation(str(folder), None, "is not a folder of campaign tables")
        raise ContractError(folder, [not_folder])
    violations: list[Violation] = []
    paths: dict[str, Path] = {}
    raw: dict[str, pd.DataFrame] = {}
    for name in TABLE_NAMES:
        path, problem = _locate(folder, name)
        if problem:
            violations.append(problem)
            continue
        if path is None:
            if name != "outcomes" or require_outcomes:
                rule = f"missing: the '{name}' table is required ({name}.csv or {name}.parquet)"
                violations.append(Violation(f"{name}.csv", None, rule))
            continue
        try:
            raw[name] = read_table(path).reset_index(drop=True)
        except Exception as exc:  # an unreadable file is reported with the other problems
            violations.append(Violation(path.name, None, f"cannot be read ({exc})"))
            continue
        paths[name] = path

    sources = {name: Source.for_file(p.name) for name, p in paths.items()}
    valid = validate_tables(raw, sources, folder, violations)

    truth = None
    truth_path, _ = _locate(folder, "truth")
    if truth_path is not None:
        truth = read_table(truth_path)
        if truth_path.suffix == ".csv":
            ids = {"run_id", "clone_id", "campaign_id"}
            for col in truth.columns.difference(list(ids)):
                truth[col] = pd.to_numeric(truth[col])
        paths["truth"] = truth_path
    return CampaignData(
        folder,
        valid["clones"],
        valid["runs"],
        valid["samples"],
        valid.get("outcomes"),
        truth,
        paths,
    )

"""Load a campaign folder (CSV or Parquet) and hold it to the data contract.

Data as labs have it: a run that breaks the contract is set aside with its reason (file,
line, column, rule, value found) and the rest goes on; flags and censored values are read
as documented in :mod:`features.contract.censored` and counted in notes. Only structural problems
(a missing table or column, an unreadable file, a column in the wrong unit throughout, no
run left) refuse the folder, as one :class:`ContractError` listing them all. Rows are
numbered as a person finds them: the line in a CSV file (the header is line 1), the 1-based
row in a Parquet file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.contract.rejects import REJECT_COLUMNS, DataNote, empty_rejects
from features.contract.schemas import TABLE_NAMES
from features.contract.validate import CheckedTables, validate_outcomes, validate_tables
from features.contract.violations import MAX_ROWS_SHOWN, ContractError, Source, Violation

__all__ = [
    "MAX_ROWS_SHOWN",
    "REJECT_COLUMNS",
    "CampaignData",
    "ContractError",
    "DataNote",
    "Violation",
    "empty_rejects",
    "load_campaign",
]


@dataclass(frozen=True)
class CampaignData:
    """The validated tables of the kept runs of one set (``outcomes``/``truth`` may be None).

    ``rejects`` lists the runs set aside at load (columns :data:`REJECT_COLUMNS`, stage
    "load"), ``notes`` what was read in a documented, non-obvious way. The tables hold only
    kept runs and the clones that still have one.
    """

    folder: Path
    clones: pd.DataFrame
    runs: pd.DataFrame
    samples: pd.DataFrame
    outcomes: pd.DataFrame | None
    truth: pd.DataFrame | None = None
    files: dict[str, Path] = field(default_factory=dict)
    rejects: pd.DataFrame = field(default_factory=empty_rejects)
    notes: tuple[DataNote, ...] = ()

    @property
    def n_runs_in(self) -> int:
        """Distinct runs that came in (runs, samples, outcomes): kept plus rejected."""
        tables = [self.runs, self.samples] + ([self.outcomes] if self.outcomes is not None else [])
        kept = pd.Index(pd.concat([t["run_id"] for t in tables]).unique())
        return len(kept.union(pd.Index(self.rejects["run_id"].unique())))

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


def find_tables(
    folder: Path, require_outcomes: bool = False
) -> tuple[dict[str, Path], list[Violation]]:
    """The contract's tables in ``folder`` (CSV or Parquet), and what is missing or doubled."""
    paths: dict[str, Path] = {}
    violations: list[Violation] = []
    for name in TABLE_NAMES:
        path, problem = _locate(folder, name)
        if problem:
            violations.append(problem)
        elif path is None:
            if name != "outcomes" or require_outcomes:
                rule = f"missing: the '{name}' table is required ({name}.csv or {name}.parquet)"
                violations.append(Violation(f"{name}.csv", None, rule))
        else:
            paths[name] = path
    return paths, violations


def read_table(path: Path, nrows: int | None = None) -> pd.DataFrame:
    """Read one table (its first ``nrows`` rows if given); CSV cells stay text as written.

    Flags and censored values ('NA', '<LOQ', '<0.5') are then judged by the contract
    (:mod:`features.contract.censored`), not guessed by the CSV reader. Parquet is read without
    pyarrow's ``pre_buffer``, which keeps every row group it has read in memory.
    """
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, nrows=nrows)
    if nrows is None:
        return pd.read_parquet(path, pre_buffer=False)
    batches = pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=max(nrows, 1))
    first = next(batches, None)
    if first is None or nrows == 0:
        return pq.read_schema(path).empty_table().to_pandas()
    return first.to_pandas()


def load_campaign(folder: str | Path, require_outcomes: bool = False) -> CampaignData:
    """Read and validate a campaign folder, setting runs that break the contract aside.

    Parameters
    ----------
    folder
        Folder with ``clones``, ``runs``, ``samples`` and (optionally) ``outcomes``, each
        as ``.csv`` or ``.parquet``; a ``truth`` table is read when present.
    require_outcomes
        Refuse the folder when there is no outcomes table (training needs it).

    Returns
    -------
    CampaignData
        Kept runs, typed; ``rejects`` and ``notes`` say what was set aside or read how.

    Raises
    ------
    ContractError
        For structural problems only (see the module docstring).
    """
    folder = Path(folder)
    if not folder.is_dir():
        not_folder = Violation(str(folder), None, "is not a folder of campaign tables")
        raise ContractError(folder, [not_folder])
    found, violations = find_tables(folder, require_outcomes)
    paths: dict[str, Path] = {}
    raw: dict[str, pd.DataFrame] = {}
    for name, path in found.items():
        try:
            raw[name] = read_table(path).reset_index(drop=True)
        except Exception as exc:  # an unreadable file is reported with the other problems
            violations.append(Violation(path.name, None, f"cannot be read ({exc})"))
            continue
        paths[name] = path

    sources = {name: Source.for_file(p.name) for name, p in paths.items()}
    checked = validate_tables(raw, sources, folder, violations)
    valid = checked.tables
    truth_path, _ = _locate(folder, "truth")
    if truth_path is not None:
        paths["truth"] = truth_path
    return CampaignData(
        folder,
        valid["clones"],
        valid["runs"],
        valid["samples"],
        valid.get("outcomes"),
        None if truth_path is None else _read_truth(truth_path, valid["runs"]["run_id"]),
        paths,
        checked.rejects,
        checked.notes,
    )


def _read_truth(path: Path, kept: pd.Series) -> pd.DataFrame:
    """The simulator's truth table for the kept runs; never judged by the contract."""
    if path.suffix != ".csv":
        truth = pd.read_parquet(path)
    else:
        truth = pd.read_csv(path, dtype=str)
        ids = ["run_id", "clone_id", "campaign_id"]
        numbers = {c: pd.to_numeric(truth[c]) for c in truth.columns.difference(ids)}
        truth = truth.assign(**numbers)
    if "run_id" not in truth.columns:
        return truth
    return truth[truth["run_id"].isin(kept).to_numpy()].reset_index(drop=True)


def load_outcomes(where: str | Path) -> tuple[Path, CheckedTables]:
    """Read outcomes that come back after scoring: a folder's ``outcomes`` table, or a file.

    The contract's outcomes shape (``run_id`` and numeric endpoints), optionally with a
    ``prediction_id`` column naming the prediction each row answers. Rows that break the
    contract are set aside with file, line, column and rule
    (:func:`features.contract.validate.validate_outcomes`); a missing table or ``run_id``
    column refuses the whole input.
    """
    where = Path(where)
    if where.is_dir():
        path, clash = _locate(where, "outcomes")
        if clash is not None:
            raise ContractError(where, [clash])
        if path is None:
            missing = Violation("outcomes.csv / outcomes.parquet", None, "no outcomes table here")
            raise ContractError(where, [missing])
    elif where.suffix in (".csv", ".parquet") and where.is_file():
        path = where
    else:
        rule = "is not a folder with an outcomes table, nor a .csv / .parquet outcomes file"
        raise ContractError(where, [Violation(str(where), None, rule)])
    try:
        raw = read_table(path).reset_index(drop=True)
    except Exception as exc:
        raise ContractError(
            where, [Violation(path.name, None, f"cannot be read ({exc})")]
        ) from None
    return path, validate_outcomes(raw, Source.for_file(path.name), where)

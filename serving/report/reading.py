"""Find, read and check the files of one ``clonescout score --out scores.parquet``.

Four files: the per-run file (checked to exist), ``scores.clones.parquet`` (one row per
clone, ranked or unknown), ``scores.summary.json`` (counts, model, spec, ranking) and
``scores.rejects.csv`` (only when runs were rejected). Every file and key is checked before
anything is written, and a problem is a :class:`ValueError` naming the file, the key or
column, and what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.flags import FLAGS, LIMIT_RISK_PREFIX, limit_risk_column
from models.ranking import CLONE_COLUMNS, RANKED, UNKNOWN

TEXT_COLUMNS = ("clone_id", "campaign_id", "status", "flag", "reasons")
OPTIONAL_NUMBER_COLUMNS = ("downstream_risk",)
# the clone table's columns as clonescout score writes them (models.ranking)
NUMBER_COLUMNS = (
    *(c for c in CLONE_COLUMNS if c not in TEXT_COLUMNS and c not in OPTIONAL_NUMBER_COLUMNS),
    "desirability",
)
SUMMARY_KEYS: dict[str, str] = {
    "input": "the scored input path (text)",
    "runs_in": "a run count",
    "scored": "a run count",
    "rejected": "a run count",
    "rejected_by_stage": "a mapping stage -> runs",
    "flags": "a mapping flag -> runs",
    "clones": "a clone count",
    "clones_ranked": "a clone count",
    "clones_unknown": "a clone count",
    "model": "a mapping with name, version, uri, model_id, training_data_hash, horizon_day",
    "spec": "a mapping with name and limits",
    "not_judged": "a list of spec attributes",
    "ranking": "a mapping with criteria and source",
    "files": "a mapping with runs, clones and rejects",
}
MODEL_KEYS = ("name", "version", "uri", "model_id", "training_data_hash", "horizon_day")
LIMIT_KEYS = ("attribute", "group", "min", "max", "unit", "judged")
CRITERION_KEYS = ("name", "column", "goal", "low", "high", "weight")
WRITTEN_BY = "written by `clonescout score`; score the campaign again to rebuild it"


@dataclass(frozen=True)
class ReportInputs:
    """The checked contents of one ``clonescout score`` output set."""

    scores: Path
    summary: dict[str, Any]
    clones: pd.DataFrame  # typed: text columns are str ("" if missing), numbers float64
    rejects: pd.DataFrame  # run_id, stage, reason (empty when nothing was rejected)
    limits: list[dict[str, Any]]  # the judged spec limits that have a risk__ column


def sibling(scores: Path, part: str) -> Path:
    """``scores.parquet`` -> ``scores.<part>``, e.g. ``sibling(p, "clones.parquet")``."""
    return scores.with_name(f"{scores.name[: -len(scores.suffix)]}.{part}")


def read_inputs(scores: Path) -> ReportInputs:
    """Read and check the four files of a scored campaign (see the module docstring)."""
    if scores.suffix not in (".parquet", ".csv"):
        raise ValueError(f"--scores {scores}: expected the .parquet or .csv file of `score`")
    if not scores.is_file():
        raise ValueError(f"--scores {scores}: file not found (the per-run file {WRITTEN_BY})")
    summary_path = sibling(scores, "summary.json")
    summary = _read_summary(summary_path)
    clones = _read_clones(sibling(scores, f"clones{scores.suffix}"), summary)
    rejects = _read_rejects(sibling(scores, "rejects.csv"), summary, summary_path)
    limits = _judged_limits(summary, clones, sibling(scores, f"clones{scores.suffix}"))
    return ReportInputs(scores, summary, clones, rejects, limits)


def _need_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise ValueError(f"{path}: file not found; expected {what} beside --scores, {WRITTEN_BY}")


def _require(obj: Any, keys: Iterable[str], where: str, path: Path, kind: str) -> None:
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: key '{where}' should be {kind}, got {type(obj).__name__}")
    for k in keys:
        if k not in obj:
            raise ValueError(f"{path}: key '{where}.{k}' is missing; expected {kind}; {WRITTEN_BY}")


def _read_summary(path: Path) -> dict[str, Any]:
    _need_file(path, "the summary JSON")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: expected a JSON object with {', '.join(SUMMARY_KEYS)}")
    for key, kind in SUMMARY_KEYS.items():
        if key not in summary:
            raise ValueError(f"{path}: key '{key}' is missing; expected {kind}; {WRITTEN_BY}")
    _require(summary["model"], MODEL_KEYS, "model", path, SUMMARY_KEYS["model"])
    _require(summary["spec"], ("name", "limits"), "spec", path, SUMMARY_KEYS["spec"])
    _require(summary["ranking"], ("criteria", "source"), "ranking", path, "criteria and source")
    _require(summary["files"], ("runs", "clones", "rejects"), "files", path, SUMMARY_KEYS["files"])
    for i, lim in enumerate(_listed(summary["spec"]["limits"], "spec.limits", path)):
        _check_limit(lim, f"spec.limits[{i}]", path)
    for i, c in enumerate(_listed(summary["ranking"]["criteria"], "ranking.criteria", path)):
        _require(c, CRITERION_KEYS, f"ranking.criteria[{i}]", path, ", ".join(CRITERION_KEYS))
    _listed(summary["not_judged"], "not_judged", path)
    return summary


def _check_limit(lim: Any, where: str, path: Path) -> None:
    _require(lim, LIMIT_KEYS, where, path, "a limit with " + ", ".join(LIMIT_KEYS))
    for k in ("min", "max"):
        v = lim[k]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise ValueError(f"{path}: key '{where}.{k}' should be a number or null, got {v!r}")


def _listed(value: Any, where: str, path: Path) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{path}: key '{where}' should be a list, got {type(value).__name__}")
    return value


def _read_table(path: Path, text_columns: Sequence[str]) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        # "NA" is a fine clone id: only an empty cell is missing
        dtype = dict.fromkeys(text_columns, "str")
        return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=dtype)
    except (OSError, ValueError) as exc:  # pyarrow's and pandas' parse errors are among these
        raise ValueError(
            f"{path}: cannot be read as {path.suffix[1:]} ({exc}); {WRITTEN_BY}"
        ) from None


def _read_clones(path: Path, summary: dict[str, Any]) -> pd.DataFrame:
    _need_file(path, "the per-clone table")
    raw = _read_table(path, TEXT_COLUMNS)
    if raw.empty and summary["clones"] == 0:  # nothing scored: the table may have no columns
        raw = pd.DataFrame(columns=[*TEXT_COLUMNS, *NUMBER_COLUMNS, "pareto"])
    missing = [c for c in (*TEXT_COLUMNS, *NUMBER_COLUMNS, "pareto") if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: column(s) {', '.join(missing)} missing; {WRITTEN_BY}")
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for c in TEXT_COLUMNS:
        out[c] = [("" if _missing(v) else str(v)) for v in raw[c]]
    numbers = [c for c in raw.columns if c in NUMBER_COLUMNS or c in OPTIONAL_NUMBER_COLUMNS]
    numbers += [c for c in raw.columns if c.startswith((LIMIT_RISK_PREFIX, "d_"))]
    for c in numbers:
        out[c] = _numbers(raw[c], path, c)
    out["pareto"] = [_truthy(v) for v in raw["pareto"]]
    _check_clone_values(out, path, summary)
    ranked = out[out["status"] == RANKED].sort_values("rank", kind="stable")
    unknown = out[out["status"] == UNKNOWN].sort_values(["campaign_id", "clone_id"])
    return pd.concat([ranked, unknown], ignore_index=True)


def _missing(v: Any) -> bool:
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


def _truthy(v: Any) -> bool:
    if _missing(v):
        return False
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def _numbers(col: pd.Series, path: Path, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(col).to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError):
        bad = next(v for v in col if not _missing(v) and not _is_number(v))
        raise ValueError(f"{path}: column '{name}' should hold numbers, found {bad!r}") from None


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _check_clone_values(clones: pd.DataFrame, path: Path, summary: dict[str, Any]) -> None:
    for col, allowed in (("status", (RANKED, UNKNOWN)), ("flag", FLAGS)):
        bad = clones[~clones[col].isin(allowed)]
        if len(bad):
            raise ValueError(
                f"{path}: clone {bad['clone_id'].iloc[0]!r}, column '{col}': "
                f"{bad[col].iloc[0]!r} is not one of {', '.join(repr(a) for a in allowed)}"
            )
    no_rank = clones[(clones["status"] == RANKED) & clones["rank"].isna()]
    if len(no_rank):
        raise ValueError(
            f"{path}: clone {no_rank['clone_id'].iloc[0]!r} is ranked but has no 'rank'"
        )
    n_ranked = int((clones["status"] == RANKED).sum())
    found = (len(clones), n_ranked, len(clones) - n_ranked)
    said = (summary["clones"], summary["clones_ranked"], summary["clones_unknown"])
    if found != said:
        raise ValueError(
            f"{path}: {found[0]} clones ({found[1]} ranked, {found[2]} unknown) but the "
            f"summary says {said[0]} ({said[1]} ranked, {said[2]} unknown): the files come "
            "from different runs of `clonescout score`; score again"
        )


def _read_rejects(path: Path, summary: dict[str, Any], summary_path: Path) -> pd.DataFrame:
    cols = ("run_id", "stage", "reason")
    if not summary["rejected"] and summary["files"]["rejects"] is None:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in cols})
    _need_file(path, f"the rejected runs ({summary_path.name} counts {summary['rejected']})")
    raw = _read_table(path, cols)
    missing = [c for c in cols if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: column(s) {', '.join(missing)} missing; expected {cols}")
    return pd.DataFrame({c: [("" if _missing(v) else str(v)) for v in raw[c]] for c in cols})


def _judged_limits(summary: dict[str, Any], clones: pd.DataFrame, path: Path) -> list[dict]:
    limits = [lim for lim in summary["spec"]["limits"] if lim["judged"]]
    absent = [
        limit_risk_column(x["attribute"])
        for x in limits
        if limit_risk_column(x["attribute"]) not in clones
    ]
    if absent and len(clones):
        raise ValueError(
            f"{path}: column(s) {', '.join(absent)} missing: the summary lists these limits "
            f"as judged, so each needs its risk column; {WRITTEN_BY}"
        )
    return limits if len(clones) else []

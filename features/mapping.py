"""Import mappings: bring a foreign file layout onto the data contract, declaratively.

A mapping is a YAML file (see ``data/mappings/peer_emulator.yaml``) that says which source
column becomes which canonical column and in which unit it was recorded, how run, clone and
campaign ids are formed, and how per-run values (conditions, outcomes) are read from a
long table of samples. No code changes are needed for a new lab export.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract import Source, Violation, validate_tables
from features.loader import CampaignData
from features.units import UnitError, convert
from features.yamlfile import read_yaml_mapping

REDUCERS = ("first", "last", "min", "max", "mean", "change_day")
ID_FIELDS = ("run_id", "clone_id", "campaign_id", "molecule", "scale")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class MappingError(ValueError):
    """A mapping that cannot be applied; says which key is wrong and what would work."""


@dataclass(frozen=True)
class FieldMap:
    """How one canonical column is made: from a column, a template or a constant."""

    target: str
    column: str | None = None
    template: str | None = None
    value: Any = None
    unit: str | None = None
    reduce: str | None = None

    def source_columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return [c for c in _PLACEHOLDER.findall(self.template) if c != "file_stem"]
        return []


@dataclass(frozen=True)
class Mapping:
    """A parsed import mapping."""

    name: str
    path: Path
    files: tuple[str, ...]
    time: FieldMap
    ids: dict[str, FieldMap]
    samples: tuple[FieldMap, ...]
    runs: tuple[FieldMap, ...] = ()
    clones: tuple[FieldMap, ...] = ()
    outcomes: tuple[FieldMap, ...] = field(default_factory=tuple)

    def all_fields(self) -> list[tuple[str, FieldMap]]:
        out = [("time", self.time)] + [("ids", f) for f in self.ids.values()]
        for section in ("samples", "runs", "clones", "outcomes"):
            out += [(section, f) for f in getattr(self, section)]
        return out


def _field(path: Path, section: str, target: str, body: Any, per_run: bool) -> FieldMap:
    where = f"{path}: {section}.{target}"
    if isinstance(body, str):  # shorthand: target: source_column
        body = {"column": body}
    if not isinstance(body, dict):
        raise MappingError(f"{where} must be a column name or a mapping with 'column'")
    allowed = {"column", "template", "value", "unit", "reduce"}
    unknown = set(body) - allowed
    if unknown:
        raise MappingError(
            f"{where} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    given = [k for k in ("column", "template", "value") if k in body]
    if len(given) != 1:
        raise MappingError(f"{where} needs exactly one of 'column', 'template' or 'value'")
    reduce = body.get("reduce")
    if reduce is not None and (not per_run or reduce not in REDUCERS):
        raise MappingError(
            f"{where}: reduce '{reduce}' is not allowed here"
            + (f"; use one of {', '.join(REDUCERS)}" if per_run else " (samples are not reduced)")
        )
    return FieldMap(
        target,
        body.get("column"),
        body.get("template"),
        body.get("value"),
        body.get("unit"),
        reduce,
    )


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping YAML file."""
    path = Path(path)
    raw = read_yaml_mapping(path, MappingError, "mapping", "'time', 'ids' and 'samples'")
    allowed = {
        "name",
        "description",
        "source",
        "time",
        "ids",
        "samples",
        "runs",
        "clones",
        "outcomes",
    }
    unknown = set(raw) - allowed
    if unknown:
        raise MappingError(
            f"{path}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    for key in ("time", "ids", "samples"):
        if key not in raw:
            raise MappingError(f"{path}: '{key}' is required")
    ids_raw = raw["ids"] or {}
    missing = [k for k in ID_FIELDS if k not in ids_raw]
    extra = set(ids_raw) - set(ID_FIELDS)
    if missing or extra:
        raise MappingError(
            f"{path}: ids must define exactly {', '.join(ID_FIELDS)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {sorted(extra)}" if extra else "")
        )
    time = _field(path, "time", "day", raw["time"], per_run=False)
    if time.column is None:
        raise MappingError(f"{path}: time needs a 'column' (and its 'unit', e.g. day or h)")

    def section(name: str, per_run: bool) -> tuple[FieldMap, ...]:
        body = raw.get(name) or {}
        if not isinstance(body, dict):
            raise MappingError(f"{path}: '{name}' must map canonical columns to sources")
        return tuple(_field(path, name, t, b, per_run) for t, b in body.items())

    source = raw.get("source") or {}
    files = source.get("files", ["*.csv"])
    return Mapping(
        name=str(raw.get("name", path.stem)),
        path=path,
        files=tuple([files] if isinstance(files, str) else files),
        time=time,
        ids={k: _field(path, "ids", k, ids_raw[k], per_run=False) for k in ID_FIELDS},
        samples=section("samples", False),
        runs=section("runs", True),
        clones=section("clones", True),
        outcomes=section("outcomes", True),
    )


def _source_files(data: Path, mapping: Mapping) -> list[Path]:
    if data.is_file():
        return [data]
    if not data.is_dir():
        raise MappingError(f"--data {data} is neither a file nor a folder")
    files = sorted(
        p for p in data.iterdir() if any(fnmatch.fnmatch(p.name, pat) for pat in mapping.files)
    )
    if not files:
        raise MappingError(f"no file in {data} matches the mapping's source.files {mapping.files}")
    return files


def _read_source(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        df = pd.read_parquet(path).astype(object).where(lambda d: d.notna(), None)
        df = df.astype(str).where(df.notna(), np.nan)
    else:
        df = pd.read_csv(path, dtype=str, keep_default_na=True)
    df["_line"] = np.arange(len(df)) + (2 if path.suffix == ".csv" else 1)
    df["_file"] = path.name
    df["file_stem"] = path.stem
    return df


def _check_columns(df: pd.DataFrame, mapping: Mapping, files: list[Path]) -> None:
    available = [c for c in df.columns if not c.startswith("_") and c != "file_stem"]
    problems = []
    for section, f in mapping.all_fields():
        for col in f.source_columns():
            if col not in df.columns:
                near = difflib.get_close_matches(col, available, n=2)
                hint = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
                problems.append(f"{section}.{f.target}: column '{col}' is not in the source{hint}")
    if problems:
        names = ", ".join(p.name for p in files)
        raise MappingError(
            f"{mapping.path} does not fit {names}:\n  - "
            + "\n  - ".join(problems)
            + f"\n  source columns: {', '.join(available)}"
        )


def _values(df: pd.DataFrame, f: FieldMap) -> pd.Series:
    if f.column is not None:
        return df[f.column]
    if f.template is not None:
        parts = _PLACEHOLDER.split(f.template)  # literal, column, literal, column, ...
        out = pd.Series(parts[0], index=df.index, dtype=object)
        for i, part in enumerate(parts[1:]):
            out = out + (df[part].astype(str) if i % 2 == 0 else part)
        missing = np.zeros(len(df), dtype=bool)
        for col in f.source_columns():
            missing |= df[col].isna().to_numpy()
        return out.where(~missing, np.nan)
    return pd.Series(f.value, index=df.index, dtype=object)


def _numeric(df: pd.DataFrame, f: FieldMap, mapping: Mapping) -> pd.Series:
    """Converted numbers; unparseable text is kept as text for the contract to report."""
    raw = _values(df, f)
    num = pd.to_numeric(raw, errors="coerce")
    try:
        conv = convert(num.astype(float), f.target, f.unit)
    except UnitError as exc:
        raise MappingError(f"{mapping.path}: {f.target}: {exc}") from None
    text = raw.notna() & num.isna()
    if text.any():
        return conv.astype(object).where(~text, raw)
    return conv


def _reduce(values: pd.Series, day: pd.Series, run: pd.Series, how: str) -> pd.Series:
    g = values.groupby(run, sort=False)
    if how != "change_day":
        return getattr(g, how)()
    first = g.transform("first")
    changed = values.ne(first) & values.notna()
    return day.where(changed).groupby(run, sort=False).min()


@dataclass(frozen=True)
class ImportResult:
    """Imported tables plus every source row that could not be placed, with its reason."""

    data: CampaignData
    rejects: pd.DataFrame  # file, line, reason
    rows_in: int


def _per_group(
    df: pd.DataFrame,
    key: str,
    fields: tuple[FieldMap, ...],
    mapping: Mapping,
    violations: list[Violation],
    source: Source,
) -> pd.DataFrame:
    """One row per ``key`` value; numeric fields reduced as the mapping says."""
    group = df[key]
    out = pd.DataFrame(index=pd.Index(group.unique(), name=key))
    for f in fields:
        is_num = f.column is not None and f.target not in ID_FIELDS
        vals = _numeric(df, f, mapping) if is_num else _values(df, f)
        if is_num:
            text = vals.map(lambda v: isinstance(v, str))
            if text.any():
                idx = np.flatnonzero(text.to_numpy())
                violations.append(_violation(source, df, f, idx, vals))
                vals = pd.to_numeric(vals, errors="coerce")
        if f.reduce is not None:
            out[f.target] = _reduce(vals.astype(float), df["day"], group, f.reduce)
            continue
        n_distinct = vals.groupby(group, sort=False).nunique()
        varying = n_distinct[n_distinct > 1]
        if len(varying):
            raise MappingError(
                f"{mapping.path}: {f.target} takes several values within one {key} "
                f"(e.g. {', '.join(map(str, varying.index[:3]))}); add reduce: one of "
                f"{', '.join(REDUCERS)}"
            )
        out[f.target] = vals.groupby(group, sort=False).first()
    return out.reset_index()


def _violation(
    source: Source, df: pd.DataFrame, f: FieldMap, idx: np.ndarray, vals: pd.Series
) -> Violation:
    return Violation(
        source.name,
        f.column,
        f"must be a number (for {f.target}); found text",
        tuple(int(x) for x in df["_line"].to_numpy()[idx[:5]]),
        len(idx),
        tuple(repr(v) for v in vals.iloc[idx[:5]]),
        source.row_word,
    )


def import_mapped(data_path: str | Path, mapping: Mapping) -> ImportResult:
    """Read a foreign file (or folder of files) through ``mapping`` onto the contract.

    Rows without a run id or a usable time are rejected with a reason; everything else
    is converted and then validated exactly like a native campaign folder, with errors
    pointing at the source file's lines.
    """
    data_path = Path(data_path)
    files = _source_files(data_path, mapping)
    df = pd.concat([_read_source(p) for p in files], ignore_index=True)
    _check_columns(df, mapping, files)
    rows_in = len(df)

    run_id = _values(df, mapping.ids["run_id"])
    day_raw = df[mapping.time.column]
    day_num = pd.to_numeric(day_raw, errors="coerce")
    try:
        day = convert(day_num.astype(float), "day", mapping.time.unit)
    except UnitError as exc:
        raise MappingError(f"{mapping.path}: time: {exc}") from None
    reasons = pd.Series("", index=df.index, dtype=object)
    reasons[day_raw.notna() & day_num.isna()] = (
        f"time in column '{mapping.time.column}' is not a number"
    )
    reasons[day_raw.isna()] = f"time column '{mapping.time.column}' is empty"
    reasons[run_id.isna()] = (
        "no run id: "
        + ", ".join(mapping.ids["run_id"].source_columns() or ["(constant)"])
        + " is empty"
    )
    bad = reasons.ne("")
    rejects = pd.DataFrame({"file": df["_file"], "line": df["_line"], "reason": reasons})[bad]

    df = df[~bad].copy()
    df["run_id"] = run_id[~bad].astype(str)
    df["day"] = day[~bad]
    df = df.sort_values(["run_id", "day"], kind="stable").reset_index(drop=True)
    name = ", ".join(p.name for p in files)
    word = "line" if all(p.suffix == ".csv" for p in files) else "row"
    src_rows = Source(name, df["_line"].to_numpy(), word)

    samples = pd.DataFrame({"run_id": df["run_id"], "day": df["day"]})
    for f in mapping.samples:
        samples[f.target] = _numeric(df, f, mapping)

    for k in ("clone_id", "campaign_id", "molecule", "scale"):
        df[k] = _values(df, mapping.ids[k])
    firsts = df.groupby("run_id", sort=False)["_line"].first().to_numpy()
    violations: list[Violation] = []
    run_fields = (mapping.ids["clone_id"], mapping.ids["scale"], *mapping.runs)
    runs = _per_group(df, "run_id", run_fields, mapping, violations, src_rows)
    clone_fields = (mapping.ids["campaign_id"], mapping.ids["molecule"], *mapping.clones)
    clones = _per_group(df, "clone_id", clone_fields, mapping, violations, src_rows)
    raw = {"clones": clones, "runs": runs, "samples": samples}
    sources = {
        "samples": src_rows,
        "runs": Source(name, firsts, word),
        "clones": Source(
            name, df.groupby("clone_id", sort=False)["_line"].first().to_numpy(), word
        ),
    }
    if mapping.outcomes:
        raw["outcomes"] = _per_group(df, "run_id", mapping.outcomes, mapping, violations, src_rows)
        sources["outcomes"] = Source(name, firsts, word)
    where = f"{name} (through mapping {mapping.path.name})"
    valid = validate_tables(raw, sources, where, violations)
    data = CampaignData(
        data_path,
        valid["clones"],
        valid["runs"],
        valid["samples"],
        valid.get("outcomes"),
        None,
        {"source": data_path},
    )
    return ImportResult(data, rejects.reset_index(drop=True), rows_in)

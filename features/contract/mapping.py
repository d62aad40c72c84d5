"""Import mappings: bring a foreign file layout onto the data contract, declaratively.

A mapping is a YAML file (see ``data/mappings/peer_emulator.yaml``, parsed by
:mod:`features.contract.mappingfile`) that says which source column becomes which canonical column
and in which unit it was recorded, how run, clone and campaign ids are formed, and how
per-run values (conditions, outcomes) are read from a long table of samples. No code
changes are needed for a new lab export.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract.censored import EMPTY, FLAGGED, NUMBER, TEXT, parse_cells
from features.contract.checks import token_notes
from features.contract.loader import CampaignData
from features.contract.mappingfile import (
    ID_FIELDS,
    PLACEHOLDER,
    REDUCERS,
    FieldMap,
    Mapping,
    MappingError,
    load_mapping,
)
from features.contract.rejects import DataNote, problem_frame
from features.contract.units import UnitError, convert
from features.contract.validate import validate_tables
from features.contract.violations import Source

__all__ = [
    "ID_FIELDS",
    "REDUCERS",
    "FieldMap",
    "ImportResult",
    "Mapping",
    "MappingError",
    "import_mapped",
    "load_mapping",
]


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
    else:  # cells as written, so that '<LOQ' and 'NA' reach the censored-value reader
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        df = pd.DataFrame({c: df[c].where(df[c].str.strip().ne("")) for c in df.columns})
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
        parts = PLACEHOLDER.split(f.template)  # literal, column, literal, column, ...
        out = pd.Series(parts[0], index=df.index, dtype=object)
        for i, part in enumerate(parts[1:]):
            out = out + (df[part].astype(str) if i % 2 == 0 else part)
        missing = np.zeros(len(df), dtype=bool)
        for col in f.source_columns():
            missing |= df[col].isna().to_numpy()
        return out.where(~missing, np.nan)
    return pd.Series(f.value, index=df.index, dtype=object)


def _numeric(
    df: pd.DataFrame,
    f: FieldMap,
    mapping: Mapping,
    source: Source,
    notes: dict[str, list[DataNote]],
) -> pd.Series:
    """Converted numbers; unparseable text is kept as text for the contract to report.

    Flags and censored values are read *before* the unit conversion, so a limit is halved
    in the unit it was written in: '<0.5' mg/L -> 0.25 mg/L -> 0.00025 g/L. Notes on them
    go to ``notes`` once per source column.
    """
    raw = _values(df, f)
    parsed = parse_cells(raw)
    try:
        conv = convert(parsed.value, f.target, f.unit)
    except UnitError as exc:
        raise MappingError(f"{mapping.path}: {f.target}: {exc}") from None
    if f.column is not None and f.column not in notes:
        notes[f.column] = token_notes(source, f.column, raw, parsed.kind, df.index)
    text = (parsed.kind == TEXT).to_numpy()
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


@dataclass(frozen=True)
class _Sink:
    """Where reading a mapped source reports: the rows' source, run problems, notes."""

    source: Source
    problems: list[pd.DataFrame]
    notes: dict[str, list[DataNote]]


def _per_group(
    df: pd.DataFrame, key: str, fields: tuple[FieldMap, ...], mapping: Mapping, sink: _Sink
) -> pd.DataFrame:
    """One row per ``key`` value; numeric fields reduced as the mapping says.

    Text in a numeric field sets aside the run (or every run of the clone) it belongs to.
    """
    group = df[key]
    out = pd.DataFrame(index=pd.Index(group.unique(), name=key))
    for f in fields:
        is_num = f.column is not None and f.target not in ID_FIELDS
        vals = _numeric(df, f, mapping, sink.source, sink.notes) if is_num else _values(df, f)
        if is_num:
            text = vals.map(lambda v: isinstance(v, str))
            if text.any():
                idx = np.flatnonzero(text.to_numpy())
                rule = f"must be a number (for {f.target})"
                found = "text " + vals.iloc[idx].map(repr)
                where = sink.source.where(idx)
                rank = 0 if key == "clone_id" else 1
                sink.problems.append(
                    problem_frame(where, str(f.column), rule, found, group.iloc[idx], rank)
                )
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


def _time(df: pd.DataFrame, mapping: Mapping) -> tuple[pd.Series, pd.Series]:
    """Culture day of each row, and the reason a row has none ('' when it has one)."""
    parsed = parse_cells(df[mapping.time.column])
    number = parsed.value.where(parsed.kind == NUMBER)
    try:
        day = convert(number, "day", mapping.time.unit)
    except UnitError as exc:
        raise MappingError(f"{mapping.path}: time: {exc}") from None
    col = mapping.time.column
    reasons = pd.Series("", index=df.index, dtype=object)
    reasons[number.isna()] = f"time in column '{col}' is not a number"
    reasons[parsed.kind.isin((EMPTY, FLAGGED))] = f"time column '{col}' is empty"
    return day, reasons


def _placed(df: pd.DataFrame, mapping: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows with a run id and a usable time (sorted by run and day), and the rest rejected."""
    run_id = _values(df, mapping.ids["run_id"])
    day, reasons = _time(df, mapping)
    reasons[run_id.isna()] = (
        "no run id: "
        + ", ".join(mapping.ids["run_id"].source_columns() or ["(constant)"])
        + " is empty"
    )
    bad = reasons.ne("")
    rejects = pd.DataFrame({"file": df["_file"], "line": df["_line"], "reason": reasons})[bad]
    placed = df[~bad].assign(run_id=run_id[~bad].astype(str), day=day[~bad])
    placed = placed.sort_values(["run_id", "day"], kind="stable").reset_index(drop=True)
    return placed, rejects.reset_index(drop=True)


def _tables(
    df: pd.DataFrame, mapping: Mapping, sink: _Sink
) -> tuple[dict[str, pd.DataFrame], dict[str, Source]]:
    """The contract's tables from placed source rows, and where each table's rows are."""
    samples = pd.DataFrame({"run_id": df["run_id"], "day": df["day"]})
    for f in mapping.samples:
        samples[f.target] = _numeric(df, f, mapping, sink.source, sink.notes)
    for k in ("clone_id", "campaign_id", "molecule", "scale"):
        df[k] = _values(df, mapping.ids[k])
    name, word = sink.source.name, sink.source.row_word
    firsts = Source(name, df.groupby("run_id", sort=False)["_line"].first().to_numpy(), word)
    run_fields = (mapping.ids["clone_id"], mapping.ids["scale"], *mapping.runs)
    clone_fields = (mapping.ids["campaign_id"], mapping.ids["molecule"], *mapping.clones)
    raw = {
        "clones": _per_group(df, "clone_id", clone_fields, mapping, sink),
        "runs": _per_group(df, "run_id", run_fields, mapping, sink),
        "samples": samples,
    }
    clone_lines = df.groupby("clone_id", sort=False)["_line"].first().to_numpy()
    sources = {"samples": sink.source, "runs": firsts, "clones": Source(name, clone_lines, word)}
    if mapping.outcomes:
        raw["outcomes"] = _per_group(df, "run_id", mapping.outcomes, mapping, sink)
        sources["outcomes"] = firsts
    return raw, sources


def import_mapped(data_path: str | Path, mapping: Mapping) -> ImportResult:
    """Read a foreign file (or folder of files) through ``mapping`` onto the contract.

    Rows without a run id or a usable time cannot be placed: they are rejected with a
    reason in ``ImportResult.rejects`` (file, line, reason). Everything else is converted
    (censored values first, then units) and validated exactly like a native campaign
    folder: runs that break the contract go to ``data.rejects`` with reasons pointing at
    the source file's lines, and only structural problems raise :class:`ContractError`.
    """
    data_path = Path(data_path)
    files = _source_files(data_path, mapping)
    df = pd.concat([_read_source(p) for p in files], ignore_index=True)
    _check_columns(df, mapping, files)
    rows_in = len(df)
    df, rejects = _placed(df, mapping)
    name = ", ".join(p.name for p in files)
    word = "line" if all(p.suffix == ".csv" for p in files) else "row"
    sink = _Sink(Source(name, df["_line"].to_numpy(), word), [], {})
    raw, sources = _tables(df, mapping, sink)
    notes = [n for column_notes in sink.notes.values() for n in column_notes]
    where = f"{name} (through mapping {mapping.path.name})"
    checked = validate_tables(raw, sources, where, problems=sink.problems, notes=notes)
    valid = checked.tables
    data = CampaignData(
        data_path,
        valid["clones"],
        valid["runs"],
        valid["samples"],
        valid.get("outcomes"),
        None,
        {"source": data_path},
        checked.rejects,
        checked.notes,
    )
    return ImportResult(data, rejects, rows_in)

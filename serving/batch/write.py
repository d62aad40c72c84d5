"""Writing the files of ``clonescout score --out OUT`` (:mod:`serving.batch.pipeline`).

Everything is written in a hidden scratch folder beside ``OUT`` (:func:`scratch_folder`)
and moved into place only once whole (:func:`publish`), so a run that is killed leaves no
partial output file. The per-run table is appended chunk by chunk (:class:`TableWriter`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract.files import write_frame


@dataclass(frozen=True)
class ScoreOutputs:
    """Where ``clonescout score --out OUT`` writes."""

    runs: Path
    clones: Path
    rejects: Path
    summary: Path

    @classmethod
    def for_out(cls, out: Path) -> ScoreOutputs:
        """The four files named after ``OUT`` (a .csv or .parquet path)."""
        if out.suffix not in (".csv", ".parquet"):
            raise ValueError(f"--out {out}: write scores to a .csv or .parquet file")
        stem, ext = out.name[: -len(out.suffix)], out.suffix
        return cls(
            out,
            out.with_name(f"{stem}.clones{ext}"),
            out.with_name(f"{stem}.rejects.csv"),
            out.with_name(f"{stem}.summary.json"),
        )

    def all(self) -> tuple[Path, ...]:
        """Every output file, written or not (the rejects only when a run was rejected)."""
        return (self.runs, self.clones, self.rejects, self.summary)


class TableWriter:
    """Appends chunks of one table to a CSV or Parquet file with a fixed schema."""

    def __init__(self, path: Path):
        self.path = path
        self.schema: pa.Schema | None = None
        self.parquet: pq.ParquetWriter | None = None
        self.columns: list[str] | None = None
        self.rows = 0

    def _schema(self, df: pd.DataFrame) -> pa.Schema:
        fields = []
        for c in df.columns:
            s = df[c]
            if pd.api.types.is_bool_dtype(s):
                fields.append(pa.field(c, pa.bool_()))
            elif pd.api.types.is_numeric_dtype(s):
                fields.append(pa.field(c, pa.float64()))
            else:
                fields.append(pa.field(c, pa.string()))
        return pa.schema(fields)

    def write(self, df: pd.DataFrame) -> None:
        """Append a chunk; the first non-empty chunk fixes the columns and their types."""
        if df.empty:
            return
        if self.columns is None:
            self.columns = list(df.columns)
            self.schema = self._schema(df)
        elif list(df.columns) != self.columns:
            raise AssertionError(f"chunk columns changed: {list(df.columns)} vs {self.columns}")
        if self.path.suffix == ".parquet":
            table = pa.Table.from_pandas(
                _as_schema(df, self.schema), schema=self.schema, preserve_index=False
            )
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(self.path, self.schema)
            self.parquet.write_table(table)
        else:
            df.to_csv(self.path, mode="a", header=self.rows == 0, index=False)
        self.rows += len(df)

    def close(self, empty_columns: list[str]) -> None:
        """Finish the file; with nothing written, an empty table of ``empty_columns``."""
        if self.parquet is not None:
            self.parquet.close()
        elif self.rows == 0:  # nothing scored: a valid, empty table
            empty = pd.DataFrame({c: pd.Series(dtype="str") for c in empty_columns})
            write_frame(empty, self.path)


def _as_schema(df: pd.DataFrame, schema: pa.Schema | None) -> pd.DataFrame:
    """Numbers as float, text as text (a column of nulls in one chunk stays text)."""
    assert schema is not None
    out = {}
    for f in schema:
        s = df[f.name]
        if pa.types.is_float64(f.type):
            out[f.name] = pd.to_numeric(s, errors="coerce").astype(float)
        elif pa.types.is_string(f.type):
            out[f.name] = s.astype("str").where(s.notna(), None)
        else:
            out[f.name] = s
    return pd.DataFrame(out)


@contextmanager
def scratch_folder(outputs: ScoreOutputs) -> Iterator[Path]:
    """A fresh hidden folder beside ``OUT`` to write in; removed when the pass ends."""
    scratch = outputs.runs.parent / f".{outputs.runs.name}.partial"
    shutil.rmtree(scratch, ignore_errors=True)  # left by a run that was killed
    scratch.mkdir(parents=True)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def publish(tmp: dict[Path, Path], outputs: ScoreOutputs, has_rejects: bool) -> None:
    """Move the finished files into place; the summary last (it says the set is whole)."""
    outputs.summary.unlink(missing_ok=True)
    if not has_rejects:
        outputs.rejects.unlink(missing_ok=True)
    for final in (outputs.rejects, outputs.clones, outputs.runs, outputs.summary):
        if tmp[final].exists():
            tmp[final].replace(final)

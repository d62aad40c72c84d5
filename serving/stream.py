"""Score a campaign of any size in chunks of runs, with bounded memory and every run counted.

``clonescout score`` runs this. The runs and clones tables are read whole (one row per run
or clone); the samples table, which is most of the data, is read in record batches with
pyarrow and never held whole:

1. *Preflight* — before the long passes: the tables are found, the output can be written,
   the ranking file and the model load, and the head of every table passes the data
   contract's structural checks. A structural problem stops here, with nothing written.
2. *Partition* — one pass over the samples routes each row to the chunk of its run (runs
   are cut into chunks of ``chunk_runs`` in the order of the runs table; rows of a run id
   that is not in the runs table go to an *orphan* chunk). Chunks go to Arrow IPC files in
   a scratch folder, unless there is a single chunk.
3. *Score* — each chunk goes through the same contract (:func:`features.validate.
   validate_tables`, its reasons naming the original file line), features, model and
   provenance as a whole folder would; broken runs are set aside with their reasons, the
   rest are scored, results appended to the output.
4. *Finish* — clones are pooled and ranked (:mod:`models.ranking`), the run accounting is
   checked (runs in = scored + rejected, or the command fails), and the files are moved into
   place: ``OUT``, ``OUT.clones.*``, ``OUT.rejects.csv`` (when a run was rejected) and
   ``OUT.summary.json``. Until then everything is written in a hidden scratch folder beside
   ``OUT``, so a run that is killed leaves no partial output file.

The same input and model give byte-identical files (no clock, no random order in them).
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from features.assemble import GROUP_COLUMN, featurize, long_frame, run_index
from features.contract import ContractError, Source, Violation
from features.loader import CampaignData, find_tables, read_table, write_frame
from features.rejects import REJECT_COLUMNS
from features.validate import validate_tables
from models.bundle import Bundle
from models.predictor import FLAG_OK, FLAG_RISK, FLAG_UNKNOWN, RISK_GROUPS
from models.ranking import RankingConfig, clone_table, latest_titer

CHUNK_RUNS = 20_000  # ~300k sample rows: a few hundred MB at most while featurised
SAMPLE_BATCH_ROWS = 250_000
PREFLIGHT_ROWS = 2_000
ORPHAN = -1
FLAGS = (FLAG_OK, FLAG_RISK, FLAG_UNKNOWN)


@dataclass(frozen=True)
class ScoreOutputs:
    """Where ``clonescout score --out OUT`` writes."""

    runs: Path
    clones: Path
    rejects: Path
    summary: Path

    @classmethod
    def for_out(cls, out: Path) -> ScoreOutputs:
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
        return (self.runs, self.clones, self.rejects, self.summary)


class Engine(Protocol):
    """Runs the model somewhere else: a long frame in, ``Bundle.score``'s table out."""

    def score(self, frame: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class ServedBundle:
    """The loaded model and what the output says about it."""

    bundle: Bundle
    name: str
    version: str
    uri: str
    explain: bool = True  # per-run reasons (tree SHAP): most of the scoring time
    engine: Engine | None = None  # where the model runs, when not in this process (Spark)

    def provenance(self) -> dict[str, Any]:
        m = self.bundle.manifest
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "model_id": str(m.get("model_id", "")),
            "training_data_hash": str(m.get("training_data_hash", "")),
            "horizon_day": float(self.bundle.featurizer.horizon_day),
        }


@dataclass
class Tally:
    """What the chunks found, gathered for the summary, the ranking and the quality check."""

    runs_in: int = 0
    scored: int = 0
    rejects: list[pd.DataFrame] = field(default_factory=list)
    pooled: list[pd.DataFrame] = field(default_factory=list)  # per-run columns for ranking
    judged: list[pd.DataFrame] = field(default_factory=list)  # fresh runs with outcomes
    flags: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FLAGS, 0))
    seen: int = 0  # scored runs that were in the training set
    has_outcomes: bool = False


# -- reading --------------------------------------------------------------------------------
class Folder:
    """A campaign folder in the data contract, read table by table (samples in batches)."""

    def __init__(self, folder: Path):
        if not folder.is_dir():
            raise ContractError(folder, [Violation(str(folder), None, "is not a folder")])
        self.folder = folder
        self.paths, problems = find_tables(folder)
        if problems:
            raise ContractError(folder, problems)

    def source(self, name: str, positions: np.ndarray | None = None) -> Source:
        base = Source.for_file(self.paths[name].name)
        if positions is None:
            return base
        return Source(base.name, base.locate(np.asarray(positions, dtype=int)), base.row_word)

    def read(self, name: str, nrows: int | None = None) -> pd.DataFrame:
        """A table, or its first ``nrows`` rows (:func:`features.loader.read_table`)."""
        path = self.paths[name]
        try:
            return read_table(path, nrows)
        except Exception as exc:
            raise ContractError(
                self.folder, [Violation(path.name, None, f"cannot be read ({exc})")]
            ) from None

    def sample_batches(self, rows: int = SAMPLE_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The samples table in record batches, in file order (CSV cells as text)."""
        path = self.paths["samples"]
        try:
            if path.suffix == ".parquet":
                # pre_buffer (pyarrow's default) keeps every row group it read: 0.6 GB at 1M runs
                parquet = pq.ParquetFile(path, pre_buffer=False)
                yield from parquet.iter_batches(batch_size=rows)
                return
            with path.open(newline="") as f:
                header = next(csv.reader(f), [])
            text = {c: pa.string() for c in header}
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=16 << 20),
                convert_options=pacsv.ConvertOptions(
                    column_types=text,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    null_values=[],
                ),
            )
            yield from reader
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
            violation = Violation(path.name, None, f"cannot be read ({exc})")
            raise ContractError(self.folder, [violation]) from None

    def sha256(self) -> dict[str, str]:
        out = {}
        for path in sorted(self.paths.values()):
            h = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[path.name] = h.hexdigest()
        return out


def preflight(folder: Folder) -> None:
    """The head of every table through the contract: structural problems stop us here."""
    raw = {name: folder.read(name, PREFLIGHT_ROWS) for name in folder.paths}
    sources = {name: folder.source(name) for name in raw}
    validate_tables(raw, sources, folder.folder, refuse_empty=False)


# -- partitioning ---------------------------------------------------------------------------
class Partition:
    """Sample rows routed to the chunk of their run, spilled to Arrow IPC files."""

    def __init__(self, run_ids: pd.Series, chunk_runs: int, scratch: Path):
        # Arrow's hash tables, not pandas objects: a million ids cost tens of MB, not hundreds
        encoded = pc.dictionary_encode(_text(run_ids))
        self.ids = encoded.dictionary  # distinct run ids, in order of first appearance
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        self.chunk_of_run = np.arange(len(self.ids)) // chunk_runs
        self.row_chunk = self.chunk_of_run[codes]  # chunk of each runs-table row
        self.n_chunks = int(self.chunk_of_run.max()) + 1 if len(self.ids) else 0
        self.scratch = scratch
        self.writers: dict[int, ipc.RecordBatchFileWriter] = {}
        self.memory: dict[int, list[pa.RecordBatch]] = {}
        self.spill = self.n_chunks > 1

    def chunk_of(self, ids: pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Chunk of each id (:data:`ORPHAN` for an id the runs table does not have)."""
        pos = pc.index_in(_text(ids), value_set=self.ids)
        found = pos.is_valid().to_numpy(zero_copy_only=False)
        pos = pos.fill_null(0).to_numpy(zero_copy_only=False)
        return np.where(found, self.chunk_of_run[pos] if len(self.ids) else ORPHAN, ORPHAN)

    def add(self, batch: pa.RecordBatch, first_row: int) -> None:
        if "run_id" not in batch.schema.names:
            raise ContractError(
                self.scratch, [Violation("samples", "run_id", "missing: the column is required")]
            )
        rows = pa.array(np.arange(first_row, first_row + batch.num_rows, dtype=np.int64))
        batch = batch.append_column("_row", rows)
        chunks = self.chunk_of(batch.column("run_id"))
        order = np.argsort(chunks, kind="stable")
        bounds = np.flatnonzero(np.diff(chunks[order])) + 1
        for idx in np.split(order, bounds):
            if len(idx):
                self._put(int(chunks[idx[0]]), batch.take(pa.array(idx)))

    def _put(self, chunk: int, batch: pa.RecordBatch) -> None:
        if not self.spill:
            self.memory.setdefault(chunk, []).append(batch)
            return
        if chunk not in self.writers:
            path = self.scratch / f"chunk{chunk}.arrow"
            self.writers[chunk] = ipc.new_file(str(path), batch.schema)
        self.writers[chunk].write_batch(batch)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers.clear()

    def samples(self, chunk: int) -> pd.DataFrame | None:
        """The chunk's sample rows in file order (column ``_row``: position in the file)."""
        if not self.spill:
            batches = self.memory.pop(chunk, [])
            return pa.Table.from_batches(batches).to_pandas() if batches else None
        path = self.scratch / f"chunk{chunk}.arrow"
        if not path.exists():
            return None
        with pa.memory_map(str(path)) as source:
            table = ipc.open_file(source).read_all()
        path.unlink()
        return table.to_pandas()


def _text(ids: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Ids as Arrow text (numbers as their text, as the contract compares ids)."""
    if isinstance(ids, pd.Series):
        ids = pa.array(ids.astype(str), type=pa.large_string())
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    return ids if pa.types.is_large_string(ids.type) else pc.cast(ids, pa.large_string())


# -- scoring one chunk ----------------------------------------------------------------------
def _rows(df: pd.DataFrame, mask: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    positions = np.flatnonzero(mask)
    return df.iloc[positions].reset_index(drop=True), positions


class ChunkScorer:
    """Contract, features, model and provenance for the runs of one chunk."""

    def __init__(self, served: ServedBundle):
        self.served = served
        self.bundle = served.bundle
        self.data_hash = served.provenance()["training_data_hash"]

    def score(self, data: CampaignData) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(per-run results, rejects, the fresh scored runs with outcomes) of ``data``."""
        fr = featurize(data, transformer=self.bundle.featurizer)
        rejects = fr.rejects[list(REJECT_COLUMNS)]
        if fr.features.empty:
            return pd.DataFrame(), rejects, pd.DataFrame()
        frame = long_frame(data)
        frame = frame[frame["run_id"].isin(fr.features.index)]
        X = fr.features
        if self.served.engine is not None:
            scored = self.served.engine.score(frame)
        else:
            scored = self.bundle.score_features(frame, X, explain=self.served.explain)
        ids = run_index(data).set_index("run_id").reindex(scored["run_id"])
        front = pd.DataFrame(
            {
                "run_id": scored["run_id"].to_numpy(),
                "model_version": self.served.version,
                "clone_id": ids["clone_id"].astype(str).to_numpy(),
                "campaign_id": ids[GROUP_COLUMN].astype(str).to_numpy(),
            }
        )
        titer = latest_titer(data.samples).reindex(scored["run_id"])
        scored = pd.concat([front, scored.drop(columns=["run_id"])], axis=1).assign(
            titer_g_l=titer["titer_g_l"].to_numpy(float),
            titer_day=titer["titer_day"].to_numpy(float),
            training_data_hash=self.data_hash,
        )
        judged = self._judged(scored, data, X)
        return scored, rejects, judged

    def _judged(self, scored: pd.DataFrame, data: CampaignData, X: pd.DataFrame) -> pd.DataFrame:
        """Fresh, known runs with observed outcomes: predictions, naive line, observed."""
        if data.outcomes is None or scored.empty:
            return pd.DataFrame()
        fresh = scored[scored["seen_in_training"].eq("") & scored["flag"].ne(FLAG_UNKNOWN)]
        if fresh.empty:
            return pd.DataFrame()
        ids = fresh["run_id"]
        obs = data.outcomes.set_index("run_id").reindex(ids)
        naive = self.bundle.naive(X).reindex(ids)
        cols: dict[str, Any] = {"run_id": ids.to_numpy()}
        for t in self.bundle.targets:
            cols[f"pred__{t}"] = fresh[t].to_numpy(float)
            if t in obs.columns:
                cols[f"obs__{t}"] = pd.to_numeric(obs[t], errors="coerce").to_numpy(float)
            if t in naive.columns:
                cols[f"naive__{t}"] = naive[t].to_numpy(float)
        return pd.DataFrame(cols)


# -- writing --------------------------------------------------------------------------------
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


# -- the command ----------------------------------------------------------------------------
Progress = Callable[[int, int], None]


@dataclass
class StreamResult:
    """What a scoring pass wrote and found."""

    outputs: ScoreOutputs
    summary: dict[str, Any]
    judged: pd.DataFrame
    rejects: pd.DataFrame
    has_outcomes: bool


def score_folder(
    src: Folder,
    outputs: ScoreOutputs,
    served: ServedBundle,
    ranking: RankingConfig,
    chunk_runs: int = CHUNK_RUNS,
    progress: Progress | None = None,
) -> StreamResult:
    """Score a campaign folder chunk by chunk (see the module docstring).

    ``src`` has passed :func:`preflight` (the caller runs it before loading the model).
    """
    scratch = _scratch(outputs)
    try:
        total = [0]
        chunks = _folder_chunks(src, chunk_runs, scratch, total)
        return _score_chunks(
            chunks, total, src.folder, src.sha256(), outputs, served, ranking, scratch, progress
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _folder_chunks(
    src: Folder, chunk_runs: int, scratch: Path, total: list[int]
) -> Iterator[CampaignData | pd.DataFrame]:
    """The folder's chunks through the contract: kept runs, or the rejects of a chunk.

    Everything held for the whole pass (runs, clones, outcomes tables, the partition) is
    local here, so it is freed as soon as the last chunk is out, before the ranking.
    """
    folder = src.folder
    runs = src.read("runs")
    _give_back_memory()  # the Parquet reader's buffers
    clones = src.read("clones")
    outcomes = src.read("outcomes") if "outcomes" in src.paths else None
    if "run_id" not in runs.columns or "clone_id" not in runs.columns:
        raise ContractError(folder, [Violation(src.paths["runs"].name, "run_id", "missing")])
    total[0] = len(runs)
    part = Partition(runs["run_id"], chunk_runs, scratch)
    start = 0
    for n, batch in enumerate(src.sample_batches()):
        part.add(batch, start)
        start += batch.num_rows
        if n % 8 == 7:
            _give_back_memory()
    part.close()
    _give_back_memory()  # what the pass over the samples freed
    out_chunk = part.chunk_of(outcomes["run_id"]) if outcomes is not None else None
    clone_ids = clones["clone_id"].astype(str) if "clone_id" in clones.columns else None
    for k in [*range(part.n_chunks), ORPHAN]:
        run_mask = part.row_chunk == k if k != ORPHAN else np.zeros(len(runs), dtype=bool)
        r, r_pos = _rows(runs, run_mask)
        raw = {"runs": r}
        sources = {"runs": src.source("runs", r_pos)}
        used = set(r["clone_id"].astype(str))
        if clone_ids is not None:
            c, c_pos = _rows(clones, clone_ids.isin(used).to_numpy())
        else:
            c, c_pos = clones, np.arange(len(clones))
        raw["clones"], sources["clones"] = c, src.source("clones", c_pos)
        s = part.samples(k)
        if s is None:
            s = src.read("samples", 0).head(0).assign(_row=pd.Series(dtype="int64"))
        raw["samples"] = s.drop(columns=["_row"]).reset_index(drop=True)
        sources["samples"] = src.source("samples", s["_row"].to_numpy())
        if outcomes is not None and out_chunk is not None:
            o, o_pos = _rows(outcomes, out_chunk == k)
            raw["outcomes"], sources["outcomes"] = o, src.source("outcomes", o_pos)
        if k == ORPHAN and raw["samples"].empty and raw.get("outcomes", r.head(0)).empty:
            continue
        checked = validate_tables(raw, sources, folder, refuse_empty=False)
        if not checked.tables:  # every run of the chunk was set aside
            yield checked.rejects
            continue
        t = checked.tables
        yield CampaignData(
            folder,
            t["clones"],
            t["runs"],
            t["samples"],
            t.get("outcomes"),
            rejects=checked.rejects,
            notes=checked.notes,
        )


def score_data(
    data: CampaignData,
    outputs: ScoreOutputs,
    served: ServedBundle,
    ranking: RankingConfig,
    chunk_runs: int = CHUNK_RUNS,
    progress: Progress | None = None,
    input_hashes: dict[str, str] | None = None,
) -> StreamResult:
    """Score already-loaded data (a foreign file read through a mapping) chunk by chunk."""
    scratch = _scratch(outputs)
    try:
        ids = data.runs["run_id"].astype(str).to_numpy()
        cut = [ids[i : i + chunk_runs] for i in range(0, len(ids), chunk_runs)]

        def chunks() -> Iterator[CampaignData | pd.DataFrame]:
            if len(data.rejects):
                yield data.rejects
            for part in cut:
                keep = set(part)
                runs = data.runs[data.runs["run_id"].astype(str).isin(keep)]
                clones = data.clones[data.clones["clone_id"].isin(set(runs["clone_id"]))]
                samples = data.samples[data.samples["run_id"].astype(str).isin(keep)]
                outcomes = (
                    None
                    if data.outcomes is None
                    else data.outcomes[data.outcomes["run_id"].astype(str).isin(keep)]
                )
                yield CampaignData(data.folder, clones, runs, samples, outcomes)

        return _score_chunks(
            chunks(),
            [len(data.runs)],
            data.folder,
            input_hashes or {},
            outputs,
            served,
            ranking,
            scratch,
            progress,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _give_back_memory() -> None:
    """Return the freed heap of a finished chunk to the system (glibc keeps it otherwise).

    A chunk allocates and frees a few hundred MB of small arrays; glibc's malloc holds on to
    much of it, so resident memory would ratchet up chunk after chunk. ``malloc_trim(0)``
    (glibc only; elsewhere a no-op) hands it back.
    """
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _scratch(outputs: ScoreOutputs) -> Path:
    scratch = outputs.runs.parent / f".{outputs.runs.name}.partial"
    shutil.rmtree(scratch, ignore_errors=True)  # left by a run that was killed
    scratch.mkdir(parents=True)
    return scratch


POOL_COLUMNS = (
    "clone_id",
    "campaign_id",
    "flag",
    "flag_reason",
    "titer_g_l",
    "titer_day",
    "dsp_yield_pct",
    "dsp_yield_pct_lo90",
    "dsp_yield_pct_hi90",
    *(f"{g}_risk" for g in RISK_GROUPS),
)


def _score_chunks(
    chunks: Iterator[CampaignData | pd.DataFrame],
    total: list[int],  # runs expected (set by the chunk source once it has read them)
    where: Path,
    hashes: dict[str, str],
    outputs: ScoreOutputs,
    served: ServedBundle,
    ranking: RankingConfig,
    scratch: Path,
    progress: Progress | None,
) -> StreamResult:
    scorer = ChunkScorer(served)
    tally = Tally()
    tmp = {p: scratch / p.name for p in outputs.all()}
    runs_out = TableWriter(tmp[outputs.runs])
    done = 0
    for item in chunks:
        if isinstance(item, pd.DataFrame):  # a chunk whose every run was set aside
            tally.rejects.append(item[list(REJECT_COLUMNS)])
            tally.runs_in += int(item["run_id"].nunique())
            done += int(item["run_id"].nunique())
            if progress:
                progress(min(done, total[0]), total[0])
            continue
        tally.runs_in += item.n_runs_in
        tally.has_outcomes |= item.outcomes is not None
        scored, rejects, judged = scorer.score(item)
        tally.rejects.append(rejects)
        if not scored.empty:
            runs_out.write(scored)
            tally.scored += len(scored)
            tally.seen += int(scored["seen_in_training"].ne("").sum())
            for f, n in scored["flag"].value_counts().items():
                tally.flags[str(f)] = tally.flags.get(str(f), 0) + int(n)
            pool = [c for c in POOL_COLUMNS if c in scored.columns]
            pool += [c for c in scored.columns if c.startswith("risk__")]
            tally.pooled.append(scored[pool])
        if not judged.empty:
            tally.judged.append(judged)
        done += item.n_runs_in
        del item, scored, rejects, judged
        _give_back_memory()
        if progress:
            progress(min(done, total[0]), total[0])
    runs_out.close(["run_id"])
    rejects = (
        pd.concat(tally.rejects, ignore_index=True)
        if tally.rejects
        else pd.DataFrame(columns=list(REJECT_COLUMNS))
    )
    if tally.runs_in != tally.scored + len(rejects):
        raise AssertionError(
            f"run accounting broken: {tally.runs_in} runs in, {tally.scored} scored, "
            f"{len(rejects)} rejected"
        )
    pooled = pd.concat(tally.pooled, ignore_index=True) if tally.pooled else None
    clones = clone_table(pooled, ranking) if pooled is not None else pd.DataFrame()
    write_frame(clones, tmp[outputs.clones])
    if len(rejects):
        rejects.to_csv(tmp[outputs.rejects], index=False)
    summary = _summary(where, hashes, outputs, served, ranking, tally, rejects, clones)
    tmp[outputs.summary].write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _publish(tmp, outputs, has_rejects=bool(len(rejects)))
    judged = pd.concat(tally.judged, ignore_index=True) if tally.judged else pd.DataFrame()
    return StreamResult(outputs, summary, judged, rejects, tally.has_outcomes)


def _summary(where, hashes, outputs, served, ranking, tally, rejects, clones) -> dict[str, Any]:
    p = served.bundle.predictor
    limits = p.limit_table()
    ranked = int((clones["status"] == "ranked").sum()) if len(clones) else 0
    return {
        "input": str(where),
        "input_sha256": hashes,
        "runs_in": tally.runs_in,
        "scored": tally.scored,
        "rejected": len(rejects),
        "rejected_by_stage": {
            str(k): int(v) for k, v in rejects["stage"].value_counts().sort_index().items()
        }
        if len(rejects)
        else {},
        "flags": tally.flags,
        "seen_in_training": tally.seen,
        "clones": len(clones),
        "clones_ranked": ranked,
        "clones_unknown": len(clones) - ranked,
        "model": served.provenance(),
        "spec": {"name": p.spec.name, "limits": limits},
        "not_judged": p.not_judged(),
        "ranking": ranking.to_dict(),
        "files": {
            "runs": outputs.runs.name,
            "clones": outputs.clones.name,
            "rejects": outputs.rejects.name if len(rejects) else None,
        },
    }


def _publish(tmp: dict[Path, Path], outputs: ScoreOutputs, has_rejects: bool) -> None:
    """Move the finished files into place; the summary last (it says the set is whole)."""
    outputs.summary.unlink(missing_ok=True)
    if not has_rejects:
        outputs.rejects.unlink(missing_ok=True)
    for final in (outputs.rejects, outputs.clones, outputs.runs, outputs.summary):
        if tmp[final].exists():
            tmp[final].replace(final)


# -- progress -------------------------------------------------------------------------------
def tty_progress(stream: Any = None) -> Progress | None:
    """A one-line progress bar on a terminal; nothing when the output is not a TTY."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None
    t0 = time.monotonic()

    def show(done: int, total: int) -> None:
        rate = done / max(time.monotonic() - t0, 1e-9)
        width = 30
        filled = int(width * done / max(total, 1))
        stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} runs ({rate:,.0f}/s)"
        )
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show

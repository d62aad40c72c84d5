"""Reading a campaign folder for the chunked scorer (:mod:`serving.batch.pipeline`).

The runs and clones tables are read whole; the samples table, most of the data, is read in
record batches with pyarrow (:meth:`Folder.sample_batches`) and routed to the chunk of its
run by a :class:`Partition`, which spills each chunk to an Arrow IPC file when there is more
than one. :func:`preflight` holds the head of every table to the contract before the long
passes.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from features.contract.loader import find_tables, read_table
from features.contract.validate import validate_tables
from features.contract.violations import ContractError, Source, Violation

SAMPLE_BATCH_ROWS = 250_000
PREFLIGHT_ROWS = 2_000
ORPHAN = -1  # the chunk of sample rows whose run id is not in the runs table


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
        """Where table ``name``'s rows come from (``positions``: their rows in the file)."""
        base = Source.for_file(self.paths[name].name)
        if positions is None:
            return base
        return Source(base.name, base.locate(np.asarray(positions, dtype=int)), base.row_word)

    def read(self, name: str, nrows: int | None = None) -> pd.DataFrame:
        """A table, or its first ``nrows`` rows (:func:`features.contract.loader.read_table`)."""
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
        """The SHA-256 of every table file, by file name (the summary's ``input_sha256``)."""
        return {path.name: file_sha256(path) for path in sorted(self.paths.values())}


def file_sha256(path: Path) -> str:
    """The SHA-256 of one file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def preflight(folder: Folder) -> None:
    """The head of every table through the contract: structural problems stop us here."""
    raw = {name: folder.read(name, PREFLIGHT_ROWS) for name in folder.paths}
    sources = {name: folder.source(name) for name in raw}
    validate_tables(raw, sources, folder.folder, refuse_empty=False)


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
        """Route a batch of sample rows (``first_row``: its first row's position in the file)."""
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
        """Finish the spilled files (once every batch is added)."""
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


def give_back_memory() -> None:
    """Return the freed heap of a finished chunk to the system (glibc keeps it otherwise).

    A chunk allocates and frees a few hundred MB of small arrays; glibc's malloc holds on to
    much of it, so resident memory would ratchet up chunk after chunk. ``malloc_trim(0)``
    (glibc only; elsewhere a no-op) hands it back.
    """
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)

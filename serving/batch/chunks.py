"""The chunks of runs a scoring pass goes through, each held to the data contract.

A chunk comes out either as the :class:`features.contract.loader.CampaignData` of its kept
runs, or, when the contract set every one of its runs aside, as the frame of their rejects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract.loader import CampaignData
from features.contract.validate import validate_tables
from features.contract.violations import ContractError, Source, Violation
from serving.batch.read import ORPHAN, Folder, Partition, give_back_memory

Chunk = CampaignData | pd.DataFrame  # the kept runs of a chunk, or the rejects of all of them


class _FolderPass:
    """What one pass over a folder holds throughout: the tables read whole, the partition."""

    def __init__(self, src: Folder, chunk_runs: int, scratch: Path):
        self.src = src
        self.runs = src.read("runs")
        give_back_memory()  # the Parquet reader's buffers
        self.clones = src.read("clones")
        self.outcomes = src.read("outcomes") if "outcomes" in src.paths else None
        if "run_id" not in self.runs.columns or "clone_id" not in self.runs.columns:
            violation = Violation(src.paths["runs"].name, "run_id", "missing")
            raise ContractError(src.folder, [violation])
        self.part = _partition(src, self.runs["run_id"], chunk_runs, scratch)
        outcomes = self.outcomes
        self.out_chunk = self.part.chunk_of(outcomes["run_id"]) if outcomes is not None else None
        clones = self.clones
        self.clone_ids = clones["clone_id"].astype(str) if "clone_id" in clones.columns else None

    def tables(self, k: int) -> tuple[dict[str, pd.DataFrame], dict[str, Source]]:
        """Chunk ``k``'s rows of every table, and where each row came from in its file."""
        src, runs, clones = self.src, self.runs, self.clones
        run_mask = self.part.row_chunk == k if k != ORPHAN else np.zeros(len(runs), dtype=bool)
        r, r_pos = _rows(runs, run_mask)
        raw = {"runs": r}
        sources = {"runs": src.source("runs", r_pos)}
        used = set(r["clone_id"].astype(str))
        if self.clone_ids is not None:
            c, c_pos = _rows(clones, self.clone_ids.isin(used).to_numpy())
        else:
            c, c_pos = clones, np.arange(len(clones))
        raw["clones"], sources["clones"] = c, src.source("clones", c_pos)
        s = self.part.samples(k)
        if s is None:
            s = src.read("samples", 0).head(0).assign(_row=pd.Series(dtype="int64"))
        raw["samples"] = s.drop(columns=["_row"]).reset_index(drop=True)
        sources["samples"] = src.source("samples", s["_row"].to_numpy())
        if self.outcomes is not None and self.out_chunk is not None:
            o, o_pos = _rows(self.outcomes, self.out_chunk == k)
            raw["outcomes"], sources["outcomes"] = o, src.source("outcomes", o_pos)
        return raw, sources


def _partition(src: Folder, run_ids: pd.Series, chunk_runs: int, scratch: Path) -> Partition:
    """One pass over the samples, each row routed to the chunk of its run."""
    part = Partition(run_ids, chunk_runs, scratch)
    start = 0
    for n, batch in enumerate(src.sample_batches()):
        part.add(batch, start)
        start += batch.num_rows
        if n % 8 == 7:
            give_back_memory()
    part.close()
    give_back_memory()  # what the pass over the samples freed
    return part


def _rows(df: pd.DataFrame, mask: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of ``df`` where ``mask`` holds (index reset), and their positions in ``df``."""
    positions = np.flatnonzero(mask)
    return df.iloc[positions].reset_index(drop=True), positions


def folder_chunks(src: Folder, chunk_runs: int, scratch: Path, total: list[int]) -> Iterator[Chunk]:
    """The folder's chunks through the contract: kept runs, or the rejects of a chunk.

    ``total[0]`` is set to the number of runs once the runs table is read (before the first
    chunk). Everything held for the whole pass (runs, clones, outcomes tables, the
    partition) is local here, so it is freed as soon as the last chunk is out, before the
    ranking.
    """
    whole = _FolderPass(src, chunk_runs, scratch)
    total[0] = len(whole.runs)
    for k in [*range(whole.part.n_chunks), ORPHAN]:
        raw, sources = whole.tables(k)
        if k == ORPHAN and raw["samples"].empty and raw.get("outcomes", raw["runs"].head(0)).empty:
            continue
        checked = validate_tables(raw, sources, src.folder, refuse_empty=False)
        if not checked.tables:  # every run of the chunk was set aside
            yield checked.rejects
            continue
        t = checked.tables
        yield CampaignData(
            src.folder,
            t["clones"],
            t["runs"],
            t["samples"],
            t.get("outcomes"),
            rejects=checked.rejects,
            notes=checked.notes,
        )


def data_chunks(data: CampaignData, chunk_runs: int) -> Iterator[Chunk]:
    """Already-loaded data cut into chunks of runs (its load rejects first, when it has any)."""
    ids = data.runs["run_id"].astype(str).to_numpy()
    cut = [ids[i : i + chunk_runs] for i in range(0, len(ids), chunk_runs)]
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

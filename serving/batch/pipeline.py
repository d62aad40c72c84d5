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
3. *Score* — each chunk goes through the same contract (:func:`features.contract.validate.
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

import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.contract.files import write_frame
from features.contract.loader import CampaignData
from features.contract.rejects import REJECT_COLUMNS, check_run_accounting
from models.flags import FLAGS, LIMIT_RISK_PREFIX
from models.predictor import RISK_GROUPS
from models.ranking import RankingConfig, clone_table
from serving.batch.chunks import Chunk, data_chunks, folder_chunks
from serving.batch.read import Folder, give_back_memory
from serving.batch.score import ChunkScorer, ServedBundle
from serving.batch.write import ScoreOutputs, TableWriter, publish, scratch_folder

CHUNK_RUNS = 20_000  # ~300k sample rows: a few hundred MB at most while featurised
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
Progress = Callable[[int, int], None]


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
    log: dict[str, Any] | None = None  # the prediction log's part of the summary
    drift: dict[str, Any] | None = None  # each campaign's drift verdict (models.drift)

    def add_rejected(self, rejects: pd.DataFrame) -> int:
        """Count a chunk whose every run was set aside; returns its number of runs."""
        self.rejects.append(rejects[list(REJECT_COLUMNS)])
        n_runs = int(rejects["run_id"].nunique())
        self.runs_in += n_runs
        return n_runs

    def add_scored(self, scored: pd.DataFrame) -> None:
        """Count a chunk's scored runs and keep the per-run columns the ranking pools."""
        self.scored += len(scored)
        self.seen += int(scored["seen_in_training"].ne("").sum())
        for f, n in scored["flag"].value_counts().items():
            self.flags[str(f)] = self.flags.get(str(f), 0) + int(n)
        pool = [c for c in POOL_COLUMNS if c in scored.columns]
        pool += [c for c in scored.columns if c.startswith(LIMIT_RISK_PREFIX)]
        self.pooled.append(scored[pool])


@dataclass
class StreamResult:
    """What a scoring pass wrote and found."""

    outputs: ScoreOutputs
    summary: dict[str, Any]
    judged: pd.DataFrame
    rejects: pd.DataFrame
    has_outcomes: bool


@dataclass(frozen=True)
class _Job:
    """One scoring pass: what it reads (for the summary), the model, where it writes."""

    where: Path
    hashes: dict[str, str]  # SHA-256 of each input file, by name
    outputs: ScoreOutputs
    served: ServedBundle
    ranking: RankingConfig
    scratch: Path


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
    with scratch_folder(outputs) as scratch:
        total = [0]  # set by the chunks once the runs table is read
        chunks = folder_chunks(src, chunk_runs, scratch, total)
        job = _Job(src.folder, src.sha256(), outputs, served, ranking, scratch)
        return _score_chunks(job, chunks, total, progress)


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
    with scratch_folder(outputs) as scratch:
        job = _Job(data.folder, input_hashes or {}, outputs, served, ranking, scratch)
        return _score_chunks(job, data_chunks(data, chunk_runs), [len(data.runs)], progress)


def _score_chunks(
    job: _Job, chunks: Iterable[Chunk], total: list[int], progress: Progress | None
) -> StreamResult:
    """Score every chunk and append its runs to the output, then finish the files.

    ``total[0]``: the runs expected (set by the chunk source once it has read them).
    """
    scorer = ChunkScorer(job.served)
    tally = Tally()
    tmp = {p: job.scratch / p.name for p in job.outputs.all()}
    runs_out = TableWriter(tmp[job.outputs.runs])
    done = 0
    for item in chunks:
        if isinstance(item, pd.DataFrame):  # a chunk whose every run was set aside
            done += tally.add_rejected(item)
        else:
            done += _score_chunk(scorer, item, tally, runs_out)
            del item
            give_back_memory()
        if progress:
            progress(min(done, total[0]), total[0])
    runs_out.close(["run_id"])
    tally.log = _log_summary(job.served)
    tally.drift = scorer.drift_summary()
    return _finish(job, tally, tmp)


def _log_summary(served: ServedBundle) -> dict[str, Any] | None:
    """What the summary says of the prediction log: where, how many rows, what failed."""
    sink = served.log
    if not sink.active:
        return None
    out: dict[str, Any] = {"where": sink.where, "logged": sink.logged}
    if sink.failed:
        out.update(not_logged=sink.failed, error=sink.last_error)
    return out


def _score_chunk(
    scorer: ChunkScorer, data: CampaignData, tally: Tally, runs_out: TableWriter
) -> int:
    """Score one chunk, append its scored runs and count it; returns its number of runs."""
    tally.runs_in += data.n_runs_in
    tally.has_outcomes |= data.outcomes is not None
    scored, rejects, judged = scorer.score(data)
    tally.rejects.append(rejects)
    if not scored.empty:
        runs_out.write(scored)
        tally.add_scored(scored)
    if not judged.empty:
        tally.judged.append(judged)
    return data.n_runs_in


def _finish(job: _Job, tally: Tally, tmp: dict[Path, Path]) -> StreamResult:
    """Check the run accounting, rank the clones, write the other files and publish all."""
    outputs = job.outputs
    rejects = (
        pd.concat(tally.rejects, ignore_index=True)
        if tally.rejects
        else pd.DataFrame(columns=list(REJECT_COLUMNS))
    )
    check_run_accounting(tally.runs_in, tally.scored, len(rejects), "scored")
    pooled = pd.concat(tally.pooled, ignore_index=True) if tally.pooled else None
    clones = clone_table(pooled, job.ranking) if pooled is not None else pd.DataFrame()
    write_frame(clones, tmp[outputs.clones])
    if len(rejects):
        rejects.to_csv(tmp[outputs.rejects], index=False)
    summary = _summary(job, tally, rejects, clones)
    tmp[outputs.summary].write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    publish(tmp, outputs, has_rejects=bool(len(rejects)))
    judged = pd.concat(tally.judged, ignore_index=True) if tally.judged else pd.DataFrame()
    return StreamResult(outputs, summary, judged, rejects, tally.has_outcomes)


def _summary(
    job: _Job, tally: Tally, rejects: pd.DataFrame, clones: pd.DataFrame
) -> dict[str, Any]:
    """The content of ``OUT.summary.json``: input, run accounting, flags, model, spec, files."""
    outputs, served = job.outputs, job.served
    p = served.bundle.predictor
    limits = p.limit_table()
    ranked = int((clones["status"] == "ranked").sum()) if len(clones) else 0
    return {
        "input": str(job.where),
        "input_sha256": job.hashes,
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
        "prediction_log": tally.log,
        "drift": tally.drift,
        "spec": {"name": p.spec.name, "limits": limits},
        "not_judged": p.not_judged(),
        "model_quality": served.bundle.quality(),
        "ranking": job.ranking.to_dict(),
        "files": {
            "runs": outputs.runs.name,
            "clones": outputs.clones.name,
            "rejects": outputs.rejects.name if len(rejects) else None,
        },
    }


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

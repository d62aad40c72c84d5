"""Scoring one chunk of runs for :mod:`serving.batch.pipeline`: features, model and provenance.

A chunk arrives already held to the data contract (:mod:`serving.batch.chunks`). The
model runs in this process (:meth:`models.bundle.Bundle.score_features`) or, through an
:class:`Engine`, somewhere else (Spark).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from features.assemble import GROUP_COLUMN, featurize, long_frame, run_index
from features.contract.loader import CampaignData
from features.contract.rejects import REJECT_COLUMNS
from models.bundle import Bundle
from models.drift import CampaignStats, drift_summary
from models.flags import FLAG_UNKNOWN
from models.ranking import latest_titer
from serving.predlog import ID_KEYS, LogSink, ModelIdentity, prediction_ids, rows

LOG_BATCH_ROWS = 2_000  # log rows made and inserted at a time (one transaction per chunk)


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
    reasons: str = "all"  # which runs get reasons (tree SHAP; models.reasons.REASON_MODES)
    engine: Engine | None = None  # where the model runs, when not in this process (Spark)
    log: LogSink = field(default_factory=LogSink)  # where every prediction is appended
    source: str = ""  # the log's source ('ui' for the pages); default cli, or spark

    @property
    def identity(self) -> ModelIdentity:
        """The model as a prediction id and a log row name it."""
        data_hash = str(self.bundle.manifest.get("training_data_hash", ""))
        return ModelIdentity(self.name, self.version, data_hash)

    def provenance(self) -> dict[str, Any]:
        """The model as the summary names it: registry name, version, id, training data."""
        m = self.bundle.manifest
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "model_id": str(m.get("model_id", "")),
            "training_data_hash": str(m.get("training_data_hash", "")),
            "horizon_day": float(self.bundle.featurizer.horizon_day),
        }


class ChunkScorer:
    """Features, model and provenance for the runs of one chunk (held to the contract)."""

    def __init__(self, served: ServedBundle):
        self.served = served
        self.bundle = served.bundle
        self.data_hash = served.provenance()["training_data_hash"]
        self.source = served.source or ("cli" if served.engine is None else "spark")
        ref = self.bundle.drift_reference
        self.drift = CampaignStats(ref.columns) if ref is not None else None

    def score(self, data: CampaignData) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(per-run results, rejects, the fresh scored runs with outcomes) of ``data``."""
        fr = featurize(data, transformer=self.bundle.featurizer)
        rejects = fr.rejects[list(REJECT_COLUMNS)]
        if fr.features.empty:
            return pd.DataFrame(), rejects, pd.DataFrame()
        frame = long_frame(data)
        frame = frame[frame["run_id"].isin(fr.features.index)]
        X = fr.features
        prints = self.bundle.input_prints(frame, X.index)
        if self.served.engine is not None:
            scored = self.served.engine.score(frame)
        else:
            scored = self.bundle.score_features(frame, X, self.served.reasons, prints=prints)
        ids = run_index(data).set_index("run_id").reindex(scored["run_id"])
        run_ids = scored["run_id"].astype(str).to_numpy()
        fingerprint = prints.reindex(run_ids).astype(str).to_numpy()
        front = pd.DataFrame(
            {
                "run_id": scored["run_id"].to_numpy(),
                "prediction_id": prediction_ids(self.served.identity, run_ids, fingerprint),
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
            input_fingerprint=fingerprint,
        )
        if self.served.log.active:
            self._log(scored)
        if self.drift is not None:
            self.drift.add_scored(X.reindex(run_ids), scored)
        judged = self._judged(scored, data, X)
        return scored, rejects, judged

    def drift_summary(self) -> dict[str, Any]:
        """Each scored campaign's drift verdict (:mod:`models.drift`), for the summary."""
        return drift_summary(self.bundle.drift_reference, self.drift)

    def _log(self, scored: pd.DataFrame) -> None:
        """Append the chunk's predictions to the log (one transaction, made in slices)."""
        identity = self.served.identity

        def batches() -> Iterator[list[dict[str, Any]]]:  # a chunk's rows never all at once
            for start in range(0, len(scored), LOG_BATCH_ROWS):
                part = scored.iloc[start : start + LOG_BATCH_ROWS]
                ids = {c: part[c].astype(str).tolist() for c in ID_KEYS}
                columns = {c: part[c].to_numpy() for c in part.columns}
                yield rows(columns, ids, identity, self.source)

        self.served.log.append(batches(), len(scored))

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
        for c in ("clone_id", "campaign_id", "titer_g_l"):  # for the clone-choice figures
            if c in fresh.columns:
                cols[c] = fresh[c].to_numpy()
        if "final_titer_g_l" in obs.columns:
            cols["obs__final_titer_g_l"] = pd.to_numeric(
                obs["final_titer_g_l"], errors="coerce"
            ).to_numpy(float)
        for t in self.bundle.targets:
            cols[f"pred__{t}"] = fresh[t].to_numpy(float)
            if t in obs.columns:
                cols[f"obs__{t}"] = pd.to_numeric(obs[t], errors="coerce").to_numpy(float)
            if t in naive.columns:
                cols[f"naive__{t}"] = naive[t].to_numpy(float)
        return pd.DataFrame(cols)

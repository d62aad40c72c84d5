"""The scoring engine behind the HTTP API: runs as JSON in, one result per run out.

It does what ``clonescout score`` does to a folder — hold each run to the data contract,
featurise up to the horizon, predict with intervals, risk, flag and reasons — on runs that
arrive as JSON, with every run accounted for: it comes back ``scored`` or ``rejected`` with
its reasons, never dropped. A run's result does not depend on the other runs it is sent
(or batched) with.

Each run is held to the contract on its own (:mod:`serving.intake`, with a fast path for
plain runs); featurising and predicting then run once for the whole batch, and the answers
are built by :mod:`serving.answers`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.assemble import (
    GROUP_COLUMN,
    NO_SAMPLES,
    long_frame,
    run_index,
    too_late,
    too_late_reason,
)
from features.contract.loader import CampaignData
from features.contract.rejects import check_run_accounting
from models.bundle import Bundle
from models.drift import DRIFT_FIELDS, drift_summary, scored_stats
from models.flags import FLAG_UNKNOWN
from models.predictor import RISK_GROUPS
from models.ranking import DEFAULT_RANKING, clone_table, latest_titer, load_ranking
from serving.answers import (
    clone_places,
    limit_risks,
    num,
    predictions,
    ranking_frame,
    split_list,
    target_explanation,
)
from serving.intake import Prepared, prepare, runs_from_campaign
from serving.predlog import LogRefused, LogSink, ModelIdentity, PredictionLog, prediction_ids, rows

# runs_from_campaign is imported from here by the CLI, the tests, the bench and the README
__all__ = ["Engine", "LogRefused", "ServedModel", "load_engine", "runs_from_campaign"]


@dataclass(frozen=True)
class ServedModel:
    """What a response says about the model that answered it."""

    name: str
    version: str
    uri: str
    alias: str | None
    data_hash: str
    horizon_day: float

    @property
    def identity(self) -> ModelIdentity:
        return ModelIdentity(self.name, self.version, self.data_hash)

    def ref(self) -> dict[str, Any]:
        """The ``model`` object of every answer (the API's ``ModelRef``)."""
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "data_hash": self.data_hash,
            "horizon_day": self.horizon_day,
        }


class Engine:
    """A loaded model bundle and the served model's identity; scores JSON runs.

    ``log``, ``log_required``, ``log_error``: the prediction log, whether it is required,
    why it could not be opened (:class:`serving.predlog.LogSink`, kept as ``log_tally``).
    """

    def __init__(
        self,
        bundle: Bundle,
        served: ServedModel,
        log: PredictionLog | None = None,
        log_required: bool = False,
        log_error: str = "",
    ):
        self.bundle = bundle
        self.served = served
        self.ref = served.ref()
        self.log_tally = LogSink(log, log_required, log_error)
        p = bundle.predictor
        self._limits = [(g, lim) for g in RISK_GROUPS for lim in p.judged(g)[0]]
        self._not_judged = p.not_judged()
        self.ranking = load_ranking(DEFAULT_RANKING)

    def warm_up(self, threads: int = 1) -> None:
        """Each booster with its worker's share of the cores, and a first call paid now."""
        from serving.examples import EXAMPLE_RUN

        self.bundle.predictor.set_threads(threads)
        self._score([EXAMPLE_RUN], source=None)  # not a prediction anyone asked for: unlogged

    # -- scoring ---------------------------------------------------------------------
    def score(self, runs: list[dict[str, Any]], reasons: str = "all") -> list[dict[str, Any]]:
        """One result per run, in order: ``scored`` or ``rejected`` with reasons.

        ``reasons``: which scored runs carry their top reasons (``all``, ``flagged``: at risk
        or near the edge of experience, ``none``); the others have an empty ``reasons``.
        """
        return self._score(runs, reasons)[0]

    def _score(
        self, runs: list[dict[str, Any]], reasons: str = "all", source: str | None = "api"
    ) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """:meth:`score`, and the features of the scored runs (index: internal keys).

        ``source``: what the prediction log records the runs under (None: not logged).
        """
        prep = prepare(runs)
        results: list[dict[str, Any] | None] = [None] * len(runs)
        scored, X = self._predict(prep, runs, reasons, source)
        for i, res in scored.items():
            results[i] = res
        for i, (stage, why) in prep.rejected.items():
            results[i] = self._rejected(runs[i]["run_id"], stage, why)
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # accounting: no run may vanish between the contract and the model
            raise AssertionError(f"runs at positions {missing} were neither scored nor rejected")
        return results, X  # type: ignore[return-value]

    def _rejected(self, run_id: str, stage: str, reasons: list[str]) -> dict[str, Any]:
        return {
            "status": "rejected",
            "run_id": run_id,
            "stage": stage,
            "reasons": reasons,
            "model": self.ref,
        }

    def _predict(
        self, prep: Prepared, runs: list[dict[str, Any]], reasons: str, source: str | None
    ) -> tuple[dict[int, dict[str, Any]], pd.DataFrame]:
        """Answers of the scored runs by position, and their features (index: internal keys).

        A run with no sample up to the horizon is moved to ``prep.rejected`` instead. Every
        scored run is logged (as ``source``) before any answer is returned.
        """
        if not prep.keys:
            return {}, pd.DataFrame()
        b = self.bundle
        X = b.features(prep.frame)
        late = too_late(X)
        why = too_late_reason(b.featurizer.horizon_day)
        for key in late:
            prep.rejected[prep.keys[key]] = ("features", [why])
        if len(late):
            X = X.drop(index=late)
        if X.empty:
            return {}, X
        cols = b.predictor.predict_columns(X, reasons=reasons)
        mine = [runs[prep.keys[k]] for k in X.index]
        real_ids = [str(r["run_id"]) for r in mine]
        prints = b.input_prints(prep.frame, X.index).astype(str).tolist()
        seen = b.seen(pd.Series(prints, index=X.index), real_ids)
        ids = {
            "run_id": real_ids,
            "clone_id": [str(r["clone"]["clone_id"]) for r in mine],
            "campaign_id": [str(r["clone"]["campaign_id"]) for r in mine],
            "input_fingerprint": prints,
            "prediction_id": prediction_ids(self.served.identity, real_ids, prints),
        }
        if source is not None:  # before any answer: a required log refuses them all
            logged = rows({**cols, "seen_in_training": seen}, ids, self.served.identity, source)
            self.log_tally.append([logged], len(logged))
        results = {}
        for j, key in enumerate(X.index):
            i = prep.keys[key]
            res = self._scored(runs[i], cols, j, seen[j])
            res["prediction_id"] = ids["prediction_id"][j]
            res["notes"] = prep.notes.get(i, [])
            results[i] = res
        return results, X

    def _scored(
        self, run: dict[str, Any], cols: dict[str, Any], j: int, seen: str
    ) -> dict[str, Any]:
        """The ``scored`` answer for ``run``: row ``j`` of the predicted columns ``cols``."""
        reasons = cols["reasons"][j] if "reasons" in cols else ""
        extrapolation = cols["extrapolation"][j]
        return {
            "status": "scored",
            "run_id": run["run_id"],
            "clone_id": run["clone"]["clone_id"],
            "campaign_id": run["clone"]["campaign_id"],
            "flag": str(cols["flag"][j]),
            "flag_reason": str(cols["flag_reason"][j]),
            "predictions": predictions(cols, j, self.bundle.targets),
            "risk": {g: num(cols[f"{g}_risk"][j]) for g in RISK_GROUPS if f"{g}_risk" in cols},
            "limits": limit_risks(cols, j, self._limits),
            "not_judged": list(self._not_judged),
            "reasons": json.loads(reasons) if reasons else {},
            "applicability": str(cols["applicability"][j]),
            "t2": float(cols["t2"][j]),
            "dmodx": float(cols["dmodx"][j]),
            "missing_families": split_list(str(cols["missing_families"][j])),
            "extrapolation": json.loads(extrapolation) if extrapolation else {},
            "seen_in_training": seen,
            "model": self.ref,
        }

    # -- a whole campaign ---------------------------------------------------------------
    def score_campaign(self, data: CampaignData, reasons: str = "all") -> dict[str, Any]:
        """Every run of a loaded campaign scored or rejected, and its clones ranked."""
        index = run_index(data)
        runs = [
            {"run_id": r, "clone": {"clone_id": c, "campaign_id": k}}
            for r, c, k in index[["run_id", "clone_id", GROUP_COLUMN]].astype(str).to_numpy()
        ]
        key_of = {r["run_id"]: f"r{i:07d}" for i, r in enumerate(runs)}
        frame = long_frame(data)
        frame["run_id"] = frame["run_id"].astype(str).map(key_of)
        present = set(frame["run_id"])
        prep = Prepared(frame, {}, {}, {})
        for i, key in enumerate(key_of.values()):
            if key in present:
                prep.keys[key] = i
            else:
                prep.rejected[i] = ("features", [NO_SAMPLES])
        scored, X = self._predict(prep, runs, reasons, "api_campaign")
        results = [scored[i] for i in sorted(scored)]
        mine = [scored[prep.keys[k]] for k in X.index]
        columns = {k: [r[k] for r in mine] for k in DRIFT_FIELDS}
        drift = drift_summary(
            self.bundle.drift_reference, scored_stats(self.bundle.drift_reference, X, columns)
        )
        rejects = [self._rejected(runs[i]["run_id"], s, r) for i, (s, r) in prep.rejected.items()]
        rejects += [
            self._rejected(str(r.run_id), str(r.stage), [str(r.reason)])
            for r in data.rejects.itertuples()
        ]
        last = latest_titer(data.samples)  # by the campaign's own run ids
        runs_in = data.n_runs_in
        check_run_accounting(runs_in, len(results), len(rejects), "scored")
        return {
            "model": self.ref,
            "runs_in": runs_in,
            "scored": len(results),
            "rejected": len(rejects),
            "clones": self.rank(results, last),
            "drift": drift,
            "rejects": rejects,
            "results": results,
        }

    def rank(self, results: list[dict[str, Any]], titer: pd.DataFrame) -> list[dict[str, Any]]:
        """Clones pooled and ranked as ``clonescout score`` ranks them (:mod:`models.ranking`).

        ``titer``: per run id, the latest measured titer and its day.
        """
        if not results:
            return []
        return clone_places(clone_table(ranking_frame(results, titer), self.ranking))

    # -- explaining --------------------------------------------------------------------
    def explain(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run's result and, for a scored run, every feature's contribution per target."""
        results, X = self._score([run])
        result = results[0]
        explanations: list[dict[str, Any]] = []
        if result["status"] != "scored" or result["flag"] == FLAG_UNKNOWN:
            return {"model": self.ref, "run": result, "explanations": explanations}
        p = self.bundle.predictor
        A = p.matrix(X)
        for t, m in p.models.items():
            explanations.append(target_explanation(t, m, A, p.domain.median, p.feature_names))
        return {"model": self.ref, "run": result, "explanations": explanations}

    # -- model card --------------------------------------------------------------------
    @functools.cached_property
    def info(self) -> dict[str, Any]:
        """The model card (fixed while the model is served: built once)."""
        b, p = self.bundle, self.bundle.predictor
        spec = {"name": p.spec.name, "limits": p.limit_table()}
        manifest = json.loads(json.dumps(b.manifest, default=str))
        return {
            "model": self.ref,
            "alias": self.served.alias,
            "targets": b.targets,
            "metrics": manifest.get("cv_metrics", {}),
            "spec": spec,
            "features": list(p.feature_names),
            "required_families": p.required,
            "training_runs": len(b.training_runs),
            "manifest": manifest,
        }


def load_engine(
    model_uri: str,
    log: PredictionLog | None = None,
    log_required: bool = False,
    log_error: str = "",
) -> Engine:
    """Resolve ``model_uri`` (an alias is pinned to its version once) and load the bundle.

    ``log``, ``log_required``, ``log_error``: the prediction log (see :class:`Engine`).
    """
    from models.registry import load_pinned

    pinned = load_pinned(model_uri)
    bundle = pinned.bundle
    served = ServedModel(
        name=pinned.name,
        version=str(pinned.version or pinned.uri),
        uri=pinned.uri,
        alias=pinned.alias,
        data_hash=str(bundle.manifest.get("training_data_hash", "")),
        horizon_day=float(bundle.featurizer.horizon_day),
    )
    return Engine(bundle, served, log, log_required, log_error)

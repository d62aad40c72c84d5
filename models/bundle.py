"""The one model bundle: features, per-target models, intervals, risk, domain, reasons.

Everything fitted on data lives here and is saved without pickle: XGBoost's own UBJ
format for the trees, JSON and CSV for the rest, the product spec as YAML. ``Bundle.score``
maps the long sample frame of :func:`features.assemble.long_frame` to one row per run.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from features.assemble import too_late, too_late_reason
from features.contract.spec import load_spec
from features.early import EarlyFeatures
from models.applicability import ApplicabilityDomain
from models.conformal import load_calibrators, save_calibrators
from models.drift import DriftReference
from models.estimators import TargetModel
from models.fingerprint import by_content, fingerprints, seen_in_training
from models.flags import FLAG_REJECTED
from models.packed import SAMPLES_COLUMN, unpack
from models.predictor import Predictor
from models.process import FOLDER as PROCESS_FOLDER
from models.process import ProcessModel
from models.titerline import TiterLine

__all__ = ["Bundle", "ClonescoutModel"]


@dataclass
class Bundle:
    """All fitted parts of a clonescout model."""

    featurizer: EarlyFeatures
    predictor: Predictor
    spec_path: Path
    manifest: dict
    training_runs: dict[str, str] = field(default_factory=dict)  # run_id -> fingerprint
    process: ProcessModel | None = None  # what-if under other conditions (models.process)

    @property
    def targets(self) -> list[str]:
        return self.predictor.targets

    @functools.cached_property
    def _training_content(self) -> dict[str, str]:
        """Fingerprint -> training run, built once (every scored batch looks runs up in it)."""
        return by_content(self.training_runs)

    def quality(self) -> dict:
        """What the nested evaluation found, as a campaign lead reads it.

        Each target's learner families (weights, and why), and the clone choice of yield
        and expected product on held-out campaigns beside PLS, the titer rank and (twin
        data) the noise-free truth. Empty parts for bundles trained before they were
        recorded; a bundle from before blends shows its one family with weight 1.
        """
        families = {
            t: {
                "family": sel["family"],
                "label": sel.get("label", sel["family"]),
                "weights": sel.get("weights", {sel["family"]: 1.0}),
                "why": sel["why"],
            }
            for t, sel in self.manifest.get("model_families", {}).items()
        }
        keep = ("pairwise", "pairs", "pairwise_all", "top10_in_top10", "top10_in_top20")
        choice = {}
        for what, block in self.manifest.get("cv_metrics", {}).get("decision", {}).items():
            choice[what] = {"noise_gap": block["noise_gap"], "best_by": block["best_by"]}
            for name in ("model", "pls", "titer_rank", "truth"):
                if name in block:
                    choice[what][name] = {k: block[name][k] for k in keep}
        return {"families": families, "clone_choice": choice}

    @functools.cached_property
    def drift_reference(self) -> DriftReference | None:
        """What a scored campaign's drift is judged against; None in bundles from before."""
        ref = self.manifest.get("drift_reference")
        return DriftReference.from_dict(ref) if ref else None

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.featurizer.transform(frame)

    def naive(self, X: pd.DataFrame) -> pd.DataFrame:
        """Predictions of the titer-only baseline stored at training (none without titer)."""
        lines = self.manifest.get("naive_baseline", {})
        out = {t: TiterLine.from_dict(m).predict(X) for t, m in lines.items()}
        return pd.DataFrame(out, index=X.index)

    def score(self, frame: pd.DataFrame, reasons: str = "all", top_k: int = 3) -> pd.DataFrame:
        """One row per run: predictions, intervals, risks, domain, flag, reasons, provenance."""
        return self.score_features(frame, self.features(frame), reasons, top_k)

    def score_features(
        self,
        frame: pd.DataFrame,
        X: pd.DataFrame,
        reasons: str = "all",
        top_k: int = 3,
        prints: pd.Series | None = None,
    ) -> pd.DataFrame:
        """:meth:`score` when the features ``X`` of ``frame``'s runs are already computed.

        ``prints``: the runs' :meth:`input_prints`, when the caller has them.
        """
        out = self.predictor.predict(X, reasons=reasons, top_k=top_k)
        prints = self.input_prints(frame, X.index) if prints is None else prints.reindex(X.index)
        out["seen_in_training"] = self.seen(prints)
        out["model_id"] = self.manifest.get("model_id", "")
        return out.reset_index()

    def seen_in_training(
        self, frame: pd.DataFrame, runs: pd.Index, run_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Per run of ``runs`` (ids in ``frame``): how it relates to the training runs.

        "" when not seen (:func:`models.fingerprint.seen_in_training`). ``run_ids`` are the
        ids the runs are known by outside, when ``frame`` holds internal keys instead (the
        HTTP engine's); by default ``runs`` themselves.
        """
        return self.seen(self.input_prints(frame, runs), run_ids)

    def input_prints(self, frame: pd.DataFrame, runs: pd.Index) -> pd.Series:
        """Fingerprint of each run of ``runs`` (ids in ``frame``): what the model read of it."""
        return fingerprints(frame, self.featurizer).reindex(runs)

    def seen(self, prints: pd.Series, run_ids: Sequence[str] | None = None) -> list[str]:
        """:meth:`seen_in_training` from the runs' :meth:`input_prints`."""
        if run_ids is not None:
            prints = pd.Series(prints.to_numpy(), index=list(run_ids))
        return seen_in_training(prints, self.training_runs, self._training_content)

    def score_packed(
        self, packed: pd.DataFrame, reasons: str = "all", top_k: int = 3
    ) -> pd.DataFrame:
        """Score packed runs (:mod:`models.packed`): one output row per input row, in order.

        Runs with no sample at or before the horizon (the batch's own rule,
        :func:`features.assemble.too_late`), or whose id appears twice in the batch, come
        back with ``flag = "rejected"``, the reason in ``flag_reason`` and no numbers.
        """
        ids = packed["run_id"].astype(str).reset_index(drop=True)
        dup = ids.duplicated(keep=False).to_numpy()
        long = unpack(packed[~dup].reset_index(drop=True))
        X = self.features(long) if len(long) else None
        if X is not None:  # the batch's own rule for what is scorable: a sample up to the horizon
            X = X.drop(index=too_late(X))
        if X is not None and len(X):
            frame = long[long["run_id"].isin(X.index)]
            scored = self.score_features(frame, X, reasons, top_k).set_index("run_id")
        else:  # nothing scorable: the columns of an empty score
            scored = self._no_scores(reasons, top_k)
        out = scored.reindex(ids)
        out.index = pd.RangeIndex(len(ids))
        missing = ~ids.isin(scored.index).to_numpy()
        out.loc[missing, "flag"] = FLAG_REJECTED
        why = np.where(
            dup,
            "run id appears more than once in this batch",
            too_late_reason(self.featurizer.horizon_day),
        )
        out.loc[missing, "flag_reason"] = why[missing]
        for c in out.columns:
            if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
                out[c] = out[c].where(out[c].notna(), "")
        out["model_id"] = self.manifest.get("model_id", "")
        out.insert(0, "run_id", ids.to_numpy())
        return out

    def _no_scores(self, reasons: str, top_k: int) -> pd.DataFrame:
        """An empty score table with the columns (and dtypes) a real one has."""
        names = self.predictor.feature_names
        X = pd.DataFrame(np.nan, index=pd.Index(["_"], name="run_id"), columns=names, dtype=float)
        frame = pd.DataFrame({"run_id": ["_"], "day": [0.0]})
        return self.score_features(frame, X, reasons, top_k).set_index("run_id").iloc[:0]

    # -- persistence ------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        p = self.predictor
        for t, m in p.models.items():
            m.save(folder, t)
        save_calibrators(p.intervals, folder)
        (folder / "featurizer.json").write_text(json.dumps(self.featurizer.to_dict()))
        (folder / "domain.json").write_text(json.dumps(p.domain.to_dict()))
        p.risk_residuals.to_csv(folder / "risk_residuals.csv", index=False)
        shutil.copyfile(self.spec_path, folder / "spec.yaml")
        model_state = {
            "feature_names": p.feature_names,
            "required_families": p.required,
            "horizon_day": p.horizon_day,
            "constants": p.constants,
        }
        (folder / "predictor.json").write_text(json.dumps(model_state, indent=2))
        (folder / "training_runs.json").write_text(json.dumps(self.training_runs))
        (folder / "manifest.json").write_text(json.dumps(self.manifest, indent=2, default=str))
        if self.process is not None:
            self.process.save(folder / PROCESS_FOLDER)
        return folder

    @classmethod
    def load(cls, folder: Path) -> Bundle:
        manifest = json.loads((folder / "manifest.json").read_text())
        state = json.loads((folder / "predictor.json").read_text())
        predictor = Predictor(
            feature_names=list(state["feature_names"]),
            models={t: TargetModel.load(folder, t) for t in manifest["targets"]},
            intervals=load_calibrators(folder),
            risk_residuals=pd.read_csv(folder / "risk_residuals.csv"),
            spec=load_spec(folder / "spec.yaml"),
            domain=ApplicabilityDomain.from_dict(json.loads((folder / "domain.json").read_text())),
            required={k: list(v) for k, v in state["required_families"].items()},
            horizon_day=float(state["horizon_day"]),
            constants={k: float(v) for k, v in state.get("constants", {}).items()},
        )
        return cls(
            featurizer=EarlyFeatures.from_dict(
                json.loads((folder / "featurizer.json").read_text())
            ),
            predictor=predictor,
            spec_path=folder / "spec.yaml",
            manifest=manifest,
            training_runs=json.loads((folder / "training_runs.json").read_text()),
            process=ProcessModel.load(folder / PROCESS_FOLDER)
            if (folder / PROCESS_FOLDER / "process.json").exists()
            else None,
        )


class ClonescoutModel(PythonModel):
    """MLflow pyfunc wrapper: one row per run out, for either input layout.

    The input is the long sample frame (several rows per run), or one row per run with the
    samples packed as JSON in ``samples_json`` (:mod:`models.packed`), which is what Spark's
    ``spark_udf`` sends: then the output rows match the input rows one to one.
    """

    def load_context(self, context: PythonModelContext) -> None:
        self.bundle = Bundle.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: object, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        params = params or {}
        # "reasons" (all | flagged | none); "explain" is the older boolean (all | none)
        reasons = str(params.get("reasons") or ("all" if params.get("explain", True) else "none"))
        if SAMPLES_COLUMN in model_input.columns:
            return self.bundle.score_packed(model_input, reasons=reasons)
        if "day" not in model_input.columns:
            raise ValueError(
                "input has neither a 'day' column (long layout: one row per sample with "
                f"run_id, day and measurements) nor '{SAMPLES_COLUMN}' (packed layout: one row "
                "per run, its samples as a JSON list of records)"
            )
        return self.bundle.score(model_input, reasons=reasons)

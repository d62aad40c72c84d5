"""The one model bundle: features, per-target XGBoost, intervals, risk, domain, reasons.

Everything fitted on data lives here and is saved without pickle: XGBoost's own UBJ
format for the trees, JSON for the rest, the product spec as YAML. ``Bundle.score`` maps
the long sample frame of :func:`features.assemble.long_frame` to one row per run.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from features.early import EarlyFeatures
from features.spec import ProductSpec, load_spec
from models.applicability import OUTSIDE, ApplicabilityDomain
from models.conformal import out_of_spec_probability
from models.estimators import TargetModel
from models.reasons import sentences

LEVELS = (0.8, 0.9)
RISK_THRESHOLD = 0.5
FLAG_OK, FLAG_RISK, FLAG_UNKNOWN = "ok", "at risk", "unknown"


@dataclass
class Bundle:
    """All fitted parts of a clonescout model."""

    featurizer: EarlyFeatures
    models: dict[str, TargetModel]
    halfwidths: dict[str, dict[str, float]]  # target -> {"0.8": w, "0.9": w}
    residuals: pd.DataFrame  # held-out residual vectors (observed - predicted) per target
    spec: ProductSpec
    spec_path: Path
    domain: ApplicabilityDomain
    manifest: dict

    @property
    def targets(self) -> list[str]:
        return list(self.models)

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.featurizer.transform(frame)

    def predict_features(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {t: m.predict(X.to_numpy(np.float32)) for t, m in self.models.items()},
            index=X.index,
        )

    def naive(self, X: pd.DataFrame) -> pd.DataFrame:
        """Predictions of the titer-only baseline stored at training."""
        out = {}
        for t, m in self.manifest.get("naive_baseline", {}).items():
            x = X[m["feature"]].fillna(m["fill"]).to_numpy(float)
            out[t] = m["intercept"] + m["slope"] * x
        return pd.DataFrame(out, index=X.index)

    def risk(self, pred: pd.DataFrame, group: str) -> np.ndarray | None:
        group_limits = self.spec.glycans if group == "glycans" else self.spec.downstream
        limits = [lim for lim in group_limits if lim.attribute in pred.columns]
        if not limits:
            return None
        cols = [lim.attribute for lim in limits]
        lo = np.array([lim.min for lim in limits])
        hi = np.array([lim.max for lim in limits])
        return out_of_spec_probability(
            pred[cols].to_numpy(), self.residuals[cols].to_numpy(), lo, hi
        )

    def score(self, frame: pd.DataFrame, explain: bool = True, top_k: int = 3) -> pd.DataFrame:
        """One row per run: predictions, intervals, risks, domain status, flag, reasons."""
        X = self.features(frame)
        pred = self.predict_features(X)
        out = pd.DataFrame(index=X.index)
        for t in self.targets:
            out[t] = pred[t]
            for level in LEVELS:
                w = self.halfwidths[t][str(level)]
                pct = round(level * 100)
                out[f"{t}_lo{pct}"] = pred[t] - w
                out[f"{t}_hi{pct}"] = pred[t] + w
        risks = {g: self.risk(pred, g) for g in ("glycans", "downstream")}
        for g, r in risks.items():
            if r is not None:
                out[f"{g}_risk"] = r
        t2, dmodx, status = self.domain.score(X.to_numpy(float))
        out["t2"], out["dmodx"], out["applicability"] = t2, dmodx, status
        at_risk = np.zeros(len(out), dtype=bool)
        for r in risks.values():
            if r is not None:
                at_risk |= np.nan_to_num(r) >= RISK_THRESHOLD
        out["flag"] = np.where(
            status == OUTSIDE, FLAG_UNKNOWN, np.where(at_risk, FLAG_RISK, FLAG_OK)
        )
        if explain:
            out["reasons"] = self._reasons(X, top_k)
        out["model_id"] = self.manifest.get("model_id", "")
        return out.reset_index()

    def _reasons(self, X: pd.DataFrame, top_k: int) -> list[str]:
        names = list(X.columns)
        values = X.to_numpy(float)
        per_target = {t: m.contributions(values) for t, m in self.models.items()}
        medians = self.domain.median
        out = []
        for i in range(len(X)):
            doc = {
                t: sentences(c[i], values[i], medians, names, t, top_k)
                for t, c in per_target.items()
            }
            out.append(json.dumps(doc, ensure_ascii=False))
        return out

    # -- persistence ------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for t, m in self.models.items():
            m.save(folder, t)
        (folder / "featurizer.json").write_text(json.dumps(self.featurizer.to_dict()))
        (folder / "domain.json").write_text(json.dumps(self.domain.to_dict()))
        (folder / "intervals.json").write_text(json.dumps(self.halfwidths, indent=2))
        self.residuals.to_csv(folder / "residuals.csv", index=False)
        shutil.copyfile(self.spec_path, folder / "spec.yaml")
        (folder / "manifest.json").write_text(json.dumps(self.manifest, indent=2, default=str))
        return folder

    @classmethod
    def load(cls, folder: Path) -> Bundle:
        manifest = json.loads((folder / "manifest.json").read_text())
        models = {t: TargetModel.load(folder, t) for t in manifest["targets"]}
        return cls(
            featurizer=EarlyFeatures.from_dict(
                json.loads((folder / "featurizer.json").read_text())
            ),
            models=models,
            halfwidths=json.loads((folder / "intervals.json").read_text()),
            residuals=pd.read_csv(folder / "residuals.csv"),
            spec=load_spec(folder / "spec.yaml"),
            spec_path=folder / "spec.yaml",
            domain=ApplicabilityDomain.from_dict(json.loads((folder / "domain.json").read_text())),
            manifest=manifest,
        )


class ClonescoutModel(PythonModel):
    """MLflow pyfunc wrapper: input = long sample frame, output = one row per run."""

    def load_context(self, context: PythonModelContext) -> None:
        self.bundle = Bundle.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: object, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        explain = bool((params or {}).get("explain", True))
        return self.bundle.score(model_input, explain=explain)

"""The process model: how a clone's outcomes move with the process conditions it runs under.

The culture model of :mod:`models.predictor` reads a run's own early samples, which do not
exist for a condition nobody has run. Process selection needs another question answered:
given what is known about a clone before or after its runs, what would it give under
*these* set points? The process model answers it in two parts:

- a population model per outcome, from the clone's screening assays (and its molecule)
  plus the run's process factors, fitted on every run of the training history, so that
  condition effects and clone x condition interactions are learnt from the clones that
  ran under several conditions;
- an *anchor*: when the clone has measured outcomes (its Ambr runs), each outcome's
  prediction moves by the clone's mean held-out residual on those runs, shrunk towards
  zero by how much of the residual is a clone effect rather than run-to-run noise
  (the empirical-Bayes weight tau^2 / (tau^2 + sigma^2 / n) of a random-intercept model).

Its uncertainty is empirical, never assumed Gaussian: joint residual vectors of held-out
campaigns (grouped CV), one table without an anchor and one with a one-run anchor (every
ordered pair of runs of a clone: anchor on one, predict the other). With two or more
anchor runs the one-run table overstates the spread a little: it errs on the wide side.
Expected purified product (titer x purification yield) and the probability of meeting
every spec limit are read off the same draws, so they are consistent with each other.
The training history's range of each factor is the box the model may be asked about;
outside it, or outside the applicability domain of its feature space, it gives no number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.applicability import OUTSIDE, ApplicabilityDomain
from models.bounds import clip
from models.conformal import out_of_spec_probability
from models.estimators import TargetModel

TITER = "final_titer_g_l"
YIELD = "dsp_yield_pct"
LEVEL = 0.80  # central interval reported with each number
FOLDER = "process"


@dataclass
class ProcessModel:
    """Fitted population models, anchor weights, residual tables, box and domain."""

    clone_columns: list[str]  # numeric clone assays
    categories: dict[str, list[str]]  # text clone column -> the levels seen (one-hot)
    factors: list[str]  # run condition columns that varied in training
    box: dict[str, tuple[float, float]]  # training range of each factor
    optional: list[str]  # factors that may be empty (e.g. no temperature shift)
    reference: dict[str, float]  # the condition most training runs shared (the platform)
    targets: list[str]
    models: dict[str, TargetModel]
    domain: ApplicabilityDomain
    residuals: pd.DataFrame  # held-out residual vectors, no anchor
    anchored_residuals: pd.DataFrame  # held-out residual vectors, one-run anchor
    tau2: dict[str, float]  # variance of the clone effect, per target
    sigma2: dict[str, float]  # run-to-run residual variance within a clone, per target
    metrics: dict = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)  # run columns never varied

    # -- features ---------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        onehot = [f"{c}={lv}" for c, levels in self.categories.items() for lv in levels]
        return [*self.clone_columns, *onehot, *self.factors]

    def matrix(self, clones: pd.DataFrame, conditions: pd.DataFrame) -> np.ndarray:
        """Rows of clone assays and conditions (aligned by position) as the model's matrix."""
        n = len(conditions)
        parts = [clones.reindex(columns=self.clone_columns).to_numpy(float)]
        for col, levels in self.categories.items():
            v = clones[col].astype(str).to_numpy() if col in clones else np.full(n, "")
            parts.append(np.column_stack([(v == lv).astype(float) for lv in levels]))
        parts.append(conditions.reindex(columns=self.factors).to_numpy(float))
        return np.column_stack(parts)

    def unseen_levels(self, clone: pd.Series) -> list[str]:
        """Text clone values (e.g. a molecule) the training history never had."""
        return [
            f"{col} = {clone.get(col)!r} (training had {', '.join(levels)})"
            for col, levels in self.categories.items()
            if str(clone.get(col)) not in levels
        ]

    # -- predictions ------------------------------------------------------------------
    def point(self, A: np.ndarray) -> dict[str, np.ndarray]:
        return {t: clip(m.predict(A).astype(float), t) for t, m in self.models.items()}

    def anchor_weight(self, target: str, n_runs: int) -> float:
        """Share of a clone's mean residual over ``n_runs`` runs that is its own effect."""
        if n_runs <= 0:
            return 0.0
        tau2, sigma2 = self.tau2[target], self.sigma2[target]
        return float(tau2 / (tau2 + sigma2 / n_runs)) if tau2 + sigma2 > 0 else 0.0

    def anchor(
        self, clone: pd.Series, runs: pd.DataFrame, outcomes: pd.DataFrame | None
    ) -> tuple[dict[str, float], dict[str, int]]:
        """Offsets per target from the clone's measured runs, and the runs each one used."""
        offsets = {t: 0.0 for t in self.targets}
        used = {t: 0 for t in self.targets}
        if outcomes is None or runs.empty:
            return offsets, used
        measured = runs[["run_id"]].merge(outcomes, on="run_id", how="inner")
        if measured.empty:
            return offsets, used
        conds = runs.set_index("run_id").loc[measured["run_id"]].reset_index()
        clones = pd.DataFrame([clone] * len(conds)).reset_index(drop=True)
        pred = self.point(self.matrix(clones, conds))
        for t in self.targets:
            if t not in measured:
                continue
            resid = measured[t].to_numpy(float) - pred[t]
            resid = resid[~np.isnan(resid)]
            used[t] = len(resid)
            if len(resid):
                offsets[t] = self.anchor_weight(t, len(resid)) * float(resid.mean())
        return offsets, used

    def draws(self, anchored: bool) -> pd.DataFrame:
        """The residual vectors that stand for the predictive distribution."""
        table = self.anchored_residuals if anchored else self.residuals
        return table[self.targets].dropna()

    def in_domain(self, A: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Per row: inside the applicability domain, and why not (empty when inside)."""
        t2, dmodx, status = self.domain.score(A)
        inside = status != OUTSIDE
        why = [
            "" if ok else f"outside the model's experience: {self.domain.explain(a, b)}"
            for ok, a, b in zip(inside, t2, dmodx, strict=True)
        ]
        return inside, why

    def outside_box(self, conditions: pd.DataFrame) -> list[str]:
        """Per row, the factors outside the training box or given where none may be missing."""
        out = []
        for _, row in conditions.iterrows():
            bad = []
            for f in self.factors:
                v = row.get(f, np.nan)
                lo, hi = self.box[f]
                if pd.isna(v):
                    if f not in self.optional:
                        bad.append(f"{f} missing (training always set it)")
                elif not lo - 1e-9 <= float(v) <= hi + 1e-9:
                    bad.append(f"{f} = {float(v):g} outside the training range {lo:g}-{hi:g}")
            out.append("; ".join(bad))
        return out

    def distribution(
        self, point: dict[str, np.ndarray], offsets: dict[str, float], anchored: bool
    ) -> dict[str, np.ndarray]:
        """Predictive draws (rows x draws) of every target around the anchored points."""
        res = self.draws(anchored)
        return {
            t: clip(point[t][:, None] + offsets[t] + res[t].to_numpy(float)[None, :], t)
            for t in self.targets
        }

    def meets(self, draws: dict[str, np.ndarray], limits) -> np.ndarray:
        """Per row and draw: every judged limit met (the draws of :meth:`distribution`)."""
        ok = None
        for lim in limits:
            if lim.attribute in draws:
                d = draws[lim.attribute]
                inside = (d >= lim.min) & (d <= lim.max)
                ok = inside if ok is None else ok & inside
        return np.ones(1, bool) if ok is None else ok

    def spec_probability(
        self, point: dict[str, np.ndarray], offsets: dict[str, float], anchored: bool, limits
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """P(every judged limit met) per row, and P(each limit missed) on its own."""
        res = self.draws(anchored)
        judged = [lim for lim in limits if lim.attribute in self.targets]
        cols = [lim.attribute for lim in judged]
        P = np.column_stack([point[c] + offsets[c] for c in cols])
        lo = np.array([lim.min for lim in judged])
        hi = np.array([lim.max for lim in judged])
        p_out = out_of_spec_probability(P, res[cols].to_numpy(float), lo, hi)
        each = {
            c: out_of_spec_probability(P[:, [j]], res[[c]].to_numpy(float), lo[[j]], hi[[j]])
            for j, c in enumerate(cols)
        }
        return 1.0 - p_out, each

    # -- persistence ------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for t, m in self.models.items():
            m.save(folder, t)
        self.residuals.to_csv(folder / "residuals.csv", index=False)
        self.anchored_residuals.to_csv(folder / "anchored_residuals.csv", index=False)
        state = {
            k: getattr(self, k)
            for k in (
                "clone_columns",
                "categories",
                "factors",
                "box",
                "optional",
                "reference",
                "targets",
                "tau2",
                "sigma2",
                "metrics",
                "constants",
            )
        }
        state["domain"] = self.domain.to_dict()
        (folder / "process.json").write_text(json.dumps(state, indent=2, default=_json))
        return folder

    @classmethod
    def load(cls, folder: Path) -> ProcessModel:
        s = json.loads((folder / "process.json").read_text())
        return cls(
            clone_columns=list(s["clone_columns"]),
            categories={k: list(v) for k, v in s["categories"].items()},
            factors=list(s["factors"]),
            box={k: (float(v[0]), float(v[1])) for k, v in s["box"].items()},
            optional=list(s["optional"]),
            reference={k: _float(v) for k, v in s["reference"].items()},
            targets=list(s["targets"]),
            models={t: TargetModel.load(folder, t) for t in s["targets"]},
            domain=ApplicabilityDomain.from_dict(s["domain"]),
            residuals=pd.read_csv(folder / "residuals.csv"),
            anchored_residuals=pd.read_csv(folder / "anchored_residuals.csv"),
            tau2={k: float(v) for k, v in s["tau2"].items()},
            sigma2={k: float(v) for k, v in s["sigma2"].items()},
            metrics=s.get("metrics", {}),
            constants=dict(s.get("constants", {})),
        )


def _json(v: object) -> object:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def _float(v: object) -> float:
    return float("nan") if v is None else float(v)  # type: ignore[arg-type]

"""The process model: how a clone's outcomes move with the process conditions it runs under.

The culture model of :mod:`models.predictor` reads a run's own early samples, which do not
exist for a condition nobody has run. Process selection needs another question answered:
given what is known about a clone before or after its runs, what would it give under
*these* set points? The process model answers it in two parts:

- a population model per outcome, from the clone's screening assays (and its molecule)
  plus the run's process factors, fitted on every run of the training history, so that
  condition effects and clone x condition interactions are learnt from the clones that
  ran under several conditions; it is the mean of a few members that differ only in their
  seed (:mod:`training.process` says why: a recommendation is the top of the surface, and
  one model's top moves with its seed);
- an *anchor*: when the clone has measured outcomes (its Ambr runs), each outcome's
  prediction moves by the clone's mean held-out residual on those runs, shrunk towards
  zero by how much of the residual is a clone effect rather than run-to-run noise
  (the empirical-Bayes weight tau^2 / (tau^2 + sigma^2 / n) of a random-intercept model).

Its uncertainty is empirical, never assumed Gaussian: joint residual vectors of held-out
campaigns (grouped CV), one table without an anchor and one with a one-run anchor (every
ordered pair of runs of a clone: anchor on one, predict the other). With two or more
anchor runs the one-run table overstates the spread a little: it errs on the wide side.
Expected purified product (titer x purification yield) and the probability of meeting
every spec limit are read off the same draws, so they are consistent with each other; the
draws and the spec verdicts follow the one rule of :mod:`models.spec_risk`.
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
from models.estimators import TargetModel
from models.spec_risk import predictive_draws

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
    # the clone x condition Gaussian process of purified product (models.nextexp)
    surface: dict[str, float] = field(default_factory=dict)
    # further members of each target's mean (``models`` is the first); none before issue 24
    members: list[dict[str, TargetModel]] = field(default_factory=list)
    # held-out calibration of predicted gains (training.process.gain_calibration); none before
    # issue 24
    gain_calibration: dict = field(default_factory=dict)
    # titer and yield models fitted on bootstrap samples of campaigns (models.gains); none
    # before issue 24
    bootstrap: list[dict[str, TargetModel]] = field(default_factory=list)

    # -- features ---------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        onehot = [f"{c}={lv}" for c, levels in self.categories.items() for lv in levels]
        return [*self.clone_columns, *onehot, *self.factors]

    def matrix(self, clones: pd.DataFrame | pd.Series, conditions: pd.DataFrame) -> np.ndarray:
        """The model's matrix: clone assays beside the conditions.

        ``clones`` is one clone (a Series, used for every row) or a row per condition.
        """
        return feature_matrix(self.clone_columns, self.categories, self.factors, clones, conditions)

    def unseen_levels(self, clone: pd.Series) -> list[str]:
        """Text clone values (e.g. a molecule) the training history never had."""
        return [
            f"{col} = {clone.get(col)!r} (training had {', '.join(levels)})"
            for col, levels in self.categories.items()
            if str(clone.get(col)) not in levels
        ]

    # -- predictions ------------------------------------------------------------------
    def point(self, A: np.ndarray) -> dict[str, np.ndarray]:
        """Each target's prediction: the mean of its members, within the target's bounds."""
        every = [self.models, *self.members]
        return {
            t: clip(np.mean([m[t].predict(A).astype(float) for m in every], axis=0), t)
            for t in self.targets
        }

    def points(self, A: np.ndarray) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
        """:meth:`point`, and titer and yield by each bootstrap model (:mod:`models.gains`)."""
        boot = [
            {t: clip(w[t].predict(A).astype(float), t) for t in (TITER, YIELD)}
            for w in self.bootstrap
        ]
        return self.point(A), boot

    def anchor_weight(self, target: str, n_runs: int) -> float:
        """Share of a clone's mean residual over ``n_runs`` runs that is its own effect."""
        return shrink_weight(self.tau2[target], self.sigma2[target], n_runs)

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
        pred = self.point(self.matrix(clone, conds))
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
        """Per row, the factors outside the training box or given where none may be missing.

        Checked a factor at a time over every row; words are written only for rows that
        break a rule (a candidate grid has hundreds of rows and few such).
        """
        bad: list[list[str]] = [[] for _ in range(len(conditions))]
        for f in self.factors:
            v = (
                pd.to_numeric(conditions[f], errors="coerce").to_numpy(float)
                if f in conditions
                else np.full(len(conditions), np.nan)
            )
            lo, hi = self.box[f]
            missing = np.isnan(v)
            outside = ~missing & ((v < lo - 1e-9) | (v > hi + 1e-9))
            for i in np.flatnonzero(missing if f not in self.optional else np.zeros_like(missing)):
                bad[i].append(f"{f} missing (training always set it)")
            for i in np.flatnonzero(outside):
                bad[i].append(f"{f} = {v[i]:g} outside the training range {lo:g}-{hi:g}")
        return ["; ".join(b) for b in bad]

    def distribution(
        self,
        point: dict[str, np.ndarray],
        offsets: dict[str, float],
        anchored: bool,
        targets: tuple[str, ...] | None = None,
    ) -> dict[str, np.ndarray]:
        """Predictive draws (rows x draws) of each target (default: all) around the points."""
        res = self.draws(anchored)
        return {
            t: predictive_draws(point[t] + offsets[t], res[t].to_numpy(float), t)
            for t in (self.targets if targets is None else targets)
        }

    # -- persistence ------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for t, m in self.models.items():
            m.save(folder, t)
        for k, member in enumerate(self.members, start=1):
            (folder / f"member{k}").mkdir(exist_ok=True)
            for t, m in member.items():
                m.save(folder / f"member{k}", t)
        for k, world in enumerate(self.bootstrap):
            (folder / f"bootstrap{k}").mkdir(exist_ok=True)
            for t, m in world.items():
                m.save(folder / f"bootstrap{k}", t)
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
                "surface",
                "gain_calibration",
            )
        }
        state["domain"] = self.domain.to_dict()
        state["members"] = 1 + len(self.members)
        state["bootstrap"] = len(self.bootstrap)
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
            surface={k: float(v) for k, v in s.get("surface", {}).items()},
            gain_calibration=dict(s.get("gain_calibration", {})),
            bootstrap=[
                {t: TargetModel.load(folder / f"bootstrap{k}", t) for t in (TITER, YIELD)}
                for k in range(int(s.get("bootstrap", 0)))
            ],
            members=[
                {t: TargetModel.load(folder / f"member{k}", t) for t in s["targets"]}
                for k in range(1, int(s.get("members", 1)))
            ],
        )


def shrink_weight(tau2: float, sigma2: float, n_runs: int) -> float:
    """Empirical-Bayes share of a mean residual over ``n_runs`` runs that is the clone's own.

    >>> [round(shrink_weight(3.0, 1.0, n), 3) for n in (0, 1, 3)], shrink_weight(0.0, 1.0, 2)
    ([0.0, 0.75, 0.9], 0.0)
    """
    if n_runs <= 0 or tau2 + sigma2 <= 0:
        return 0.0
    return float(tau2 / (tau2 + sigma2 / n_runs))


def feature_matrix(
    clone_columns: list[str],
    categories: dict[str, list[str]],
    factors: list[str],
    clones: pd.DataFrame | pd.Series,
    conditions: pd.DataFrame,
) -> np.ndarray:
    """Clone assays, one-hot text columns and process factors as one float matrix."""
    n = len(conditions)
    if isinstance(clones, pd.Series):
        clones = pd.DataFrame([clones]).iloc[np.zeros(n, int)].reset_index(drop=True)
    parts = [clones.reindex(columns=clone_columns).to_numpy(float)]
    for col, levels in categories.items():
        v = clones[col].astype(str).to_numpy() if col in clones else np.full(n, "")
        parts.append(np.column_stack([(v == lv).astype(float) for lv in levels]))
    parts.append(conditions.reindex(columns=factors).to_numpy(float))
    return np.column_stack(parts)


def _json(v: object) -> object:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def _float(v: object) -> float:
    return float("nan") if v is None else float(v)  # type: ignore[arg-type]

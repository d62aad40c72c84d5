"""From a feature table to what a scientist reads: numbers, intervals, risk, flag, reasons.

The same :class:`Predictor` scores the held-out folds of the nested evaluation and, inside
the logged bundle, every run a user scores: what is evaluated is what is deployed.

A run is ``unknown`` when it lies outside the applicability domain (beyond the 99% limit of
held-out T² or DModX), lacks a measurement family the model relies on, or differs in a
condition that never varied in training (a pH set point, a scale, a medium the training
runs all shared: the model dropped that column and cannot know its effect). An unknown run
gets no confident number: its predictions, intervals and risks are empty, its
``flag_reason`` says which limit or which family, and the model's extrapolated point
predictions are kept apart in the ``extrapolation`` column, marked as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.contract.spec import Limit, ProductSpec
from models.applicability import BORDERLINE, OUTSIDE, ApplicabilityDomain
from models.bounds import clip
from models.conformal import LEVELS, IntervalCalibrator
from models.estimators import TargetModel, shap_matrix
from models.families import missing_required
from models.flags import FLAG_OK, FLAG_RISK, FLAG_UNKNOWN, at_risk, limit_risk_column
from models.reasons import REASON_MODES, TEXT, reasons_json, sentence_table
from models.spec_risk import spec_probabilities

RISK_GROUPS = ("glycans", "downstream")


def interval_columns(target: str) -> list[str]:
    return [f"{target}_{side}{round(lv * 100)}" for lv in LEVELS for side in ("lo", "hi")]


def limit_side(lim: Limit, predicted: float) -> str:
    """The side of ``lim`` a prediction is nearer to (or beyond), as a scientist says it.

    >>> limit_side(Limit("g0f_pct", 30.0, 53.0, "% of N-glycans"), 50.0)
    'g0f_pct above 53 %'
    >>> limit_side(Limit("dsp_yield_pct", 65.0), 70.0)
    'dsp_yield_pct below 65'
    """
    unit = "%" if lim.unit.startswith("%") else lim.unit.split(" ")[0]
    upper = np.isfinite(lim.max) and (
        not np.isfinite(lim.min) or predicted >= (lim.min + lim.max) / 2
    )
    side = f"above {lim.max:g}" if upper else f"below {lim.min:g}"
    return f"{lim.attribute} {side} {unit}".rstrip()


@dataclass
class RawPrediction:
    """Unmasked arrays for every run (evaluation needs them even for unknown runs)."""

    index: pd.Index
    point: dict[str, np.ndarray]  # clipped to physical bounds
    lower: dict[tuple[str, float], np.ndarray]
    upper: dict[tuple[str, float], np.ndarray]
    risk: dict[str, np.ndarray]  # group -> P(out of spec on the judged attributes)
    limit_risk: dict[str, np.ndarray]  # attribute -> P(outside its own spec limit)
    t2: np.ndarray
    dmodx: np.ndarray
    status: np.ndarray
    missing: list[list[str]]  # required families each run lacks
    novel: list[list[str]]  # "column = value" where a run leaves a training-constant value

    @property
    def unknown(self) -> np.ndarray:
        lacking = np.array(
            [bool(m) or bool(n) for m, n in zip(self.missing, self.novel, strict=True)]
        )
        return (self.status == OUTSIDE) | lacking


@dataclass
class Predictor:
    """Fitted models, intervals, risk residuals, domain and required families."""

    feature_names: list[str]
    models: dict[str, TargetModel]
    intervals: dict[str, IntervalCalibrator]
    risk_residuals: pd.DataFrame  # held-out residual vectors (observed - predicted) per target
    spec: ProductSpec
    domain: ApplicabilityDomain
    required: dict[str, list[str]]  # family -> its features, for families the model needs
    horizon_day: float
    constants: dict[str, float] = field(default_factory=dict)  # never varied in training
    _residual_arrays: dict[tuple[str, ...], np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def residuals(self, attributes: list[str]) -> np.ndarray:
        """Held-out residual vectors of ``attributes`` as an array (fixed: read once)."""
        key = tuple(attributes)
        if key not in self._residual_arrays:
            self._residual_arrays[key] = self.risk_residuals[list(key)].to_numpy(float)
        return self._residual_arrays[key]

    @property
    def targets(self) -> list[str]:
        return list(self.models)

    def matrix(self, X: pd.DataFrame) -> np.ndarray:
        return X.reindex(columns=self.feature_names).to_numpy(np.float32)

    def judged(self, group: str) -> tuple[list[Limit], list[str]]:
        """Spec limits of ``group`` the model predicts, and the attributes it does not."""
        limits = self.spec.glycans if group == "glycans" else self.spec.downstream
        judged = [lim for lim in limits if lim.attribute in self.models]
        return judged, [lim.attribute for lim in limits if lim.attribute not in self.models]

    def limit_table(self) -> list[dict]:
        """Every spec limit, its group, bounds (None where open), unit, why and if judged."""

        def bound(x: float | None) -> float | None:
            return None if x is None or not np.isfinite(x) else float(x)

        return [
            {
                "attribute": lim.attribute,
                "group": g,
                "min": bound(lim.min),
                "max": bound(lim.max),
                "unit": lim.unit,
                "why": lim.why,
                "judged": lim.attribute in self.models,
            }
            for g in RISK_GROUPS
            for lim in (self.spec.glycans if g == "glycans" else self.spec.downstream)
        ]

    def set_threads(self, n: int) -> None:
        """XGBoost threads of every booster (members and interval scales); 0: every core."""
        for t, m in self.models.items():
            m.set_threads(n)
            self.intervals[t].scale.set_threads(n)

    def not_judged(self) -> list[str]:
        return [a for g in RISK_GROUPS for a in self.judged(g)[1]]

    def raw(self, X: pd.DataFrame, A: np.ndarray | None = None) -> RawPrediction:
        A = self.matrix(X) if A is None else A
        point, lower, upper = {}, {}, {}
        for t, model in self.models.items():
            pred = model.predict(A).astype(float)
            sigma = self.intervals[t].scale.predict(pred, A)
            point[t] = clip(pred, t)
            for lv in LEVELS:
                hw = self.intervals[t].multiplier(pred, lv) * sigma
                lower[(t, lv)] = clip(pred - hw, t)
                upper[(t, lv)] = clip(pred + hw, t)
        risk, limit_risk = {}, {}
        for group in RISK_GROUPS:
            limits, _ = self.judged(group)
            if not limits:
                continue
            cols = [lim.attribute for lim in limits]
            # each limit on its own too: which attribute drives the risk
            risk[group], alone = spec_probabilities(
                np.column_stack([point[c] for c in cols]), self.residuals(cols), limits
            )
            limit_risk.update(alone)
        t2, dmodx, status = self.domain.score(A)
        missing = missing_required(X, self.required)
        novel = self.novel_conditions(X)
        return RawPrediction(
            X.index, point, lower, upper, risk, limit_risk, t2, dmodx, status, missing, novel
        )

    def novel_conditions(self, X: pd.DataFrame) -> list[list[str]]:
        """Per run, the training-constant columns it has another value in (missing is fine)."""
        out: list[list[str]] = [[] for _ in range(len(X))]
        for col, value in self.constants.items():
            if col not in X.columns:
                continue
            v = X[col].to_numpy(float)
            off = ~np.isnan(v) & ~np.isclose(v, value, rtol=1e-6, atol=1e-9)
            for i in np.flatnonzero(off):
                out[i].append(f"{col} = {v[i]:g} (training only saw {value:g})")
        return out

    def predict(self, X: pd.DataFrame, reasons: str = "all", top_k: int = 3) -> pd.DataFrame:
        """One row per run (index as ``X``), with unknown runs masked (see module doc)."""
        return pd.DataFrame(self.predict_columns(X, reasons, top_k), index=X.index)

    def predict_columns(
        self, X: pd.DataFrame, reasons: str = "all", top_k: int = 3
    ) -> dict[str, object]:
        """The columns of :meth:`predict` as arrays (the HTTP API skips the DataFrame).

        ``reasons`` (:data:`models.reasons.REASON_MODES`): which runs get their reasons -
        ``all`` known runs, the ``flagged`` ones (at risk, or near the edge of experience:
        every flag keeps its reasons), or ``none`` (no column).
        """
        if reasons not in REASON_MODES:
            raise ValueError(f"reasons must be one of {', '.join(REASON_MODES)}, not {reasons!r}")
        A = self.matrix(X)
        raw = self.raw(X, A)
        unknown = raw.unknown
        out: dict[str, object] = {}
        for t in self.targets:
            out[t] = np.where(unknown, np.nan, raw.point[t])
            for lv in LEVELS:
                pct = round(lv * 100)
                out[f"{t}_lo{pct}"] = np.where(unknown, np.nan, raw.lower[(t, lv)])
                out[f"{t}_hi{pct}"] = np.where(unknown, np.nan, raw.upper[(t, lv)])
        for group, r in raw.risk.items():
            out[f"{group}_risk"] = np.where(unknown, np.nan, r)
        for attribute, r in raw.limit_risk.items():
            out[limit_risk_column(attribute)] = np.where(unknown, np.nan, r)
        out["t2"], out["dmodx"], out["applicability"] = raw.t2, raw.dmodx, raw.status
        out["missing_families"] = [", ".join(m) for m in raw.missing]
        out["flag"], out["flag_reason"] = self._flags(raw)
        out["extrapolation"] = [
            json.dumps({t: round(float(raw.point[t][i]), 4) for t in self.targets})
            if unknown[i]
            else ""
            for i in range(len(X))
        ]
        out["not_judged"] = [", ".join(self.not_judged())] * len(X)
        if reasons != "none":  # an unknown run's contributions would be extrapolation too
            wanted = ~unknown
            if reasons == "flagged":
                wanted &= (np.asarray(out["flag"]) == FLAG_RISK) | (raw.status == BORDERLINE)
            text = np.full(len(X), "", dtype=TEXT)
            if wanted.any():  # (XGBoost's SHAP of no rows is not a 2-d table)
                text[wanted] = self._reasons(A[wanted], top_k)
            out["reasons"] = text
        return out

    def _flags(self, raw: RawPrediction) -> tuple[list[str], list[str]]:
        flags, why = [], []
        n = len(raw.status)
        reach = {g: at_risk({g: r}, self.spec.risk_flag, n) for g, r in raw.risk.items()}
        for i in range(n):
            edge = self.domain.explain(float(raw.t2[i]), float(raw.dmodx[i]))
            causes = []
            if raw.status[i] == OUTSIDE:
                causes.append(f"outside the model's experience: {edge}")
            for fam in raw.missing[i]:
                what = fam if " " in fam else f"{fam} samples up to day {self.horizon_day:g}"
                causes.append(f"no {what} (the model relies on them)")
            if raw.novel[i]:
                causes.append(
                    "a condition that never varied in training: " + ", ".join(raw.novel[i])
                )
            if causes:
                flags.append(FLAG_UNKNOWN)
                why.append("; ".join(causes) + "; numbers would be extrapolation")
                continue
            risky = [
                f"{g} out-of-spec risk {r[i]:.2f} ({self._drivers(raw, g, i)})"
                for g, r in raw.risk.items()
                if reach[g][i]
            ]
            note = [f"near the edge of experience: {edge}"] if raw.status[i] == BORDERLINE else []
            flags.append(FLAG_RISK if risky else FLAG_OK)
            why.append("; ".join(risky + note))
        return flags, why

    def _drivers(self, raw: RawPrediction, group: str, i: int) -> str:
        """The limits behind a group's risk, e.g. ``g0f_pct above 53 % (P 0.61)``.

        Each limit whose own risk reaches the flag is named; if none does, the largest.
        """
        limits, _ = self.judged(group)
        own = [(float(raw.limit_risk[lim.attribute][i]), lim) for lim in limits]
        own.sort(key=lambda pl: -pl[0])
        named = [pl for pl in own if pl[0] >= self.spec.risk_flag] or own[:1]
        return ", ".join(
            f"{limit_side(lim, float(raw.point[lim.attribute][i]))} (P {p:.2f})" for p, lim in named
        )

    def _reasons(self, values32: np.ndarray, top_k: int) -> np.ndarray:
        """Per run, the JSON object of its top reasons per target (:mod:`models.reasons`)."""
        values = values32.astype(float)
        medians, names = self.domain.median, self.feature_names
        boosted = any(m.booster is not None for m in self.models.values())
        matrix = shap_matrix(values32) if boosted else None
        return reasons_json(
            {
                t: sentence_table(
                    m.contributions(values32, matrix), values, medians, names, t, top_k, True
                )
                for t, m in self.models.items()
            },
            len(values),
        )

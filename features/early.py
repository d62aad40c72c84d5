"""Per-run features from the first days of a run: the one transformer inside the model.

Input is the *long* frame of :func:`features.assemble.long_frame`: one row per sample with
``run_id``, ``day``, sample measurements (canonical names, any other numeric column too)
and run- and clone-level columns prefixed ``run__`` and ``clone__``. Output is one row per
run (index ``run_id``, sorted), computed only from samples with ``day <= horizon_day`` (to
within :data:`DAY_TOLERANCE`, so that a day stored as 7.0000000001 counts as day 7):

- per measurement: values at standard culture days (interpolated in time), last value,
  maximum, slope over the last ``slope_window_day`` days, area under the curve;
- bioprocess features (:mod:`features.bioprocess`): exponential-phase specific growth
  rate, IVCD, qP (titer vs IVCD), net specific glucose / lactate / ammonia rates, the day
  lactate turned to consumption, viability decline, number and span of samples;
- clone screening assays and process conditions; text columns one-hot encoded with the
  categories seen in ``fit``.

Missing inputs give NaN features, never an error and never a dropped run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features import timeseries as ts
from features.bioprocess import at_last, bioprocess_features, bioprocess_names

RUN_PREFIX, CLONE_PREFIX = "run__", "clone__"
ID_COLUMNS = ("run_id", "day")
STANDARD_DAYS = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0)


def _day_label(day: float) -> str:
    return f"d{day:g}".replace(".", "p")


DAY_TOLERANCE = 1e-9  # days: float noise in a stored day is not a later sample
# Curves (runs x measurements) up to which a batch's measurements are stacked into one table
# (:meth:`EarlyFeatures._measure_features`). The whole transform, measured on 2 cores with
# 12 measurements: 1 run 2.3 ms stacked / 4.2 ms apart, 128 runs 4.6 / 6.5, 512 runs even,
# 1,440 runs 39 / 30 (longer sorts). Capped well below the even point, also so that the
# run-and-day search keys (run code x 1e5 + day) stay finer than a file chunk's.
STACK_MAX_CURVES = 1024


class EarlyFeatures(TransformerMixin, BaseEstimator):
    """Turn long culture samples into one feature row per run, up to a horizon day.

    Parameters
    ----------
    horizon_day : float
        Only samples with ``day <= horizon_day`` are used (default 7 of 14).
    standard_days : sequence of float
        Culture days at which each measurement is read off its curve.
    slope_window_day : float
        Width of the window, ending at the horizon, for slopes and specific rates.
    max_gap_day : float
        How far a curve may be extended past its last (or before its first) sample.
    min_category_count : int
        A text category seen in fewer runs at ``fit`` gets no column of its own.
    max_categories : int
        At most this many (most frequent) categories per text column get a column, so an
        id-like label cannot blow the feature table up.
    """

    def __init__(
        self,
        horizon_day: float = 7.0,
        standard_days: Sequence[float] = STANDARD_DAYS,
        slope_window_day: float = 3.0,
        max_gap_day: float = 1.0,
        min_category_count: int = 5,
        max_categories: int = 20,
    ):
        self.horizon_day = horizon_day
        self.standard_days = standard_days
        self.slope_window_day = slope_window_day
        self.max_gap_day = max_gap_day
        self.min_category_count = min_category_count
        self.max_categories = max_categories

    # -- fitting -------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: object = None) -> EarlyFeatures:
        """Learn which columns are measurements, numbers and categories."""
        _check_frame(X)
        if self.horizon_day <= 0:
            raise ValueError(f"horizon_day must be > 0, got {self.horizon_day}")
        attrs = [c for c in X.columns if c.startswith((RUN_PREFIX, CLONE_PREFIX))]
        self.measurements_ = [c for c in X.columns if c not in ID_COLUMNS and c not in attrs]
        per_run = X.drop_duplicates("run_id").set_index("run_id")
        self.numeric_attrs_, self.categories_ = [], {}
        for col in attrs:
            if pd.api.types.is_numeric_dtype(per_run[col]):
                self.numeric_attrs_.append(col)
            else:
                counts = per_run[col].astype(str).where(per_run[col].notna()).value_counts()
                counts = counts[counts >= self.min_category_count].sort_index()
                counts = counts.sort_values(ascending=False, kind="stable")
                self.categories_[col] = sorted(counts.index[: self.max_categories])
        self.feature_names_out_ = np.array(self._names(), dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def _days(self) -> list[float]:
        return [d for d in self.standard_days if d <= self.horizon_day]

    def _names(self) -> list[str]:
        names = []
        for m in self.measurements_:
            names += [f"{m}__{_day_label(d)}" for d in self._days()]
            names += [f"{m}__last", f"{m}__max", f"{m}__slope", f"{m}__auc"]
        names += list(bioprocess_names())
        names += self.numeric_attrs_
        for col, cats in self.categories_.items():
            names += [f"{col}={c}" for c in cats]
        return names

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_

    # -- persistence (JSON, no pickle) ---------------------------------------------
    def to_dict(self) -> dict:
        """Parameters and fitted state as plain JSON-able values."""
        check_is_fitted(self, "feature_names_out_")
        return {
            "params": {
                k: (list(v) if isinstance(v, tuple | list) else v)
                for k, v in self.get_params().items()
            },
            "measurements_": list(self.measurements_),
            "numeric_attrs_": list(self.numeric_attrs_),
            "categories_": {k: list(v) for k, v in self.categories_.items()},
            "feature_names_out_": [str(x) for x in self.feature_names_out_],
            "n_features_in_": int(self.n_features_in_),
        }

    @classmethod
    def from_dict(cls, state: dict) -> EarlyFeatures:
        """Rebuild a fitted transformer saved by :meth:`to_dict`."""
        params = dict(state["params"])
        params["standard_days"] = tuple(params["standard_days"])
        tr = cls(**params)
        tr.measurements_ = list(state["measurements_"])
        tr.numeric_attrs_ = list(state["numeric_attrs_"])
        tr.categories_ = {k: list(v) for k, v in state["categories_"].items()}
        tr.feature_names_out_ = np.array(state["feature_names_out_"], dtype=object)
        tr.n_features_in_ = state["n_features_in_"]
        return tr

    # -- transforming --------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """One row per run of ``X`` (index ``run_id``, sorted); never drops a run.

        The frame is never sorted or copied: runs are coded once, the sample order (run,
        then day, stable) is one index array, and each column is read through it.
        """
        check_is_fitted(self, "feature_names_out_")
        _check_frame(X)
        codes, uniques = pd.factorize(X["run_id"].astype(str), sort=True, use_na_sentinel=False)
        run_ids = pd.Index(np.asarray(uniques, dtype=object), name="run_id")
        day_all = X["day"].to_numpy(float)
        order = np.lexsort((day_all, codes))  # stable: as sort_values(["run_id", "day"])
        codes, day = codes[order], day_all[order]
        early = day <= self.horizon_day + DAY_TOLERANCE
        n = len(run_ids)
        cols: dict[str, np.ndarray] = {}
        series = {}
        for m in self.measurements_:
            v = _numbers(X[m])[order] if m in X.columns else np.full(len(X), np.nan)
            ok = early & ~np.isnan(v)
            series[m] = (codes[ok], day[ok], v[ok])
        cols.update(self._measure_features(series, n))
        cols.update(
            bioprocess_features(
                series,
                codes[early],
                day[early],
                n,
                float(self.horizon_day),
                self.slope_window_day,
                self.max_gap_day,
            )
        )
        # a run's attributes from its first sample in that order (every run has one)
        first = order[ts.first_index(codes, n)]
        for col in self.numeric_attrs_:
            cols[col] = _numbers(X[col])[first] if col in X.columns else np.full(n, np.nan)
        for col, cats in self.categories_.items():
            values = X[col].take(first).astype(str) if col in X.columns else None
            for c in cats:
                cols[f"{col}={c}"] = (
                    np.full(n, np.nan) if values is None else (values == c).to_numpy(float)
                )
        # every column is float64: one block, built once, in the fitted column order
        nan = np.full(n, np.nan)
        names = self.feature_names_out_
        block = np.column_stack([cols.get(c, nan) for c in names]) if len(names) else None
        return pd.DataFrame(block, index=run_ids, columns=pd.Index(names), dtype=float)

    def _measure_features(
        self, series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], n: int
    ) -> dict[str, np.ndarray]:
        """Each measurement's curve statistics (``series``: its run codes, days, values).

        A small batch (the API's) stacks every measurement's samples as runs of one curve
        table, so each numpy call is paid once rather than once per measurement; a large one
        goes measurement by measurement (its arrays are long enough already). Each run's
        numbers are the same either way: every step works within a run.
        """
        out: dict[str, np.ndarray] = {}
        names = list(series)
        if n * len(names) <= STACK_MAX_CURVES:
            offsets = [np.full(len(series[m][0]), i * n) for i, m in enumerate(names)]
            run = np.concatenate([series[m][0] for m in names] or [np.zeros(0, np.intp)])
            run = run + np.concatenate(offsets or [np.zeros(0, np.intp)])
            t = np.concatenate([series[m][1] for m in names] or [np.zeros(0)])
            v = np.concatenate([series[m][2] for m in names] or [np.zeros(0)])
            stats = self._curve_stats(run, t, v, n * len(names))
            for i, m in enumerate(names):
                out.update({f"{m}__{k}": a[i * n : (i + 1) * n] for k, a in stats.items()})
            return out
        for m in names:
            stats = self._curve_stats(*series[m], n)
            out.update({f"{m}__{k}": a for k, a in stats.items()})
        return out

    def _curve_stats(self, run, t, v, n) -> dict[str, np.ndarray]:
        """Per run (code 0..n-1) of one curve table: values at the days, last, max, slope, AUC."""
        slopes = ts.knot_slopes(run, t, v)
        days = self._days()
        at = ts.values_at(run, t, v, n, days, self.max_gap_day, slopes)
        out = {_day_label(d): at[k] for k, d in enumerate(days)}
        out["last"] = at_last(ts.last_index(run, n), v)
        out["max"] = ts.run_max(run, v, n)
        win = t >= self.horizon_day - self.slope_window_day
        out["slope"] = ts.regression_slope(run[win], t[win], v[win], n)
        out["auc"] = ts.integral(
            run, t, v, n, 0.0, float(self.horizon_day), self.max_gap_day, slopes=slopes
        )
        return out


def _numbers(column: pd.Series) -> np.ndarray:
    """A column as float64, a cell that is not a number becoming NaN."""
    if column.dtype == np.float64:
        return column.to_numpy()
    return pd.to_numeric(column, errors="coerce").to_numpy(float)


def _check_frame(X: object) -> None:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"EarlyFeatures takes a pandas DataFrame of samples, got {type(X)}")
    missing = [c for c in ID_COLUMNS if c not in X.columns]
    if missing:
        raise ValueError(f"the sample frame needs columns {list(ID_COLUMNS)}; missing {missing}")

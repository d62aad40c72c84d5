"""Realized performance: what a model delivers on outcomes that came back, beside its promise.

Input: one row per logged prediction (distinct prediction id) joined to the latest outcome
of its run (:func:`serving.outcomes.joined_frame`). Judged are the runs the model gave a
number for (not ``unknown``) that were not in its training set (``seen_in_training``
empty): figures on training runs would be in-sample.

Per model version, and per campaign within it:
- each target's R², MAE and Spearman, and the coverage of its 80 % and 90 % intervals;
- pairwise clone choice: of two clones of one campaign, how often the one predicted better
  (clone means of predicted yield) was measured better (every pair measured apart, as the
  nested ``pairwise_all`` of training.decision);
- flag precision and recall: of the runs flagged ``at risk``, the share measured out of
  spec, and of those measured out of spec, the share flagged;
- the Brier score of each risk (glycans, downstream) against the measured out-of-spec.

Each figure sits beside what the model promised when it was promoted: its nested,
campaign-grouped figures in the bundle's manifest (``cv_metrics``). A figure is
*degraded* when it is worse than the promise beyond its own uncertainty:
- coverage: the Clopper-Pearson interval of the realized share (scipy.stats.binomtest)
  lies wholly below the promised coverage;
- the others: the interval from a bootstrap over clones (clones resampled with their
  runs, since a clone's runs are not independent; realized ± z · the draws' SD) lies
  wholly on the worse side.
Both intervals also carry the campaign-to-campaign spread the nested evaluation measured
(:meth:`Judge._campaign_var`), divided by the number of campaigns judged together, with a
Student's t multiplier for the few campaigns or folds it was estimated from: runs of
one campaign share its lot, calibration and season, so one campaign's coverage strays
from the promise far more than its run count says (on the twin, without this, 4 of 20 new
campaigns of an unchanged process were called degraded). The intervals are two-sided at
1 - alpha / m, with m the checks of one verdict
(Bonferroni): with a dozen checks per version, a per-check 5 % would call a healthy model
degraded most of the time. Flag precision and recall are promised by the nested figures
(``flags``: the held-out runs flagged by the deployed rule); a bundle trained before they
were recorded has none, and its flag figures are reported with verdict ``no promise``.

Below ``MIN_RUNS`` judged runs (or ``MIN_CLONES`` clones for a bootstrap) a figure is
reported with verdict ``too few outcomes``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from features.contract.spec import ProductSpec
from models.flags import FLAG_RISK, FLAG_UNKNOWN
from models.flags import OBSERVED_PREFIX as OBS

ALPHA = 0.05  # family-wise, per verdict
BOOTSTRAPS = 200  # the normal interval needs the draws' SD only (within ~5 % at 200)
MIN_RUNS = 10
MIN_CLONES = 5
HOLDS, DEGRADED, TOO_FEW, NO_PROMISE = "holds", "degraded", "too few outcomes", "no promise"
HIGHER_IS_BETTER = {
    "r2": True, "spearman": True, "pairwise": True, "precision": True, "recall": True,
    "mae": False, "brier": False,
}  # fmt: skip
FLAGS = "flags"  # the checks of the 'at risk' flag (the nested figures' key)


@dataclass(frozen=True)
class Check:
    """One realized figure beside its promise, with its interval and verdict."""

    what: str  # e.g. "dsp_yield_pct coverage_90"
    metric: str
    realized: float
    promised: float | None
    low: float
    high: float
    n: int
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None or not np.isfinite(x) else round(float(x), 4)

        return {
            "what": self.what,
            "metric": self.metric,
            "realized": r(self.realized),
            "promised": r(self.promised),
            "interval": [r(self.low), r(self.high)],
            "n": self.n,
            "verdict": self.verdict,
        }


def judged_rows(joined: pd.DataFrame) -> pd.DataFrame:
    """Rows with a number from the model, an outcome, and not in its training set."""
    obs = [c for c in joined.columns if c.startswith(OBS)]
    has_obs = joined[obs].notna().any(axis=1) if obs else pd.Series(False, index=joined.index)
    keep = joined["flag"].ne(FLAG_UNKNOWN) & joined["seen_in_training"].fillna("").eq("")
    return joined[keep & has_obs]


class Resample:
    """One group's clones and ``BOOTSTRAPS`` draws of them with replacement.

    A draw is a count per clone (how often it was picked), so a statistic that is a ratio
    of sums over runs is recomputed for every draw by one matrix product of the counts with
    the per-clone sums: thousands of clones cost milliseconds, not a Python loop per draw.
    """

    def __init__(self, rows: pd.DataFrame, rng: np.random.Generator):
        self.codes, uniq = pd.factorize(rows["clone_id"].astype(str))
        self.n = len(uniq)
        picks = rng.integers(0, self.n, size=(BOOTSTRAPS, self.n))
        flat = (picks + self.n * np.arange(BOOTSTRAPS)[:, None]).ravel()
        counts = np.bincount(flat, minlength=BOOTSTRAPS * self.n)
        self.counts = counts.reshape(BOOTSTRAPS, self.n).astype(float)  # (draws, clones)

    def _per_clone(self, values: tuple[np.ndarray, ...]) -> np.ndarray:
        """(clones, len(values)): each value summed over every clone's runs."""
        return np.column_stack(
            [np.bincount(self.codes, weights=v, minlength=self.n) for v in values]
        )

    def sums(self, *values: np.ndarray) -> list[np.ndarray]:
        """Per draw, the sum over runs of each of ``values`` (one value per run)."""
        return list((self.counts @ self._per_clone(values)).T)

    def sums_with_data(self, *values: np.ndarray) -> list[np.ndarray]:
        """:meth:`sums`, with the data itself (every clone once) as draw 0."""
        per_clone = self._per_clone(values)
        return list(np.vstack([per_clone.sum(axis=0), self.counts @ per_clone]).T)


def _regression_draws(y: np.ndarray, p: np.ndarray, rs: Resample) -> dict[str, np.ndarray]:
    """R², MAE and Spearman for every draw of ``rs`` (Spearman as Pearson of the ranks).

    Row 0 is the data itself (every clone once): the realized figures, equal to
    :func:`training.cv.regression_metrics` (a test holds them to it).
    """
    ok = np.isfinite(y) & np.isfinite(p)
    w = ok.astype(float)
    y0, p0 = np.where(ok, y, 0.0), np.where(ok, p, 0.0)
    ry, rp = np.zeros(len(y)), np.zeros(len(y))
    ry[ok], rp[ok] = stats.rankdata(y[ok]), stats.rankdata(p[ok])
    n, sy, syy, se2, sab, sx, sxx, sz, szz, sxz = rs.sums_with_data(
        w, y0, y0 * y0, (y0 - p0) ** 2, np.abs(y0 - p0), ry, ry * ry, rp, rp * rp, ry * rp
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxz / n - sx * sz / n**2
        rho = cov / np.sqrt((sxx / n - (sx / n) ** 2) * (szz / n - (sz / n) ** 2))
        return {"r2": 1 - se2 / (syy - sy**2 / n), "mae": sab / n, "spearman": rho}


def _brier_draws(p: np.ndarray, outside: np.ndarray, rs: Resample) -> np.ndarray:
    ok = np.isfinite(p) & np.isfinite(outside)
    n, sq = rs.sums(ok.astype(float), np.where(ok, (p - outside) ** 2, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sq / n


def _flag_draws(
    flagged: np.ndarray, bad: np.ndarray, metric: str, rs: Resample
) -> tuple[float, np.ndarray, int]:
    """Flag precision or recall, exact and for every draw, and the runs it rests on.

    Precision: of the flagged runs measured, the share out of spec; recall: of the runs
    measured out of spec, the share flagged (:func:`training.evaluate.flag_metrics`).
    """
    ok = np.isfinite(bad)
    hit = (ok & flagged & (np.nan_to_num(bad) > 0)).astype(float)
    base = ok & (flagged if metric == "precision" else np.nan_to_num(bad) > 0)
    n, k = rs.sums_with_data(base.astype(float), hit)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = k / n
    return float(share[0]), share[1:], int(base.sum())


def _pairwise_draws(rows: pd.DataFrame, t: str, rs: Resample) -> tuple[float, np.ndarray]:
    """Clone choice (all within-campaign pairs of clone means), exact and for every draw.

    For one draw with clone counts w, the ordered-right pairs are w'Aw / 2 over the matrix A
    of right (1), tied prediction (1/2) or wrong (0) pairs of measured-different clones, and
    the pairs w'Vw / 2 (V: measured-different): a clone drawn twice pairs with the other
    clones twice, and never with itself.
    """
    y, p = rows[OBS + t].to_numpy(float), rows[t].to_numpy(float)
    ok = np.isfinite(y) & np.isfinite(p)
    n = np.bincount(rs.codes, weights=ok.astype(float), minlength=rs.n)
    with np.errstate(invalid="ignore", divide="ignore"):
        my = np.bincount(rs.codes, weights=np.where(ok, y, 0.0), minlength=rs.n) / n
        mp = np.bincount(rs.codes, weights=np.where(ok, p, 0.0), minlength=rs.n) / n
    campaign = pd.Series(rows["campaign_id"].astype(str).to_numpy()).groupby(rs.codes).first()
    right = np.zeros(BOOTSTRAPS)
    pairs = np.zeros(BOOTSTRAPS)
    exact = [0.0, 0.0]
    for _, members in campaign.groupby(campaign.to_numpy()).groups.items():
        idx = np.asarray(members, dtype=int)
        idx = idx[np.isfinite(my[idx]) & np.isfinite(mp[idx])]
        if len(idx) < 2:
            continue
        d = my[idx, None] - my[None, idx]
        dp = mp[idx, None] - mp[None, idx]
        valid = (d != 0).astype(float)
        a = np.where(dp == 0, 0.5, (np.sign(dp) == np.sign(d)).astype(float)) * valid
        w = rs.counts[:, idx]
        both = w @ np.hstack([a, valid])  # one product for the right pairs and all pairs
        right += np.einsum("bi,bi->b", both[:, : len(idx)], w) / 2
        pairs += np.einsum("bi,bi->b", both[:, len(idx) :], w) / 2
        exact[0] += a.sum() / 2
        exact[1] += valid.sum() / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return (exact[0] / exact[1] if exact[1] else np.nan), right / pairs


def _interval(
    realized: float, draws: np.ndarray, z: float, campaign_half: float = 0.0
) -> tuple[float, float]:
    """The realized figure ± z times the SD of its draws, with the campaign part added.

    A normal bootstrap interval (at the Bonferroni level a percentile interval would need
    far more draws than its tails can be read from), widened in quadrature by
    ``campaign_half``: the half-width the campaign-to-campaign spread adds
    (:meth:`Judge._campaign_half`).
    """
    d = draws[np.isfinite(draws)]
    if len(d) < BOOTSTRAPS // 2:
        return float("nan"), float("nan")
    half = float(np.hypot(z * np.sqrt(np.var(d, ddof=1)), campaign_half))
    return realized - half, realized + half


@functools.lru_cache(maxsize=256)
def _t_quantile(level: float, dof: int) -> float:
    """Student's t two-sided quantile (one per verdict level and spread: asked per campaign)."""
    return float(stats.t.ppf(0.5 + level / 2, dof))


@functools.lru_cache(maxsize=64)
def expected_range(k: int) -> float:
    """Expected range of ``k`` standard normal draws (d2 of quality control charts).

    >>> round(expected_range(5), 3), round(expected_range(12), 3)
    (2.326, 3.258)
    """
    from scipy import integrate

    def gap(x: float) -> float:
        p = stats.norm.cdf(x)
        return 1 - p**k - (1 - p) ** k

    return float(integrate.quad(gap, -np.inf, np.inf)[0])


def clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    """Exact two-sided binomial interval of k successes in n (beta quantiles).

    The same bounds as ``scipy.stats.binomtest(k, n).proportion_ci(level, "exact")``,
    without its root search.

    >>> [round(x, 4) for x in clopper_pearson(9, 10, 0.95)]
    [0.555, 0.9975]
    """
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else float(special.betaincinv(k, n - k + 1, tail))
    high = 1.0 if k == n else float(special.betaincinv(k + 1, n - k, 1 - tail))
    return low, high


def _worse(metric: str, low: float, high: float, promised: float) -> bool:
    if HIGHER_IS_BETTER[metric]:
        return high < promised
    return low > promised


class Judge:
    """Builds the checks of one group of rows against one model's promises."""

    def __init__(self, promised: dict, spec: ProductSpec, targets: list[str], seed: int = 0):
        self.promised = promised
        self.spec = spec
        self.targets = targets
        self.seed = seed
        # per group of rows (reset by checks): each target's draws, each group's out-of-spec
        self._cache: dict[str, dict[str, np.ndarray]] = {}
        self._outs: dict[str, pd.Series | None] = {}

    def _promise(self, t: str, metric: str) -> float | None:
        if metric == "pairwise":
            block = self.promised.get("decision", {}).get(t, {}).get("model", {})
            value = block.get("pairwise_all")
        elif metric == "brier":  # the nested figures name the glycan risk glyco_risk
            key = "glyco_risk" if t == "glycans" else f"{t}_risk"
            value = self.promised.get(key, {}).get("model", {}).get("brier")
        elif t == FLAGS:  # none in bundles trained before the nested flag figures
            value = self.promised.get(FLAGS, {}).get("model", {}).get(metric)
        else:
            value = self.promised.get("targets", {}).get(t, {}).get("model", {}).get(metric)
        return None if value is None or not np.isfinite(value) else float(value)

    def _plan(self, rows: pd.DataFrame) -> list[tuple[str, str, str, str]]:
        """(what, metric, target, kind) of every check that applies to ``rows``."""
        plan: list[tuple[str, str, str, str]] = []
        for t in self.targets:
            if OBS + t not in rows or t not in rows:
                continue
            for lv in (80, 90):
                if f"{t}_lo{lv}" in rows:
                    plan.append((f"{t} coverage_{lv}", f"coverage_{lv}", t, "coverage"))
            for metric in ("r2", "mae", "spearman"):
                plan.append((f"{t} {metric}", metric, t, "regression"))
        y = "dsp_yield_pct"
        if OBS + y in rows and y in rows:
            plan.append((f"{y} pairwise clone choice", "pairwise", y, "pairwise"))
        for group in ("glycans", "downstream"):
            if f"{group}_risk" in rows and self._outside(rows, group) is not None:
                plan.append((f"{group}_risk brier", "brier", group, "brier"))
        if self._bad(rows) is not None:
            plan += [(f"flag {m}", m, FLAGS, "flags") for m in ("precision", "recall")]
        return plan

    def _outside(self, rows: pd.DataFrame, group: str) -> pd.Series | None:
        """Per row, whether a ``group`` attribute was measured out of spec (NaN: unmeasured)."""
        if group not in self._outs:
            self._outs[group] = self._measured_out(rows, group)
        return self._outs[group]

    def _measured_out(self, rows: pd.DataFrame, group: str) -> pd.Series | None:
        limits = self.spec.glycans if group == "glycans" else self.spec.downstream
        cols = [lim.attribute for lim in limits if OBS + lim.attribute in rows]
        if not cols:
            return None
        obs = rows[[OBS + c for c in cols]].rename(columns=lambda c: c[len(OBS) :])
        return self.spec.out_of_spec(obs, group)

    def _campaign_half(self, t: str, metric: str, level: float, campaigns: int) -> float:
        """The half-width the campaign spread adds for ``campaigns`` judged together.

        Its SD is estimated from a few held-out campaigns or folds, so its multiplier is
        Student's t with their degrees of freedom, not the normal's: with 12 campaigns at
        the Bonferroni level the t quantile is some 40 % wider, and a spread known from
        five folds widens it more. (A normal multiplier here called 2 of 20 healthy
        campaigns degraded on the twin.)
        """
        var, dof = self._campaign_var(t, metric)
        if var <= 0 or dof < 1:
            return 0.0
        return float(_t_quantile(level, dof) * np.sqrt(var / campaigns))

    def _campaign_var(self, t: str, metric: str) -> tuple[float, int]:
        """How much the figure varies from one campaign to the next, as nested CV saw it.

        A campaign shares its medium lot, its assay calibration, its season: its runs miss
        or hit together, so one campaign's coverage or MAE varies far more than its runs'
        count alone says (on the twin, a campaign of 64 runs scored a healthy model's 90 %
        coverage at 0.78). The nested evaluation measured that spread:
        - coverage: the held-out campaigns' coverages (min, max of K campaigns); their SD is
          the range over its expected value for K normals, less the binomial part of a
          campaign of the average held-out size;
        - R², MAE, Spearman, clone choice, Brier: the outer folds' figures; a fold holds
          K / folds campaigns, so one campaign's variance is the folds' variance times that
          (it also counts each fold's sampling noise: it errs towards fewer alarms).
        Returns the variance and its degrees of freedom; (0, 0) when the bundle does not
        record it.
        """
        cv = self.promised
        n_campaigns = float(cv.get("n_campaigns") or 0)
        if metric.startswith("coverage_"):
            level = str(int(metric.split("_")[1]) / 100)
            model = cv.get("targets", {}).get(t, {}).get("model", {})
            block = model.get("coverage", {}).get(level, {})
            camp = block.get("by_campaign", {})
            k = int(camp.get("n_campaigns") or 0)
            if k < 3 or camp.get("min") is None or camp.get("max") is None:
                return 0.0, 0
            p = float(model.get(metric) or 0.9)
            sd = (float(camp["max"]) - float(camp["min"])) / expected_range(k)
            runs = float(block.get("n") or cv.get("n_runs") or 0) / max(n_campaigns, 1)
            binomial = p * (1 - p) / runs if runs else 0.0
            return max(sd**2 - binomial, 0.0), k - 1
        if metric == "pairwise":
            folds = cv.get("decision", {}).get(t, {}).get("model", {}).get("per_fold", {})
            values = folds.get("pairwise", [])
        elif metric == "brier":
            key = "glyco_risk" if t == "glycans" else f"{t}_risk"
            values = cv.get(key, {}).get("model", {}).get("per_fold", {}).get("brier", [])
        elif t == FLAGS:
            values = cv.get(FLAGS, {}).get("model", {}).get("per_fold", {}).get(metric, [])
        else:
            model = cv.get("targets", {}).get(t, {}).get("model", {})
            values = model.get("per_fold", {}).get(metric, [])
        v = np.asarray([x for x in values if x is not None], dtype=float)
        v = v[np.isfinite(v)]
        if len(v) < 2 or not n_campaigns:
            return 0.0, 0
        return float(np.var(v, ddof=1) * n_campaigns / len(v)), len(v) - 1

    def checks(self, rows: pd.DataFrame) -> list[Check]:
        """Every check of ``rows`` (one model version's judged rows, or one campaign's)."""
        self._cache, self._outs = {}, {}  # per group of rows
        plan = self._plan(rows)
        m = sum(1 for _, metric, t, _ in plan if self._promise(t, metric) is not None)
        level = 1 - ALPHA / max(m, 1)
        z = float(stats.norm.ppf(0.5 + level / 2))
        rs = Resample(rows, np.random.default_rng(self.seed))
        campaigns = max(int(rows["campaign_id"].nunique()), 1)
        out = []
        for what, metric, t, kind in plan:
            promised = self._promise(t, metric)
            extra = self._campaign_half(t, metric, level, campaigns)
            if kind == "coverage":  # binomial
                out.append(self._coverage(rows, what, metric, t, promised, level, extra))
                continue
            realized, draws, n = self._draws(rows, metric, t, kind, rs)
            if n < MIN_RUNS or rs.n < MIN_CLONES or not np.isfinite(realized):
                out.append(Check(what, metric, realized, promised, np.nan, np.nan, n, TOO_FEW))
                continue
            low, high = _interval(realized, draws, z, extra)
            if promised is None:
                verdict = NO_PROMISE
            elif np.isnan(low):
                verdict = TOO_FEW
            else:
                verdict = DEGRADED if _worse(metric, low, high, promised) else HOLDS
            out.append(Check(what, metric, realized, promised, low, high, n, verdict))
        return out

    def _draws(
        self, rows: pd.DataFrame, metric: str, t: str, kind: str, rs: Resample
    ) -> tuple[float, np.ndarray, int]:
        """(realized figure, its value in every draw, runs it rests on)."""
        if kind == "regression":
            y, p = rows[OBS + t].to_numpy(float), rows[t].to_numpy(float)
            n = int((np.isfinite(y) & np.isfinite(p)).sum())
            if t not in self._cache:
                self._cache[t] = _regression_draws(y, p, rs)
            draws = self._cache[t][metric]
            if n < 3 or np.ptp(y[np.isfinite(y) & np.isfinite(p)]) == 0:
                return np.nan, draws[1:], n  # as regression_metrics: no figure
            return float(draws[0]), draws[1:], n
        if kind == "pairwise":
            exact, draws = _pairwise_draws(rows, t, rs)
            return exact, draws, int(rows[OBS + t].notna().sum())
        if kind == "flags":
            bad = self._bad(rows)
            assert bad is not None  # planned only when some group was measured
            return _flag_draws(rows["flag"].eq(FLAG_RISK).to_numpy(), bad, metric, rs)
        outside = self._outside(rows, t)
        y = np.asarray(outside, dtype=float)
        p = rows[f"{t}_risk"].to_numpy(float)
        ok = np.isfinite(p) & np.isfinite(y)
        n = int(ok.sum())
        realized = float(np.mean((p[ok] - y[ok]) ** 2)) if n else np.nan
        return realized, _brier_draws(p, y, rs), n

    def _coverage(self, rows, what, metric, t, promised, level, extra) -> Check:
        """Binomial (Clopper-Pearson) interval, widened in quadrature by the campaign part."""
        lv = metric.split("_")[1]
        y = rows[OBS + t].to_numpy(float)
        lo, hi = rows[f"{t}_lo{lv}"].to_numpy(float), rows[f"{t}_hi{lv}"].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
        n = int(ok.sum())
        k = int(((lo <= y) & (y <= hi))[ok].sum())
        if n < MIN_RUNS:
            return Check(what, metric, k / n if n else np.nan, promised, np.nan, np.nan, n, TOO_FEW)
        low, high = clopper_pearson(k, n, level)
        share = k / n
        low = max(share - float(np.hypot(share - low, extra)), 0.0)  # a share stays in 0-1
        high = min(share + float(np.hypot(high - share, extra)), 1.0)
        verdict = NO_PROMISE if promised is None else DEGRADED if high < promised else HOLDS
        return Check(what, metric, k / n, promised, low, high, n, verdict)

    def _bad(self, rows: pd.DataFrame) -> np.ndarray | None:
        """Per row: out of spec in some group (1), within (0), unmeasured (NaN).

        None when no group was measured. Counted as the nested flag figures count it
        (``training.experiment``).
        """
        parts = [self._outside(rows, g) for g in ("glycans", "downstream")]
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        return pd.concat(parts, axis=1).astype(float).max(axis=1).to_numpy()


def verdict_of(checks: list[Check]) -> dict[str, Any]:
    """The group's verdict: degraded (and which figures), holds, or too few outcomes."""
    judged = [c for c in checks if c.verdict in (HOLDS, DEGRADED)]
    degraded = [c.what for c in checks if c.verdict == DEGRADED]
    if degraded:
        return {"verdict": DEGRADED, "degraded": degraded}
    if not judged:
        return {"verdict": TOO_FEW, "degraded": []}
    return {"verdict": HOLDS, "degraded": []}


def monitor_version(
    joined: pd.DataFrame,
    promised: dict,
    spec: ProductSpec,
    targets: list[str],
    seed: int = 0,
) -> dict[str, Any]:
    """The realized figures of one model version's joined predictions, and per campaign."""
    rows = judged_rows(joined)
    judge = Judge(promised, spec, targets, seed)
    overall = judge.checks(rows)
    campaigns = {}
    for c, part in rows.groupby("campaign_id", sort=True):
        checks = judge.checks(part)
        campaigns[str(c)] = {
            "runs": len(part),
            "clones": int(part["clone_id"].nunique()),
            **verdict_of(checks),
            "checks": [x.to_dict() for x in checks],
        }
    unknown = int(joined["flag"].eq(FLAG_UNKNOWN).sum())
    seen = int(joined["seen_in_training"].fillna("").ne("").sum())
    return {
        "predictions": len(joined),
        "judged_runs": len(rows),
        "judged_clones": int(rows["clone_id"].nunique()),
        "left_out": {"unknown": unknown, "seen_in_training": seen},
        "alpha": ALPHA,
        **verdict_of(overall),
        "checks": [x.to_dict() for x in overall],
        "campaigns": campaigns,
    }


def retrain_advice(result: dict[str, Any]) -> dict[str, Any]:
    """Whether retraining is due, and why, from one version's monitor result."""
    if result["verdict"] == DEGRADED:
        return {
            "due": True,
            "why": "degraded beyond the promise's own uncertainty: "
            + ", ".join(result["degraded"])
            + "; add the campaigns whose outcomes came back: clonescout retrain --add FOLDER",
        }
    new = [c for c, v in result["campaigns"].items() if v["runs"]]
    if new:
        return {
            "due": False,
            "why": f"holds; {len(new)} campaign(s) with outcomes it has not learned from "
            f"({', '.join(new[:5])}{'…' if len(new) > 5 else ''}) can join its training data "
            "at the next retraining",
        }
    return {"due": False, "why": "no outcome judged yet"}


@dataclass(frozen=True)
class Promise:
    """What a model version was promoted on: its nested figures, spec and targets."""

    cv_metrics: dict
    spec: ProductSpec
    targets: list[str]

    @property
    def training_run(self) -> str:
        return str(self.cv_metrics.get("mlflow_run_id", ""))


def monitor_joined(
    joined: pd.DataFrame, promise_of: Callable[[str, str], Promise]
) -> list[dict[str, Any]]:
    """Each model version in ``joined`` (:func:`serving.outcomes.joined_frame`) judged.

    ``promise_of(name, version)`` gives the version's :class:`Promise`. One result per
    version (sorted), with its verdict, figures, campaigns and the retraining advice.
    """
    out: list[dict[str, Any]] = []
    if joined.empty:
        return out
    for (name, version), part in joined.groupby(["model_name", "model_version"], sort=True):
        p = promise_of(str(name), str(version))
        result = monitor_version(part, p.cv_metrics, p.spec, p.targets)
        result = {"model_name": str(name), "model_version": str(version), **result}
        result["retrain"] = retrain_advice(result)
        result["training_run"] = p.training_run
        out.append(result)
    return out

"""Drift before outcomes: is a scored campaign like the campaigns the model learned from.

A new campaign is judged as a *campaign*, not as a pile of runs. Its runs share a medium
lot, an assay calibration and a season, so their features move together, and the training
campaigns already differ from each other in the same way (the twin's campaign-level assay
drift and lots; any lab's batch effects). A test of the new campaign's runs against the
pooled training runs would call every ordinary batch effect "drift". Each test here asks
instead whether the new campaign lies outside the spread of the *training campaigns*.

Per input feature of the model (and per run's log T² and log DModX from the applicability
domain, :mod:`models.applicability`):

- m_k, the mean of campaign k's runs, for the K training campaigns, and s_w, the pooled
  within-campaign SD of runs;
- runs of one clone are not independent (a clone's two runs share its biology), so a
  campaign mean is counted as worth one observation per *clone*: its sampling variance is
  taken as s_w² / n_clones. This overstates the variance when replicate runs of a clone
  differ, which errs towards fewer alarms;
- the between-campaign variance is what remains of the spread of the m_k:
  σ_b² = max(var(m_k) - s_w² · mean(1/n_k), 0);
- the new campaign's mean m, with n clones, is compared with the prediction for a new
  campaign: t = (m - mean(m_k)) / sqrt(σ_b² (1 + 1/K) + s_w² (1/n + mean(1/n_k)/K)),
  referred to Student's t with K - 1 degrees of freedom (scipy.stats.t): the usual
  prediction interval for one more group from K groups, so a campaign of ten clones is
  judged with the uncertainty ten clones carry.

Features are tested two-sided; T² and DModX one-sided (only a rise means "further from
experience"). The share of runs outside the domain is tested against its nominal 1 %
(scipy.stats.binomtest, one-sided). All p-values of one campaign form one family, and the
false discovery rate is held at ``FDR`` by Benjamini-Hochberg
(scipy.stats.false_discovery_control): with some 60 features, a per-feature 5 % test would
call one in twenty in-distribution campaigns drifted several times over.

Process conditions are also held to the range the history ran: a set point is a designed
value, not a noisy measurement, so a campaign that runs a condition beyond the range of
every training run (by more than ``RANGE_TOLERANCE`` of that range: set points are rounded,
and a history of some 70 designed points leaves small gaps at the ends of its box) has
gone where the model has no experience, however few of its runs did. The test above could
miss this: the training campaigns' DOEs differ on purpose, so the spread of their mean
conditions is wide, and a campaign half inside the box can have an ordinary mean.

Verdict: ``outside experience`` when T², DModX or the outside share rose, or a process
condition left the trained range; ``drift`` (with
the features named) when only features moved; ``none`` otherwise. Features the campaign did
not measure are left out of the tests and named (missing families are said per run by the
flags already). The training reference holds only per-campaign means, counts and one SD
per column: no training row leaves the bundle.

Evidently was considered and not used: it pins ``plotly<6`` (DESIGN/issue 26).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from models.applicability import OUTSIDE, ApplicabilityDomain

FDR = 0.01  # Benjamini-Hochberg level across one campaign's tests
NOMINAL_OUTSIDE = 0.01  # the applicability domain's "outside" share (ALPHAS[1])
MIN_CAMPAIGNS = 3  # fewer training campaigns give no campaign-to-campaign spread
DOMAIN_COLUMNS = ("log_t2", "log_dmodx")
DRIFT_FIELDS = ("t2", "dmodx", "applicability", "clone_id", "campaign_id")  # per scored run
NONE, DRIFT, OUTSIDE_EXPERIENCE = "none", "drift", "outside experience"
RANGE_TOLERANCE = 0.05  # of a condition's trained range (see the module docstring)
CONDITION_PREFIX = "run__"  # the model's process-condition features (models.families)
DRIFT_METHOD = (
    "each input feature's campaign mean against the spread of the training campaigns' means "
    "(Student's t prediction for one more campaign), T² and DModX one-sided, the share of "
    f"runs outside the domain against its nominal {NOMINAL_OUTSIDE:.0%} (binomial); "
    f"Benjamini-Hochberg at FDR {FDR:g} across one campaign's tests; each process condition "
    f"against the range the training runs covered (beyond {RANGE_TOLERANCE:.0%} of it: "
    "outside experience)"
)
NO_DRIFT_REFERENCE = (
    "this model was trained before clonescout kept a drift reference in the bundle; "
    "retrain it to judge drift"
)


@dataclass(frozen=True)
class DriftReference:
    """What drift is judged against: per training campaign, column means and clone counts.

    ``columns``: the model's features, then :data:`DOMAIN_COLUMNS`. ``means``: (K, p)
    campaign means of runs (NaN where a campaign lacked the column), ``clones``: (K, p)
    clones with a value, ``within_sd``: (p,) pooled within-campaign SD of runs.
    """

    columns: list[str]
    campaigns: list[str]
    means: np.ndarray
    clones: np.ndarray
    within_sd: np.ndarray
    # process condition -> (lowest, highest) over the training runs; empty in bundles
    # trained before the range was kept
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "columns": self.columns,
            "campaigns": self.campaigns,
            "means": _listed(self.means),
            "clones": self.clones.astype(int).tolist(),
            "within_sd": _listed(self.within_sd),
            "ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in self.ranges.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> DriftReference:
        return cls(
            list(d["columns"]),
            list(d["campaigns"]),
            np.asarray(d["means"], dtype=float).reshape(len(d["campaigns"]), len(d["columns"])),
            np.asarray(d["clones"], dtype=float).reshape(len(d["campaigns"]), len(d["columns"])),
            np.asarray(d["within_sd"], dtype=float),
            {k: (float(v[0]), float(v[1])) for k, v in d.get("ranges", {}).items()},
        )


def _listed(a: np.ndarray) -> list:
    return np.where(np.isfinite(a), a, np.nan).astype(object).tolist()  # NaN -> NaN (JSON null)


def domain_columns(t2: np.ndarray, dmodx: np.ndarray) -> dict[str, np.ndarray]:
    """The applicability scores as drift columns (logs: both are skewed, positive)."""
    with np.errstate(divide="ignore"):
        return {
            "log_t2": np.log(np.maximum(np.asarray(t2, float), 1e-12)),
            "log_dmodx": np.log(np.maximum(np.asarray(dmodx, float), 1e-12)),
        }


def held_out_domain(
    A: np.ndarray, campaigns: np.ndarray, domain: ApplicabilityDomain
) -> tuple[np.ndarray, np.ndarray]:
    """T² and DModX of each training run by a PCA fitted without its campaign.

    A training run scored by the final PCA looks closer than a new run does (the PCA was
    fitted to it); leaving its campaign out gives the scores a new campaign would get.
    """
    k = len(domain.eigenvalues)
    t2 = np.full(len(A), np.nan)
    dmodx = np.full(len(A), np.nan)
    for c in pd.unique(campaigns):
        test = campaigns == c
        if test.all():
            return domain.score(A)[:2]
        t2[test], dmodx[test], _ = ApplicabilityDomain.fit_pca(A[~test], k).score(A[test])
    return t2, dmodx


def build_reference(
    X: pd.DataFrame, clones: pd.Series, campaigns: pd.Series, extra: Mapping[str, np.ndarray]
) -> DriftReference:
    """The reference of the training runs ``X`` (features), with ``extra`` columns per run."""
    frame = X.astype(float).copy()
    for name, values in extra.items():
        frame[name] = np.asarray(values, dtype=float)
    stats_ = CampaignStats.of(frame, clones.to_numpy(), campaigns.to_numpy())
    names = sorted(stats_.campaigns)
    means = np.vstack([stats_.mean(c) for c in names])
    counts = np.vstack([stats_.clone_counts(c) for c in names]).astype(float)
    ranges = {}
    for col in condition_columns(list(frame.columns)):
        lo, hi = stats_.range_of(col)
        if np.isfinite(lo):
            ranges[col] = (lo, hi)
    return DriftReference(list(frame.columns), names, means, counts, stats_.within_sd(), ranges)


def condition_columns(columns: Sequence[str]) -> list[str]:
    """The process conditions among ``columns`` (``run__`` features, no one-hot labels)."""
    return [c for c in columns if c.startswith(CONDITION_PREFIX) and "=" not in c]


@dataclass
class CampaignStats:
    """Sums per campaign and column, added chunk by chunk (a campaign may span chunks).

    Per campaign: sum, sum of squares and count of each column over runs, the runs, the
    runs outside the domain, and the hashes of its clones (64-bit, as a sorted array: a
    million runs' clones take a few MB). A column's clone count is the campaign's clones
    times the share of its runs that have the column.
    """

    columns: list[str]
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    squares: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    clone_hashes: dict[str, np.ndarray] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    outside: dict[str, int] = field(default_factory=dict)
    lows: dict[str, np.ndarray] = field(default_factory=dict)  # per column, over runs
    highs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def campaigns(self) -> list[str]:
        return list(self.sums)

    def range_of(self, column: str, campaign: str | None = None) -> tuple[float, float]:
        """(lowest, highest) value of ``column`` in ``campaign`` (None: every campaign)."""
        j = self.columns.index(column)
        names = self.campaigns if campaign is None else [campaign]
        lo = min((float(self.lows[c][j]) for c in names), default=np.inf)
        hi = max((float(self.highs[c][j]) for c in names), default=-np.inf)
        return lo, hi

    @classmethod
    def of(
        cls,
        frame: pd.DataFrame,
        clones: np.ndarray,
        campaigns: np.ndarray,
        status: np.ndarray | None = None,
    ) -> CampaignStats:
        out = cls(list(frame.columns))
        out.add(frame, clones, campaigns, status)
        return out

    def add(
        self,
        frame: pd.DataFrame,
        clones: np.ndarray,
        campaigns: np.ndarray,
        status: np.ndarray | None = None,
    ) -> None:
        """Add runs: ``frame`` (one row per run, :attr:`columns`), their clone and campaign."""
        values = frame.reindex(columns=self.columns).to_numpy(dtype=float, na_value=np.nan)
        campaigns = np.asarray(campaigns).astype(str)
        hashes = pd.util.hash_array(np.asarray(clones).astype(str).astype(object))
        codes, names = pd.factorize(campaigns)
        p = len(self.columns)
        for j, c in enumerate(names):
            rows = codes == j
            v = values[rows]
            ok = ~np.isnan(v)
            z = np.where(ok, v, 0.0)
            if c not in self.sums:
                self.sums[c], self.squares[c] = np.zeros(p), np.zeros(p)
                self.counts[c] = np.zeros(p)
                self.clone_hashes[c] = np.empty(0, dtype=np.uint64)
                self.runs[c], self.outside[c] = 0, 0
                self.lows[c], self.highs[c] = np.full(p, np.inf), np.full(p, -np.inf)
            self.lows[c] = np.minimum(self.lows[c], np.where(ok, v, np.inf).min(axis=0))
            self.highs[c] = np.maximum(self.highs[c], np.where(ok, v, -np.inf).max(axis=0))
            self.sums[c] += z.sum(axis=0)
            self.squares[c] += (z * z).sum(axis=0)
            self.counts[c] += ok.sum(axis=0)
            self.runs[c] += int(rows.sum())
            if status is not None:
                self.outside[c] += int((np.asarray(status)[rows] == OUTSIDE).sum())
            self.clone_hashes[c] = np.union1d(self.clone_hashes[c], hashes[rows])

    def add_scored(self, X: pd.DataFrame, scored: pd.DataFrame | Mapping[str, Any]) -> None:
        """Add scored runs: features ``X`` and, per run in ``X``'s order, ``DRIFT_FIELDS``."""
        self.add(
            drift_frame(X, self.columns, scored["t2"], scored["dmodx"]),
            np.asarray(scored["clone_id"]),
            np.asarray(scored["campaign_id"]),
            np.asarray(scored["applicability"]),
        )

    def mean(self, c: str) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts[c] > 0, self.sums[c] / self.counts[c], np.nan)

    def clone_counts(self, c: str) -> np.ndarray:
        """Clones with a value, per column (the campaign's clones x the share of runs)."""
        share = self.counts[c] / max(self.runs[c], 1)
        return np.where(self.counts[c] > 0, np.maximum(len(self.clone_hashes[c]) * share, 1.0), 0.0)

    def within_sd(self) -> np.ndarray:
        """Pooled SD of runs around their campaign's mean, per column."""
        ss = np.zeros(len(self.columns))
        dof = np.zeros(len(self.columns))
        for c in self.sums:
            n = self.counts[c]
            with np.errstate(invalid="ignore", divide="ignore"):
                centred = self.squares[c] - np.where(n > 0, self.sums[c] ** 2 / n, 0.0)
            ss += np.maximum(centred, 0.0)
            dof += np.maximum(n - 1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(dof > 0, np.sqrt(ss / dof), np.nan)


@dataclass(frozen=True)
class Verdict:
    """One campaign's drift: the verdict, the columns that moved, every test's figures."""

    campaign_id: str
    verdict: str
    drifted: list[str]
    runs: int
    outside_share: float
    tests: pd.DataFrame  # column, statistic, p, p_adjusted, drifted, new_mean, ref_mean
    not_measured: list[str]
    # conditions run beyond the trained range: column, trained [lo, hi], campaign [lo, hi]
    beyond_range: list[dict] = field(default_factory=list)

    @property
    def sentence(self) -> str:
        if self.verdict == NONE:
            return "no drift"
        if self.verdict == DRIFT:
            return "drift in " + ", ".join(self.drifted)
        return "outside experience: " + ", ".join(self.drifted)

    def to_dict(self, top: int = 10) -> dict:
        moved = self.tests[self.tests["drifted"]].sort_values("p")
        return {
            "campaign_id": self.campaign_id,
            "verdict": self.verdict,
            "drifted": self.drifted,
            "sentence": self.sentence,
            "runs": self.runs,
            "outside_share": round(self.outside_share, 4),
            "nominal_outside_share": NOMINAL_OUTSIDE,
            "fdr": FDR,
            "tests": len(self.tests),
            "not_measured": self.not_measured,
            "beyond_trained_range": self.beyond_range,
            "moved": [
                {
                    "column": r.column,
                    "new_mean": _round(r.new_mean),
                    "training_campaigns_mean": _round(r.ref_mean),
                    "t": _round(r.statistic),
                    "p_adjusted": float(f"{r.p_adjusted:.3g}"),
                }
                for r in moved.head(top).itertuples()
            ],
        }


def _round(x: Any) -> float | None:
    return float(f"{x:.4g}") if np.isfinite(x) else None


def _campaign_t(ref: DriftReference, new_mean: np.ndarray, new_clones: np.ndarray) -> tuple:
    """T statistic and degrees of freedom of the new campaign's means, per column."""
    m = ref.means
    ok = np.isfinite(m) & (ref.clones > 0)
    K = ok.sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(ok, m, 0.0).sum(axis=0) / K
        spread = np.where(ok, (m - centre) ** 2, 0.0).sum(axis=0) / (K - 1)
        inv_n = np.where(ok, 1.0 / np.where(ok, ref.clones, 1.0), 0.0).sum(axis=0) / K
        sw2 = ref.within_sd**2
        between = np.maximum(spread - sw2 * inv_n, 0.0)
        var = between * (1 + 1 / K) + sw2 * (1 / new_clones + inv_n / K)
        t = (new_mean - centre) / np.sqrt(var)
    flat = ~(var > 0)  # a column constant across training: any other value is new
    same = np.isclose(new_mean, centre, rtol=1e-9, atol=1e-12)
    with np.errstate(invalid="ignore"):
        jump = np.sign(new_mean - centre) * np.inf  # NaN where the campaign lacks the column
    t = np.where(flat, np.where(same, 0.0, jump), t)
    return t, K - 1, centre


def assess(ref: DriftReference, stats_: CampaignStats, campaign: str, fdr: float = FDR) -> Verdict:
    """The drift verdict of one campaign of ``stats_`` (columns as ``ref``)."""
    if stats_.columns != ref.columns:
        raise ValueError("campaign statistics and reference disagree on their columns")
    new_mean = stats_.mean(campaign)
    new_clones = stats_.clone_counts(campaign)
    t, dof, centre = _campaign_t(ref, new_mean, new_clones)
    testable = np.isfinite(new_mean) & (new_clones > 0) & (dof >= MIN_CAMPAIGNS - 1)
    domain = np.isin(ref.columns, DOMAIN_COLUMNS)
    with np.errstate(invalid="ignore"):
        two = 2 * stats.t.sf(np.abs(t), np.maximum(dof, 1))
        one = stats.t.sf(t, np.maximum(dof, 1))
    p = np.where(domain, one, two)
    names = [c for c, ok in zip(ref.columns, testable, strict=True) if ok]
    frame = pd.DataFrame(
        {
            "column": names,
            "statistic": t[testable],
            "p": p[testable],
            "new_mean": new_mean[testable],
            "ref_mean": centre[testable],
        }
    )
    runs, outside = stats_.runs[campaign], stats_.outside[campaign]
    share = outside / runs if runs else float("nan")
    if runs:
        binom = stats.binomtest(outside, runs, NOMINAL_OUTSIDE, alternative="greater").pvalue
        frame.loc[len(frame)] = ["outside_share", np.nan, binom, share, NOMINAL_OUTSIDE]
    frame["p_adjusted"] = (
        stats.false_discovery_control(frame["p"].to_numpy(float)) if len(frame) else []
    )
    frame["drifted"] = frame["p_adjusted"] <= fdr
    beyond = beyond_range(ref, stats_, campaign)
    moved = [b["column"] for b in beyond]
    moved += [c for c in frame[frame["drifted"]].sort_values("p")["column"] if c not in moved]
    experience = [c for c in moved if c in (*DOMAIN_COLUMNS, "outside_share")]
    verdict = OUTSIDE_EXPERIENCE if experience or beyond else (DRIFT if moved else NONE)
    not_measured = [
        c
        for c, ok, dom in zip(ref.columns, np.isfinite(new_mean), domain, strict=True)
        if not ok and not dom
    ]
    return Verdict(campaign, verdict, moved, runs, share, frame, not_measured, beyond)


def beyond_range(ref: DriftReference, stats_: CampaignStats, campaign: str) -> list[dict]:
    """The process conditions ``campaign`` ran beyond the trained range (and how far)."""
    out = []
    for col, (lo, hi) in ref.ranges.items():
        if col not in stats_.columns:
            continue
        c_lo, c_hi = stats_.range_of(col, campaign)
        if not np.isfinite(c_lo):
            continue  # the campaign did not give this condition
        tol = RANGE_TOLERANCE * (hi - lo) if hi > lo else 1e-9 * max(abs(hi), 1.0)
        if c_lo < lo - tol or c_hi > hi + tol:
            out.append(
                {
                    "column": col,
                    "trained": [_round(lo), _round(hi)],
                    "campaign": [_round(c_lo), _round(c_hi)],
                }
            )
    return out


def assess_all(ref: DriftReference, stats_: CampaignStats, fdr: float = FDR) -> list[Verdict]:
    """:func:`assess` for every campaign of ``stats_``, in name order."""
    return [assess(ref, stats_, c, fdr) for c in sorted(stats_.campaigns)]


def drift_frame(X: pd.DataFrame, columns: Sequence[str], t2, dmodx) -> pd.DataFrame:
    """The columns drift reads of scored runs: features ``X`` and their domain scores."""
    frame = X.reindex(columns=[c for c in columns if c not in DOMAIN_COLUMNS]).astype(float)
    for name, values in domain_columns(t2, dmodx).items():
        frame[name] = values
    return frame


def drift_summary(ref: DriftReference | None, stats_: CampaignStats | None) -> dict:
    """Every campaign's verdict as ``score``'s summary and the API say it."""
    if ref is None or stats_ is None:
        return {"available": False, "why": NO_DRIFT_REFERENCE}
    return {
        "available": True,
        "method": DRIFT_METHOD,
        "campaigns": [v.to_dict() for v in assess_all(ref, stats_)],
    }


def scored_stats(
    ref: DriftReference | None, X: pd.DataFrame, scored: Mapping[str, Sequence]
) -> CampaignStats | None:
    """Campaign statistics of scored runs: features ``X`` and :data:`DRIFT_FIELDS` of ``scored``.

    ``X``'s rows and ``scored``'s values are in the same order, one per run.
    """
    if ref is None:
        return None
    out = CampaignStats(ref.columns)
    out.add_scored(X, scored)
    return out

"""The gain of a chosen process condition, without the winner's curse, and with its interval.

A recommendation is the best of hundreds of predicted candidates, so its predicted gain
is biased upwards: the candidates whose error happens to be positive win (the winner's
curse; Thaler 1988). Every gain shown to a user is corrected twice, and the same rule
serves ``whatif``, ``process``, ``/whatif``, the report and the next-experiment proposals:

1. **Bootstrap optimism** (Efron & Tibshirani 1993 ch. 17; Harrell 2015 §5.3). The process
   model carries titer and yield models fitted on bootstrap samples of the history's
   campaigns (:func:`training.process.fit_process_model`). Each chooses as the model does,
   and the model - which did not make that choice - judges it: the optimism is the mean of
   (the bootstrap model's gain of its own choice - the model's gain of that choice), and
   is taken off the model's gain. It measures what choosing on data that vary like the
   history's adds to a predicted gain.
2. **Held-out calibration.** Pairs of runs of one clone under two conditions, predicted by
   models fitted without the clone's campaign (:func:`training.process.gain_calibration`):
   the slope of measured on predicted difference is the share of a predicted change held-
   out runs confirmed. The gain is multiplied by it, and its interval is the gain plus the
   residuals of those pairs (two runs' noise included: the interval errs on the wide side).

A clone is told it needs its own condition only when the evidence says so
(:func:`own_condition_evidence`): its own optimum's corrected gain over the campaign
condition, shrunk toward zero across the campaign's clones by empirical Bayes (a clone's
surface is the campaign's unless its predictions say otherwise; the noise of each
clone's estimate is its bootstrap spread), is still above :data:`MIN_OWN_GAIN` at the
lower end of its one-sided 90% interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.process import LEVEL, ProcessModel

MIN_OWN_GAIN = 0.05  # g/L: an own condition must be worth at least this (a separate recipe)
Z_ONE_SIDED_90 = 1.2816  # the 90% lower bound of a normal posterior


@dataclass(frozen=True)
class Gain:
    """A chosen candidate's gain over a baseline, as shown to users (g/L of purified product)."""

    value: float  # the corrected gain
    lo: float  # its interval at LEVEL
    hi: float
    raw: float  # the model's predicted gain of the chosen candidate
    optimism: float  # what choosing on the data's noise adds (bootstrap); NaN: not estimable
    slope: float  # held-out calibration slope applied (1.0: not calibrated)

    @property
    def how(self) -> str:
        parts = [f"the model's prediction for the best candidate {self.raw:+.2f} g/L"]
        if np.isfinite(self.optimism):
            parts.append(f"less {self.optimism:.2f} for choosing the best (bootstrap optimism)")
        else:
            parts.append("no bootstrap optimism (a model trained before issue 24)")
        if self.slope != 1.0:
            parts.append(
                f"times {self.slope:.2f}, the share of predicted gains held-out runs showed"
            )
        else:
            parts.append("not calibrated on held-out runs")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, float | str]:
        return {
            "gain_g_l": self.value,
            "gain_g_l_lo": self.lo,
            "gain_g_l_hi": self.hi,
            "gain_raw_g_l": self.raw,
            "gain_optimism_g_l": self.optimism,
            "gain_slope": self.slope,
            "gain_how": self.how,
        }

    def text(self) -> str:
        return f"{self.value:+.2f} g/L ({LEVEL:.0%}: {self.lo:+.2f} to {self.hi:+.2f})"


def slope_of(pm: ProcessModel) -> float:
    """The held-out calibration slope of predicted gains (1.0 when the bundle has none)."""
    s = pm.gain_calibration.get("slope")
    return 1.0 if s is None or not np.isfinite(s) else float(s)


def interval_offsets(pm: ProcessModel, spread: tuple[float, float]) -> tuple[float, float]:
    """Where a gain's interval ends, relative to the gain.

    The held-out pairs' residuals; without them (an older model), ``spread``: the chosen
    candidate's own predictive interval around its point, wider still.
    """
    cal = pm.gain_calibration
    return (cal["residual_lo"], cal["residual_hi"]) if cal else spread


def corrected_gain(
    pm: ProcessModel,
    gain: Callable[[int | None, object], float],
    choose: Callable[[int], object],
    chosen: object,
    spread: tuple[float, float],
) -> Gain:
    """The corrected gain of ``chosen`` (the model's choice) over its baseline.

    ``gain(k, label)``: the gain of candidate ``label`` by bootstrap model ``k`` or by the
    model (``k`` None); ``choose(k)``: the candidate bootstrap model ``k`` would choose.
    """
    return correct(pm, gain(None, chosen), optimism_of(pm, gain, choose), spread)


def correct(pm: ProcessModel, raw: float, optimism: float, spread: tuple[float, float]) -> Gain:
    """``raw`` less ``optimism`` (none when NaN), times the held-out slope, with its interval."""
    slope = slope_of(pm)
    value = slope * (raw - (optimism if np.isfinite(optimism) else 0.0))
    lo_off, hi_off = interval_offsets(pm, spread)
    return Gain(value, value + lo_off, value + hi_off, raw, optimism, slope)


def optimism_of(
    pm: ProcessModel,
    gain: Callable[[int | None, object], float],
    choose: Callable[[int], object],
) -> float:
    """Mean over bootstrap models of (their gain of their choice - the model's gain of it)."""
    if not pm.bootstrap:
        return float("nan")
    picks = [choose(k) for k in range(len(pm.bootstrap))]
    return float(np.mean([gain(k, p) - gain(None, p) for k, p in enumerate(picks)]))


@dataclass(frozen=True)
class OwnEvidence:
    """Whether each clone's own optimum beats the campaign condition beyond its uncertainty."""

    gain: np.ndarray  # posterior mean gain of the own optimum over the campaign condition
    lower: np.ndarray  # its one-sided 90% lower bound
    needs_own: np.ndarray  # lower > the least gain an own condition must bring
    shrinkage: np.ndarray  # share of each clone's estimated departure kept (0: none, 1: all)


def own_condition_evidence(
    estimate: np.ndarray, se: np.ndarray, min_gain: float = MIN_OWN_GAIN
) -> OwnEvidence:
    """Empirical-Bayes verdicts on the clones' own optima (one campaign).

    ``estimate[i]``: clone i's own optimum's corrected gain over the campaign condition;
    ``se[i]``: its standard error (the bootstrap models' spread). The prior is a normal
    centred on zero - the clone's surface is the campaign's - whose variance is estimated
    across the campaign's clones by the method of moments (James & Stein 1961; Efron &
    Morris 1975). NaN entries (a clone not scored) get no verdict.
    """
    d, s2 = np.asarray(estimate, float), np.asarray(se, float) ** 2
    ok = np.isfinite(d) & np.isfinite(s2)
    if not ok.any():
        empty = np.full(len(d), np.nan)
        return OwnEvidence(empty, empty, np.zeros(len(d), bool), empty)
    tau2 = max(float(np.mean(d[ok] ** 2) - np.mean(s2[ok])), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = np.where(tau2 + s2 > 0, tau2 / (tau2 + s2), 0.0)
    post = keep * d
    lower = post - Z_ONE_SIDED_90 * np.sqrt(keep * s2)
    needs = np.where(ok, lower > min_gain, False)
    return OwnEvidence(
        np.where(ok, post, np.nan), np.where(ok, lower, np.nan), needs, np.where(ok, keep, np.nan)
    )

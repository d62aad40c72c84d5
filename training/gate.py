"""What a model must show before it may become champion, and how two models compare.

Headline metrics: for each target that no risk judges, and for the purification yield,
MAE and Spearman; for the glycan attributes, the glycan out-of-spec risk's Brier score and
AUROC, and for HMW and HCP the downstream risk's (the risk is what a scientist acts on).
"Beats a baseline" is judged with the same noise rule as promotion: on no headline metric
worse than the baseline by more than one standard error of the paired fold-to-fold
difference, and on at least one better by more than that. A
difference inside one SE is a tie, not a win: a strict comparison of point estimates
would let the fold noise decide. Interval coverage at 80% and 90% must be estimable and
within ``COVERAGE_TOLERANCE`` of nominal, and every target must have at least the minimum
number of runs.

Two models are compared fold by fold on the same outer folds: the difference of a metric
counts as better or worse only beyond one standard error of its fold-to-fold spread,
otherwise it is a tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.preconditions import MIN_RUNS_PER_TARGET

COVERAGE_TOLERANCE = 0.05
LOWER_IS_BETTER = ("mae", "brier")
EPS = 1e-9


@dataclass(frozen=True)
class Row:
    """One line of the table a promotion decision is explained by."""

    check: str
    reference: str  # the champion's or the baseline's value
    candidate: str
    difference: str
    tolerance: str
    verdict: str  # better, worse, tie, pass, fail, skipped


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{x:.4f}"


def headline(metrics: dict) -> list[tuple[str, str, str]]:
    """(label, path, metric) of each headline metric (path: "targets.t" or a risk block).

    An attribute a spec limit judges counts through its risk, which is what a scientist acts
    on: the glycans through the glycan risk, HMW and HCP through the downstream risk. The
    purification yield, the headline target, keeps its own MAE and Spearman as well.
    """
    glycans = set(metrics.get("glyco_risk", {}).get("judged", []))
    downstream = set(metrics.get("downstream_risk", {}).get("judged", [])) - {"dsp_yield_pct"}
    out = []
    for t in metrics["targets"]:
        if t not in glycans | downstream:
            out += [(f"{t} {m}", f"targets.{t}", m) for m in ("mae", "spearman")]
    if glycans:
        out += [(f"glycan risk {m}", "glyco_risk", m) for m in ("brier", "auroc")]
    if downstream:
        out += [(f"downstream risk {m}", "downstream_risk", m) for m in ("brier", "auroc")]
    return out


def _block(metrics: dict, path: str) -> dict:
    node = metrics
    for part in path.split("."):
        node = node[part]
    return node


def paired(a: list, b: list) -> tuple[float, float]:
    """Mean and standard error of a - b over the folds where both are known.

    A fold where either side is missing (None or NaN: a held-out campaign with no
    out-of-spec run has no AUROC) is left out; fewer than two folds left give a NaN SE.

    >>> paired([0.5, 0.6, 0.7], [float("nan"), 0.9, 0.95])
    (-0.275, 0.025000000000000022)
    """
    d = np.array([x - y for x, y in zip(a, b, strict=True) if _known(x) and _known(y)], float)
    if d.size < 2:
        return (float(d.mean()) if d.size else float("nan")), float("nan")
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))


def _known(x: float | None) -> bool:
    return x is not None and not np.isnan(x)


def judge(metric: str, diff: float, tol: float) -> str:
    """Better / worse / tie for a candidate-minus-reference difference.

    Without a fold-to-fold spread (fewer than two folds where both are known) no
    difference can be told from noise: that is a tie, never a win on one fold.

    >>> judge("auroc", 0.01, float("nan")), judge("mae", -0.3, 0.1), judge("mae", 0.05, 0.1)
    ('tie', 'better', 'tie')
    """
    if np.isnan(diff) or np.isnan(tol):
        return "tie"
    good = -diff if metric in LOWER_IS_BETTER else diff
    return "better" if good > tol + EPS else "worse" if good < -tol - EPS else "tie"


def versus(model: dict, base: dict, metric: str) -> tuple[float, float, str]:
    """Model minus baseline on ``metric`` over the folds, its SE, and better / worse / tie.

    ``model`` and ``base`` each hold the metric and its ``per_fold`` values.
    """
    diff, se = paired(model["per_fold"][metric], base["per_fold"][metric])
    return diff, se, judge(metric, diff, se)


def _row(check: str, model: dict, base: dict, metric: str) -> Row:
    """A gate row: failed only when the model is worse than the baseline beyond one SE."""
    diff, se, verdict = versus(model, base, metric)
    return Row(
        check,
        _fmt(base[metric]),
        _fmt(model[metric]),
        _fmt(diff),
        f"{_fmt(se)} (1 SE)",
        "fail (worse)" if verdict == "worse" else f"pass ({verdict})",
    )


def _vs_baseline(label: str, block: dict, metric: str, name: str) -> Row:
    base = block["baselines"][name]
    if base.get("skipped"):
        return Row(f"{label} vs {name}", "skipped", "", "", "", "skipped: " + base["reason"])
    return _row(f"{label} vs {name}", block["model"], base, metric)


def _beats(name: str, rows: list[Row]) -> Row | None:
    """One row: better than baseline ``name`` beyond 1 SE on some headline metric."""
    mine = [r for r in rows if r.check.endswith(f" vs {name}") and r.verdict.startswith("pass")]
    if not mine and all(r.verdict.startswith("skipped") for r in rows if r.check.endswith(name)):
        return None
    better = [r.check.removesuffix(f" vs {name}") for r in mine if r.verdict == "pass (better)"]
    return Row(
        f"beats {name}",
        "",
        ", ".join(better) or "no metric",
        "",
        "better beyond 1 SE on one",
        "pass" if better else "fail (a tie is no reason to replace the baseline)",
    )


def quality_gate(metrics: dict) -> list[Row]:
    """The rows a candidate must pass before it may become champion."""
    rows = []
    for label, path, metric in headline(metrics):
        block = _block(metrics, path)
        names = ["titer_rank", "pls"] if path.startswith("targets.") else ["pls"]
        rows += [_vs_baseline(label, block, metric, n) for n in names]
    rows += [r for r in (_beats(n, rows) for n in ("titer_rank", "pls")) if r is not None]
    rows += decision_rows(metrics)
    for t, block in metrics["targets"].items():
        for lv in ("0.8", "0.9"):
            rep = block["model"]["coverage"][lv]
            nominal = float(lv)
            value = rep.get("overall") if rep["estimable"] else None
            ok = value is not None and abs(value - nominal) <= COVERAGE_TOLERANCE
            rows.append(
                Row(
                    f"{t} {round(nominal * 100)}% coverage",
                    f"{nominal:.2f}",
                    _fmt(value) if value is not None else "not estimable",
                    _fmt(None if value is None else value - nominal),
                    f"±{COVERAGE_TOLERANCE:.2f}",
                    "pass" if ok else "fail",
                )
            )
    for t, n in metrics.get("data", {}).get("runs_with_value", {}).items():
        ok = n >= MIN_RUNS_PER_TARGET
        rows.append(
            Row(f"{t} runs", f">= {MIN_RUNS_PER_TARGET}", str(n), "", "", "pass" if ok else "fail")
        )
    return rows


def decision_rows(metrics: dict) -> list[Row]:
    """Clone choice (pairwise, within campaigns) of yield and product beside the baselines.

    Worse than PLS or the titer rank by more than one SE fails, as for the headline metrics.
    """
    return [
        _row(f"{what} clone choice vs {name}", block["model"], block[name], "pairwise")
        for what, block in metrics.get("decision", {}).items()
        for name in ("pls", "titer_rank")
        if name in block
    ]


def failed(rows: list[Row]) -> list[str]:
    return [r.check for r in rows if r.verdict.startswith("fail")]


def compare(candidate: dict, champion: dict) -> list[Row]:
    """Fold-by-fold comparison on the headline metrics both models share."""
    champ = {(path, m): label for label, path, m in headline(champion)}
    rows = []
    for label, path, metric in headline(candidate):
        if (path, metric) not in champ:
            continue
        c, r = _block(candidate, path)["model"], _block(champion, path)["model"]
        diff, se = paired(c["per_fold"][metric], r["per_fold"][metric])
        rows.append(
            Row(
                label,
                _fmt(r[metric]),
                _fmt(c[metric]),
                _fmt(diff),
                f"{_fmt(se)} (1 SE)",
                judge(metric, diff, se),
            )
        )
    return rows

"""Promotion rules on hand-made metrics: the quality gate and fold-by-fold comparison."""

from __future__ import annotations

import copy

import pytest

from training.gate import compare, failed, quality_gate
from training.promote import Decision


def _reg(mae: float, rho: float, shift: float = 0.0) -> dict:
    return {
        "mae": mae,
        "spearman": rho,
        "per_fold": {
            "mae": [mae + d + shift for d in (-0.05, 0.0, 0.05, 0.02, -0.02)],
            "spearman": [rho + d for d in (0.01, -0.01, 0.0, 0.02, -0.02)],
        },
    }


def _coverage(c90: float = 0.9, c80: float = 0.8) -> dict:
    return {
        "0.8": {"estimable": True, "overall": c80},
        "0.9": {"estimable": True, "overall": c90},
    }


def metrics(mae: float = 2.6, brier: float = 0.09, runs: int = 1000) -> dict:
    y_model = {**_reg(mae, 0.85), "coverage": _coverage()}
    g_model = {**_reg(1.7, 0.9), "coverage": _coverage()}
    risk = {
        "auroc": 0.9,
        "brier": brier,
        "per_fold": {"auroc": [0.9] * 5, "brier": [brier + d for d in (-0.01, 0, 0.01, 0, 0)]},
    }
    pls_risk = {"auroc": 0.9, "brier": 0.1, "per_fold": {"auroc": [0.9] * 5, "brier": [0.1] * 5}}
    return {
        "targets": {
            "dsp_yield_pct": {
                "model": y_model,
                "baselines": {"titer_rank": _reg(5.7, 0.0), "pls": _reg(2.7, 0.83)},
            },
            "g0f_pct": {
                "model": g_model,
                "baselines": {"titer_rank": _reg(4.5, 0.1), "pls": _reg(1.6, 0.92)},
            },
        },
        "glyco_risk": {"model": risk, "baselines": {"pls": pls_risk}, "judged": ["g0f_pct"]},
        "data": {"runs_with_value": {"dsp_yield_pct": runs, "g0f_pct": runs}},
    }


def _failed(m: dict) -> list[str]:
    return failed(quality_gate(m))


def test_a_good_model_passes_the_gate_judged_on_yield_and_glycan_risk() -> None:
    assert _failed(metrics()) == []
    checks = {r.check for r in quality_gate(metrics())}
    # g0f is judged through the glycan risk (it loses to PLS on MAE here, on purpose)
    assert "g0f_pct mae vs pls" not in checks and "glycan risk brier vs pls" in checks


@pytest.mark.parametrize(
    "change,fails",
    [
        (lambda m: m["targets"]["dsp_yield_pct"]["model"].update(_reg(2.75, 0.85)), "mae vs pls"),
        (
            lambda m: m["glyco_risk"]["model"].update(
                brier=0.11, per_fold={"auroc": [0.9] * 5, "brier": [0.1, 0.11, 0.12, 0.11, 0.11]}
            ),
            "brier vs pls",
        ),
        (
            lambda m: m["targets"]["g0f_pct"]["model"]["coverage"]["0.9"].update(overall=0.84),
            "g0f_pct 90% coverage",
        ),
        (
            lambda m: m["targets"]["g0f_pct"]["model"]["coverage"].update(
                {"0.8": {"estimable": False, "reason": "too few"}}
            ),
            "g0f_pct 80% coverage",
        ),
        (lambda m: m["data"]["runs_with_value"].update(g0f_pct=6), "g0f_pct runs"),
    ],
)
def test_gate_refuses(change, fails: str) -> None:
    m = metrics()
    change(m)
    assert any(fails in f for f in _failed(m)), _failed(m)


def test_a_tie_with_pls_everywhere_is_no_reason_to_deploy() -> None:
    m = metrics()
    pls = m["targets"]["dsp_yield_pct"]["baselines"]["pls"]
    m["targets"]["dsp_yield_pct"]["model"].update(copy.deepcopy({k: pls[k] for k in pls}))
    m["glyco_risk"]["model"] = copy.deepcopy(m["glyco_risk"]["baselines"]["pls"])
    assert "beats pls" in _failed(m)
    assert "beats titer_rank" not in _failed(m)


def test_skipped_titer_baseline_is_shown_not_failed() -> None:
    m = metrics()
    m["targets"]["dsp_yield_pct"]["baselines"]["titer_rank"] = {
        "skipped": True,
        "reason": "no titer_g_l samples",
    }
    rows = {r.check: r for r in quality_gate(m)}
    assert rows["dsp_yield_pct mae vs titer_rank"].verdict.startswith("skipped")
    assert _failed(m) == []
    m["targets"]["g0f_pct"]["baselines"]["titer_rank"] = {"skipped": True, "reason": "x"}
    assert _failed(m) == [] and "beats titer_rank" not in {r.check for r in quality_gate(m)}


def test_comparison_needs_a_difference_beyond_the_fold_spread() -> None:
    champ = metrics()
    tie = copy.deepcopy(champ)
    champ_folds = champ["targets"]["dsp_yield_pct"]["model"]["per_fold"]["mae"]
    noise = (-0.05, 0.04, -0.03, 0.05, -0.06)  # mean -0.01, SE about 0.02
    tie["targets"]["dsp_yield_pct"]["model"]["mae"] = 2.59
    tie["targets"]["dsp_yield_pct"]["model"]["per_fold"]["mae"] = [
        a + d for a, d in zip(champ_folds, noise, strict=True)
    ]
    verdicts = {r.check: r.verdict for r in compare(tie, champ)}
    assert verdicts["dsp_yield_pct mae"] == "tie"  # 0.01 better, within the spread
    better = copy.deepcopy(champ)
    better["targets"]["dsp_yield_pct"]["model"] = _reg(2.2, 0.9, shift=-0.4)
    verdicts = {r.check: r.verdict for r in compare(better, champ)}
    assert verdicts["dsp_yield_pct mae"] == "better"
    assert verdicts["dsp_yield_pct spearman"] == "better"
    worse = copy.deepcopy(champ)
    worse["glyco_risk"]["model"]["per_fold"]["brier"] = [0.2] * 5
    worse["glyco_risk"]["model"]["brier"] = 0.2
    verdicts = {r.check: r.verdict for r in compare(worse, champ)}
    assert verdicts["glycan risk brier"] == "worse"


def test_the_decision_table_says_what_its_difference_is() -> None:
    d = Decision(
        False, "2", None, ["the candidate fails the quality gate"], quality_gate(metrics())
    )
    text = d.render().splitlines()
    assert text[0].split() == [
        "check",
        "reference",
        "candidate",
        "difference*",
        "tolerance",
        "verdict",
    ]
    assert text[-1].startswith("* candidate minus reference") and "per-fold" in text[-1]
    assert len(text) == len(d.table) + 2

"""The scoring fast path (issue 25) gives the numbers and words the plain path gave.

Each fast piece is held to a slow, obvious version written here: XGBoost in place against a
DMatrix, one shared SHAP matrix against one per target, the vectorised reasons against a
loop that writes one sentence at a time and one ``json.dumps`` per run. And the reason
modes: ``flagged`` keeps every flag's reasons and changes nothing else.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from features.assemble import long_frame
from models.applicability import BORDERLINE
from models.conformal import scale_inputs
from models.flags import FLAG_RISK, FLAG_UNKNOWN
from models.reasons import REASON_MODES, TARGETS, _generic, describe_feature, sentence_table
from serving.schemas import ReasonMode


@pytest.fixture(scope="module")
def runs(trained) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run of the small set: its long frame and its features."""
    frame = long_frame(trained.data)
    return frame, trained.bundle.features(frame)


def test_in_place_predictions_equal_the_dmatrix_ones(trained, runs) -> None:
    p = trained.bundle.predictor
    A = np.asarray(p.matrix(runs[1]), np.float32)
    boosted = 0
    for t, m in p.models.items():
        if m.booster is None:
            continue
        boosted += 1
        margin = m._margin(A)
        slow = m.booster.predict(xgb.DMatrix(A, base_margin=margin))
        assert np.array_equal(m.booster.inplace_predict(A, base_margin=margin), slow), t
        scale = p.intervals[t].scale
        if scale.booster is not None:
            inputs = scale_inputs(slow, A)
            assert np.array_equal(
                scale.booster.inplace_predict(inputs),
                scale.booster.predict(xgb.DMatrix(inputs)),
            ), t
    assert boosted, "the small bundle should have boosted members to compare"


def test_one_shap_matrix_serves_every_target(trained, runs) -> None:
    """A base margin only moves SHAP's bias column, which the contributions drop."""
    p = trained.bundle.predictor
    A = np.asarray(p.matrix(runs[1]), np.float32)
    shared = xgb.DMatrix(A)
    for t, m in p.models.items():
        if m.booster is None:
            continue
        own = m.booster.predict(xgb.DMatrix(A, base_margin=m._margin(A)), pred_contribs=True)
        fast = m.booster.predict(shared, pred_contribs=True)
        assert np.array_equal(own[:, :-1], fast[:, :-1]), t


def _one_at_a_time(c, v, medians, names, target, top_k=3) -> list[str]:
    """One run's reasons the slow way: a sentence per loop turn."""
    t_label, t_unit = TARGETS.get(target, _generic(target))
    out = []
    for i in np.argsort(-np.abs(c))[:top_k]:
        if c[i] == 0.0:
            break
        label, unit = describe_feature(names[i])
        value = float(v[i])
        if np.isnan(value):
            level = shown = "missing"
        else:
            level = "high" if value > medians[i] else "low" if value < medians[i] else "typical"
            number = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
            shown = f"{number} {unit}".strip()
        direction = "up" if c[i] > 0 else "down"
        out.append(
            f"{label} ({shown}) {level} → {t_label} {direction} {abs(float(c[i])):.2g} {t_unit}"
        )
    return out


def test_vectorised_reasons_match_one_sentence_at_a_time(trained, runs) -> None:
    b = trained.bundle
    p = b.predictor
    X = runs[1]
    A = p.matrix(X)
    fast = p.predict(X, reasons="all")
    values = A.astype(float)
    known = fast["flag"] != FLAG_UNKNOWN
    assert known.sum() > 50
    for j in np.flatnonzero(known.to_numpy())[:60]:
        slow = {
            t: _one_at_a_time(m.contributions(A[j : j + 1])[0], values[j], p.domain.median,
                              p.feature_names, t)
            for t, m in p.models.items()
        }  # fmt: skip
        assert fast["reasons"].iloc[j] == json.dumps(slow, ensure_ascii=False)


def test_reason_text_is_escaped_as_json_would() -> None:
    """A category named in the data (quotes, backslashes) stays valid JSON."""
    names = ['run__medium=CD "FortiCHO"\\2', "ammonia_mm__d5", "run__feed_pct"]
    c = np.array([[0.5, -2.0, 0.0], [0.0, 0.0, 0.0], [1e-9, np.float32(0.25), 3e5]], np.float32)
    v = np.array([[1.0, np.nan, 4.0], [1.0, 2.0, 3.0], [0.0, 123.456, 0.04]])
    med = np.array([0.0, 5.0, 4.0])
    quoted = sentence_table(c, v, med, names, "hcp_ppm", 3, quoted=True)
    plain = sentence_table(c, v, med, names, "hcp_ppm", 3)
    for q, s in zip(quoted.ravel().tolist(), plain.ravel().tolist(), strict=True):
        assert (q == s == "") or json.loads(q) == s
    assert plain[0].tolist() == [
        "ammonia on day 5 (missing) missing → HCP down 2 ppm",
        'medium is CD "FortiCHO"\\2 (1) high → HCP up 0.5 ppm',
        "",
    ]
    assert plain[1].tolist() == ["", "", ""]  # no contribution, no reason
    assert plain[2].tolist() == [
        "feed (0.04 %/day) low → HCP up 3e+05 ppm",
        "ammonia on day 5 (123 mM) high → HCP up 0.25 ppm",
        'medium is CD "FortiCHO"\\2 (0) typical → HCP up 1e-09 ppm',
    ]


def test_flagged_keeps_every_flags_reasons_and_changes_nothing_else(trained, runs) -> None:
    p = trained.bundle.predictor
    X = runs[1]
    every = p.predict(X, reasons="all")
    flagged = p.predict(X, reasons="flagged")
    bare = p.predict(X, reasons="none")
    assert "reasons" not in bare.columns
    pd.testing.assert_frame_equal(every.drop(columns="reasons"), bare)
    pd.testing.assert_frame_equal(flagged.drop(columns="reasons"), bare)
    wanted = (every["flag"] == FLAG_RISK) | (
        (every["applicability"] == BORDERLINE) & (every["flag"] != FLAG_UNKNOWN)
    )
    assert wanted.any() and not wanted.all(), "the set should have flagged and plain runs"
    assert (flagged.loc[wanted, "reasons"] == every.loc[wanted, "reasons"]).all()
    assert (flagged.loc[wanted, "reasons"] != "").all()
    assert (flagged.loc[~wanted, "reasons"] == "").all()


def test_a_batch_of_only_unknown_runs_gets_no_reasons_and_no_error(trained, runs) -> None:
    """One unknown run alone (the API's usual batch) asks SHAP of no runs at all."""
    frame = runs[0]
    one = frame[frame["run_id"] == frame["run_id"].iloc[0]].assign(run__scale="ambr250")
    for mode in ("all", "flagged"):
        scored = trained.bundle.score(one, reasons=mode)
        assert scored["flag"].tolist() == [FLAG_UNKNOWN] and scored["reasons"].tolist() == [""]


def test_an_unknown_reason_mode_is_refused(trained, runs) -> None:
    with pytest.raises(ValueError, match="reasons must be one of all, flagged, none, not 'some'"):
        trained.bundle.predictor.predict(runs[1].iloc[:3], reasons="some")
    assert ReasonMode.__args__ == REASON_MODES  # the API's choices are the model's

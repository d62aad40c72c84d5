"""A lab folder with every quirk at once goes through validate, features, train and score.

Quirks mixed in: viability overshoot (100.4%), censored and flagged cells ('<LOQ', '<0.5',
'>2000', 'n.d.', 'NA', empty), text in a number ('5,2'), an impossible value (viability
140%), an orphan run (its clone is unknown), samples of a run that runs.csv lacks, a run
with no samples, a constant column, and no titer at all. Every good run must be used or
scored, every bad one listed with its reason, and runs in = used + rejected everywhere.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from clonescout_cli.main import main
from tests.helpers.messy import messy_folder

BAD = {
    "impossible": "viability_pct",  # 140 %: a run rejected at load
    "text": "ammonia_mm",  # '5,2': a run rejected at load
    "orphan": "clone_id",  # a clone that clones.csv lacks
    "no_samples": "run_id",  # rejected at features
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    root = tmp_path_factory.mktemp("messy")
    folder, bad = messy_folder(root)
    return folder, bad, root


def _counts(text: str, pattern: str) -> tuple[int, ...]:
    m = re.search(pattern, text)
    assert m, f"no match for {pattern!r} in:\n{text}"
    return tuple(int(g) for g in m.groups())


def test_validate_keeps_good_runs_and_lists_bad_ones(lab, capsys) -> None:
    folder, bad, root = lab
    rejects = root / "validate_rejects.csv"
    assert main(["validate", "--data", str(folder), "--rejects", str(rejects)]) == 0
    out = capsys.readouterr().out
    n_in, kept, rejected = _counts(out, r"(\d+) runs in: (\d+) valid, (\d+) rejected")
    assert (n_in, kept, rejected) == (81, 77, 4) and n_in == kept + rejected
    table = pd.read_csv(rejects)
    reasons = dict(zip(table["run_id"], table["reason"], strict=True))
    assert set(reasons) == {bad["impossible"], bad["text"], bad["orphan"], bad["ghost"]}
    assert "found 140" in reasons[bad["impossible"]]
    assert "'5,2'" in reasons[bad["text"]]
    assert "K-X" in reasons[bad["orphan"]]
    assert "value in (100, 102] clipped to 100 (instrument overshoot" in out
    for token in ("'<LOQ'", "'<0.5'", "'>2000'", "'n.d.'", "'NA'"):
        assert f"x {token} read as" in out, token
    assert main(["validate", "--data", str(folder), "--strict"]) == 1


def test_features_account_for_every_run(lab, capsys) -> None:
    folder, bad, root = lab
    out_file = root / "features.parquet"
    assert main(["features", "--data", str(folder), "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    n_in, feat, rej, at_load, at_feat = _counts(
        out, r"(\d+) runs in: (\d+) featurised, (\d+) rejected \((\d+) at load, (\d+) at features\)"
    )
    assert (n_in, feat, rej, at_load, at_feat) == (81, 76, 5, 4, 1)
    rejects = pd.read_csv(root / "features.rejects.csv")
    assert rejects.loc[rejects["run_id"] == bad["no_samples"], "reason"].item() == (
        "no samples for this run"
    )
    table = pd.read_parquet(out_file)
    assert len(table) == 76 and not any(c.startswith("titer_g_l") for c in table.columns)


@pytest.fixture(scope="module")
def lab_model(lab, tmp_path_factory):
    """Train on the messy folder through the CLI (--json), in an MLflow store of its own."""
    folder, _, _ = lab
    work = tmp_path_factory.mktemp("messy_mlflow")
    mp = pytest.MonkeyPatch()
    mp.chdir(work)
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["train", "--data", str(folder), "--trials", "2", "--folds", "3", "--inner-folds", "2"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--no-curve", "--json"]) == 0
    yield work, json.loads(out.getvalue())
    mp.undo()


def test_train_uses_good_runs_skips_titer_rank_and_drops_constants(lab_model) -> None:
    work, metrics = lab_model
    d = metrics["data"]
    assert (d["runs_in"], d["runs_used"], d["runs_rejected"]) == (81, 76, 5)
    assert d["rejected_by_stage"] == {"load": 4, "features": 1}
    for t, block in metrics["targets"].items():
        titer = block["baselines"]["titer_rank"]
        assert titer["skipped"] and "no titer_g_l samples" in titer["reason"], t
        assert block["model"]["coverage"]["0.9"]["estimable"], t
    assert metrics["evaluation"]["grouping"] == "campaign_id"
    mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True)
    skipped = [c for c in runs.columns if c.startswith("tags.") and c.endswith(".skipped")]
    assert len(skipped) == len(metrics["targets"])  # recorded in MLflow, on the baseline run
    bundle = mlflow.pyfunc.load_model("models:/clonescout/1").unwrap_python_model().bundle
    dropped = bundle.manifest["dropped_features"]
    assert "run__working_volume_ml" in dropped and "do_setpoint_pct__max" in dropped
    assert "naive_baseline" in bundle.manifest and not bundle.manifest["naive_baseline"]


def test_score_scores_every_good_run_and_lists_the_rest(lab, lab_model, capsys) -> None:
    folder, bad, _ = lab
    work, _ = lab_model
    scores = work / "scores.csv"
    model = "models:/clonescout/1"
    assert main(["score", "--data", str(folder), "--out", str(scores), "--model", model]) == 0
    out = capsys.readouterr().out
    n_in, scored, rejected = _counts(out, r"(\d+) runs in: (\d+) scored, (\d+) rejected")
    assert (n_in, scored, rejected) == (81, 76, 5)
    df = pd.read_csv(scores, keep_default_na=False)
    assert len(df) == 76 and not set(bad.values()) & set(df["run_id"])
    rejects = pd.read_csv(work / "scores.rejects.csv")
    assert set(rejects["run_id"]) == set(bad.values())
    # scored on the very runs it was trained on: said so, and no in-sample figure shown
    assert (df["seen_in_training"] == "same run as in training").all()
    assert "76 of 76 runs were in the training set" in out
    assert "no quality figures" in out and "model R2" not in out
    assert "not judged" not in out  # every spec attribute, HMW and HCP too, is judged

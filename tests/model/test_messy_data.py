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
from simulator.campaign import SimulationConfig, simulate_set, write_set

BAD = {
    "impossible": "viability_pct",  # 140 %: a run rejected at load
    "text": "ammonia_mm",  # '5,2': a run rejected at load
    "orphan": "clone_id",  # a clone that clones.csv lacks
    "no_samples": "run_id",  # rejected at features
}


def _edit(folder: Path, table: str, change) -> None:
    path = folder / f"{table}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(df).to_csv(path, index=False)


def messy_folder(root: Path) -> tuple[Path, dict[str, str]]:
    cfg = SimulationConfig(n_campaigns=4, clones_per_campaign=10, seed=13, deep_clone_share=0.0)
    folder = root / "lab"
    write_set(simulate_set(cfg), folder, cfg, "csv")
    (folder / "truth.csv").unlink()  # a lab has no truth table
    runs = pd.read_csv(folder / "runs.csv", dtype=str)["run_id"].tolist()
    bad = {"impossible": runs[3], "text": runs[10], "orphan": runs[20], "no_samples": runs[30]}

    def samples(df: pd.DataFrame) -> pd.DataFrame:
        df = df.drop(columns=["titer_g_l"])  # no titer at all (a seed-train export)
        df["do_setpoint_pct"] = "40"  # a constant column
        of = {k: (df["run_id"] == r).to_numpy() for k, r in bad.items()}
        day5 = df["day"].astype(float).between(4.5, 5.5).to_numpy()
        df.loc[of["impossible"] & day5, "viability_pct"] = "140"
        df.loc[of["text"] & day5, "ammonia_mm"] = "5,2"
        df = df[~of["no_samples"]]
        df.loc[df.index[[1, 40, 77]], "viability_pct"] = "100.4"  # counter overshoot
        df.loc[df.index[[2, 41]], "ammonia_mm"] = "<LOQ"
        df.loc[df.index[[5, 60]], "glucose_g_l"] = "<0.5"
        df.loc[df.index[[7]], "lactate_g_l"] = "n.d."
        df.loc[df.index[[8, 9]], "glutamine_mm"] = ["NA", ""]
        df.loc[df.index[[11]], "osmolality_mosm_kg"] = ">2000"
        ghost = df[df["run_id"] == runs[0]].assign(run_id="R-not-in-runs")
        return pd.concat([df, ghost])

    _edit(folder, "samples", samples)
    _edit(folder, "runs", lambda df: df.assign(working_volume_ml="15"))

    def orphan(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(clone_id=df["clone_id"].mask(df["run_id"] == bad["orphan"], "K-X"))

    _edit(folder, "runs", orphan)
    _edit(
        folder,
        "outcomes",
        lambda df: df.assign(man5_pct=df["man5_pct"].mask(df.index == 4, "<0.5")),
    )
    return folder, {**bad, "ghost": "R-not-in-runs"}


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
    rejects = pd.read_csv(root / "features.contract.rejects.csv")
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
    assert "not judged" in out and "hmw_pct, hcp_ppm" in out

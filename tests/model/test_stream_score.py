"""`clonescout score` in chunks: every run accounted for, chunking changes nothing, files
appear whole or not at all, and the report renders from what it wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from clonescout_cli.main import main
from serving.batch.pipeline import tty_progress
from serving.batch.write import ScoreOutputs
from tests.helpers.messy import messy_folder
from tests.helpers.paths import REPO

MODEL = "models:/clonescout-test/1"


@pytest.fixture()
def mlflow_env(monkeypatch, trained):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    return trained


def _score(folder: Path, out: Path, *extra: str) -> int:
    return main(["score", "--data", str(folder), "--out", str(out), "--model", MODEL, *extra])


def _digest(paths) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.exists()}


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The lab folder of test_messy_data, plus a run id that appears twice in runs.csv."""
    root = tmp_path_factory.mktemp("stream_messy")
    folder, bad = messy_folder(root)
    runs = pd.read_csv(folder / "runs.csv", dtype=str, keep_default_na=False)
    dup = runs.iloc[[50]]
    pd.concat([runs, dup]).to_csv(folder / "runs.csv", index=False)
    return folder, {**bad, "duplicate": dup["run_id"].item()}


@pytest.mark.parametrize("chunk", ["7", "20000"])
def test_messy_campaign_scores_every_good_run_and_lists_every_bad_one(
    mlflow_env, messy, tmp_path, capsys, chunk
) -> None:
    folder, bad = messy
    assert main(["validate", "--data", str(folder), "--rejects", str(tmp_path / "v.csv")]) == 0
    contract = pd.read_csv(tmp_path / "v.csv")
    out = tmp_path / "scores.csv"
    assert _score(folder, out, "--chunk-runs", chunk) == 0
    printed = capsys.readouterr().out
    summary = json.loads(ScoreOutputs.for_out(out).summary.read_text())
    scored = pd.read_csv(out, keep_default_na=False)
    rejects = pd.read_csv(ScoreOutputs.for_out(out).rejects)
    # runs in = scored + rejected, in the printout, the summary and the files
    assert f"{summary['runs_in']} runs in: {len(scored)} scored, {len(rejects)} rejected" in printed
    assert summary["runs_in"] == summary["scored"] + summary["rejected"] == 81
    assert set(scored["run_id"]).isdisjoint(rejects["run_id"])
    assert set(rejects["run_id"]) == set(bad.values())
    # the reasons are the contract's own, naming the file line, whatever the chunk size
    load = rejects[rejects["stage"] == "load"].sort_values("run_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(load, contract.sort_values("run_id").reset_index(drop=True))
    assert "samples.csv line" in " ".join(load["reason"])
    no_samples = rejects.set_index("run_id").loc[bad["no_samples"]]
    assert no_samples["stage"] == "features"
    assert not list(out.parent.glob(".*partial*"))  # the scratch folder is gone


def test_chunk_size_changes_no_number(mlflow_env, tmp_path) -> None:
    folder = mlflow_env.data.folder
    one, many = tmp_path / "one" / "s.parquet", tmp_path / "many" / "s.parquet"
    assert _score(folder, one) == 0
    assert _score(folder, many, "--chunk-runs", "37") == 0
    a = pd.read_parquet(one).sort_values("run_id").reset_index(drop=True)
    b = pd.read_parquet(many).sort_values("run_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == mlflow_env.data.n_runs_in
    o1, o2 = ScoreOutputs.for_out(one), ScoreOutputs.for_out(many)
    pd.testing.assert_frame_equal(pd.read_parquet(o1.clones), pd.read_parquet(o2.clones))
    s1, s2 = json.loads(o1.summary.read_text()), json.loads(o2.summary.read_text())
    assert s1 == s2


def test_reasons_flagged_keeps_every_flags_reasons_and_the_same_ranking(mlflow_env, tmp_path):
    folder = mlflow_env.data.folder
    files = {m: tmp_path / m / "s.parquet" for m in ("all", "flagged", "none")}
    for mode, out in files.items():
        assert _score(folder, out, "--reasons", mode) == 0
    every, some, bare = (pd.read_parquet(f) for f in files.values())
    assert "reasons" not in bare.columns
    pd.testing.assert_frame_equal(every.drop(columns="reasons"), bare)
    pd.testing.assert_frame_equal(some.drop(columns="reasons"), bare)
    wanted = (every["flag"] == "at risk") | (
        (every["applicability"] == "borderline") & (every["flag"] != "unknown")
    )
    assert wanted.any() and not wanted.all()
    assert (some.loc[wanted, "reasons"] == every.loc[wanted, "reasons"]).all()
    assert (some.loc[wanted, "reasons"] != "").all() and (some.loc[~wanted, "reasons"] == "").all()
    clones = [pd.read_parquet(ScoreOutputs.for_out(f).clones) for f in files.values()]
    pd.testing.assert_frame_equal(clones[0], clones[1])
    pd.testing.assert_frame_equal(clones[0], clones[2])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_same_input_gives_byte_identical_files(mlflow_env, tmp_path, suffix) -> None:
    folder = mlflow_env.data.folder
    digests = []
    for k in (1, 2):
        out = tmp_path / f"try{k}" / f"scores{suffix}"
        assert _score(folder, out, "--chunk-runs", "50") == 0
        digests.append(_digest(ScoreOutputs.for_out(out).all()))
    names = {f"scores{suffix}", f"scores.clones{suffix}", "scores.summary.json"}
    assert names <= set(digests[0])
    assert digests[0] == digests[1]


def _start(folder: Path, out: Path, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "clonescout_cli.main", "score", "--data", str(folder)]
    cmd += ["--out", str(out), "--model", MODEL, "--chunk-runs", "5"]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_mid_way(proc: subprocess.Popen, out: Path, timeout: float = 120.0) -> None:
    """Until the first chunk's results are being written (and the run is not finished)."""
    partial = out.parent / f".{out.name}.partial" / out.name
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if partial.exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"never saw {partial} while the run went on (exit {proc.poll()})")


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_run_killed_half_way_leaves_no_output_file(mlflow_env, tmp_path, how) -> None:
    folder = mlflow_env.data.folder
    out = tmp_path / "scores.parquet"
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_env.tracking_uri}
    proc = _start(folder, out, env)
    _wait_mid_way(proc, out)
    proc.send_signal(how)
    proc.wait(timeout=60)
    assert not any(p.exists() for p in ScoreOutputs.for_out(out).all())
    scratch = out.parent / f".{out.name}.partial"
    if how == signal.SIGTERM:  # unwound: the scratch folder is removed too
        assert proc.returncode == 143 and not scratch.exists()
    # the next run clears what a killed one left and writes everything
    assert _score(folder, out) == 0
    assert all(p.exists() for p in ScoreOutputs.for_out(out).all() if "rejects" not in p.name)
    assert not scratch.exists()


def test_structural_problem_stops_before_the_model_is_loaded(monkeypatch, tmp_path, capsys):
    folder = tmp_path / "broken"
    folder.mkdir()
    pd.DataFrame({"clone_id": ["K1"], "campaign_id": ["C1"]}).to_csv(folder / "clones.csv")
    pd.DataFrame({"run_id": ["R1"], "clone_id": ["K1"], "scale": ["ambr15"]}).to_csv(
        folder / "runs.csv", index=False
    )
    pd.DataFrame({"run_id": ["R1"], "vcd_e6_ml": ["1.0"]}).to_csv(
        folder / "samples.csv", index=False
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/empty.db")
    out = tmp_path / "scores.csv"
    rc = main(["score", "--data", str(folder), "--out", str(out), "--model", "models:/none/1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "samples.csv" in err and "day" in err  # the contract, not the missing model
    assert "cannot load model" not in err
    assert not any(p.exists() for p in ScoreOutputs.for_out(out).all())


def test_bad_output_name_and_ranking_file_fail_first(mlflow_env, tmp_path, capsys) -> None:
    folder = mlflow_env.data.folder
    assert _score(folder, tmp_path / "scores.xlsx") == 2
    assert ".csv or .parquet" in capsys.readouterr().err
    bad = tmp_path / "ranking.yaml"
    bad.write_text("criteria:\n  a: {column: x, goal: up, low: 0, high: 1, weight: 1}\n")
    assert _score(folder, tmp_path / "s.csv", "--ranking", str(bad)) == 2
    assert "'max' or 'min'" in capsys.readouterr().err


def test_progress_bar_only_on_a_terminal() -> None:
    class Stream:
        def __init__(self, tty: bool):
            self.tty, self.text = tty, ""

        def isatty(self) -> bool:
            return self.tty

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    assert tty_progress(Stream(False)) is None
    tty = Stream(True)
    show = tty_progress(tty)
    assert show is not None
    show(50, 100)
    show(100, 100)
    assert tty.text.startswith("\r[") and "] 50/100 runs (" in tty.text
    assert "] 100/100 runs (" in tty.text and tty.text.endswith("/s)\n")


@pytest.mark.slow
def test_report_of_a_real_campaign_in_headless_chromium(mlflow_env, tmp_path, capsys) -> None:
    """Score a real set, render its report, open it in Chromium: it all drew, all clones.

    With CLONESCOUT_UPDATE_SCREENSHOT=1 the screenshot becomes the README's docs/report.png.
    """
    from tests.helpers.browser import PLOTS_JS, opened, shoot

    out = tmp_path / "scores.parquet"
    assert _score(mlflow_env.data.folder, out) == 0
    page_path = tmp_path / "report.html"
    assert main(["report", "--scores", str(out), "--out", str(page_path)]) == 0
    clones = pd.read_parquet(ScoreOutputs.for_out(out).clones)
    summary = json.loads(ScoreOutputs.for_out(out).summary.read_text())
    assert f"{summary['clones_ranked']} clones ranked" in capsys.readouterr().out
    with opened(page_path) as (page, seen):
        plots = page.evaluate(PLOTS_JS)
        listed = page.evaluate(
            "() => Array.from(document.querySelectorAll("
            "'#ranked-table td.clone, #unknown-table td.clone')).map(td => td.textContent)"
        )
        shot = shoot(page, tmp_path, readme=True)
    assert seen.problems == [] and seen.dialogs == []
    assert seen.fetched() == {page_path.as_uri()}
    assert len(plots) == 3 and all(p["svg"] and p["traces"] for p in plots), plots
    assert sorted(listed) == sorted(clones["clone_id"])  # every scored clone, once
    assert shot.stat().st_size > 50_000


@pytest.fixture(scope="module")
def new_campaigns(tmp_path_factory) -> tuple[Path, Path]:
    """A new campaign of the same process (other clones, seed 77), and the same campaign
    grown in a richer medium: ammonia and lactate measured 2.5x (a glutamine-rich feed)."""
    from simulator.campaign import SimulationConfig, simulate_set, write_set

    root = tmp_path_factory.mktemp("drift")
    cfg = SimulationConfig(n_campaigns=1, clones_per_campaign=30, seed=77, deep_clone_share=0.0)
    tables = simulate_set(cfg)
    same, rich = root / "same", root / "rich"
    write_set(tables, same, cfg, "parquet")
    samples = tables["samples"].copy()
    for col in ("ammonia_mm", "lactate_g_l"):
        samples[col] *= 2.5
    write_set({**tables, "samples": samples}, rich, cfg, "parquet")
    return same, rich


def test_drift_verdict_per_campaign_in_the_summary(mlflow_env, new_campaigns, tmp_path, capsys):
    same, rich = new_campaigns
    verdicts = {}
    for folder in (same, rich):
        out = tmp_path / folder.name / "s.parquet"
        assert _score(folder, out) == 0
        summary = json.loads(ScoreOutputs.for_out(out).summary.read_text())
        assert summary["drift"]["available"] is True
        (c,) = summary["drift"]["campaigns"]
        verdicts[folder.name] = c
    assert verdicts["same"]["verdict"] == "none", verdicts["same"]
    rich_v = verdicts["rich"]
    assert rich_v["verdict"] in ("drift", "outside experience")
    moved = [m["column"] for m in rich_v["moved"]]
    assert any(c.startswith(("ammonia", "lactate")) for c in moved), moved
    assert all(m["p_adjusted"] <= rich_v["fdr"] for m in rich_v["moved"])
    printed = capsys.readouterr().out
    assert "drift against the training campaigns" in printed and rich_v["sentence"] in printed

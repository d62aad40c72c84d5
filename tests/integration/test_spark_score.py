"""Scoring on Spark (local[2]) gives the single-machine numbers, and loses no run.

The same registered bundle runs through ``mlflow.pyfunc.spark_udf`` over packed runs
(:mod:`models.packed`): the CLI's ``--engine spark`` and a user's own Spark job
(:func:`serving.batch.spark.pack_runs` + :func:`serving.batch.spark.score_runs`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clonescout_cli.main import main
from features.assemble import long_frame
from features.contract.loader import load_campaign
from models.flags import FLAG_REJECTED
from models.packed import SAMPLES_COLUMN, pack, unpack
from serving.batch.write import ScoreOutputs
from tests.helpers.paths import REPO

MODEL = "models:/clonescout-test/1"
SAMPLE = REPO / "data" / "sample"
TOLERANCE = 1e-9


@pytest.fixture()
def mlflow_env(monkeypatch, trained):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    return trained


@pytest.fixture(scope="module")
def spark():
    from serving.batch.spark import spark_session

    session = spark_session("local[2]", "clonescout-tests")
    yield session
    session.stop()


def assert_same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same rows and columns; numbers within 1e-9 (NaN where NaN), text identical."""
    assert list(a.columns) == list(b.columns)
    a = a.sort_values("run_id").reset_index(drop=True)
    b = b.sort_values("run_id").reset_index(drop=True)
    assert a["run_id"].tolist() == b["run_id"].tolist()
    for c in a.columns:
        if pd.api.types.is_numeric_dtype(a[c]) and not pd.api.types.is_bool_dtype(a[c]):
            x, y = a[c].to_numpy(float), b[c].to_numpy(float)
            assert np.array_equal(np.isnan(x), np.isnan(y)), c
            ok = ~np.isnan(x)
            assert np.max(np.abs(x[ok] - y[ok]), initial=0.0) <= TOLERANCE, c
        else:
            assert a[c].fillna("").astype(str).tolist() == b[c].fillna("").astype(str).tolist(), c


# -- packing, without Spark -------------------------------------------------------------------
def test_pack_and_unpack_are_exact_inverses() -> None:
    frame = long_frame(load_campaign(SAMPLE))
    packed = pack(frame)
    assert len(packed) == frame["run_id"].nunique()
    assert not any(c.startswith(("vcd", "day")) for c in packed.columns if c != SAMPLES_COLUMN)
    back = unpack(packed)
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_exact=True)


def test_packed_scores_equal_long_scores_and_keep_every_row(trained) -> None:
    bundle = trained.bundle
    frame = long_frame(load_campaign(SAMPLE))
    packed = pack(frame)
    want = bundle.score(frame)
    got = bundle.score_packed(packed.iloc[::-1])  # any input order
    assert got["run_id"].tolist() == packed["run_id"].iloc[::-1].tolist()
    assert_same_scores(want, got)
    # a run with no samples and a run id sent twice: rejected, with reasons, never dropped
    broken = packed.copy()
    broken.loc[0, SAMPLES_COLUMN] = "[]"
    broken = pd.concat([broken, broken.iloc[[1]]], ignore_index=True)
    out = bundle.score_packed(broken)
    assert len(out) == len(broken)
    rejected = out[out["flag"] == FLAG_REJECTED].set_index("run_id")["flag_reason"]
    assert rejected.loc[packed["run_id"][0]] == "no samples at or before horizon day 7"
    assert (
        rejected.loc[packed["run_id"][1]] == "run id appears more than once in this batch"
    ).all()
    assert out.loc[out["flag"] == FLAG_REJECTED, "dsp_yield_pct"].isna().all()
    with pytest.raises(ValueError, match=r"run .*samples_json must be a JSON list"):
        bundle.score_packed(packed.head(1).assign(samples_json='{"day": 1}'))


def test_the_pyfunc_takes_either_layout_and_says_so_when_it_gets_neither(trained) -> None:
    frame = long_frame(load_campaign(SAMPLE))
    first = frame[frame["run_id"].isin(frame["run_id"].unique()[:3])].reset_index(drop=True)
    numeric = first.select_dtypes("number").columns
    first[numeric] = first[numeric].astype(float)
    long_out = trained.model.predict(first)
    packed_out = trained.model.predict(pack(first))
    assert_same_scores(long_out, packed_out)
    with pytest.raises(ValueError, match=r"neither a 'day' column .* nor 'samples_json'"):
        trained.model.predict(pd.DataFrame({"run_id": ["R1"], "vcd_e6_ml": [1.0]}))


def test_a_model_logged_before_the_packed_layout_is_refused(tmp_path) -> None:
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from serving.batch.spark import model_columns

    class Old(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    sig = ModelSignature(
        inputs=Schema([ColSpec("string", "run_id"), ColSpec("double", "day")]),
        outputs=Schema([ColSpec("double", "dsp_yield_pct")]),
    )
    mlflow.pyfunc.save_model(tmp_path / "old", python_model=Old(), signature=sig)
    with pytest.raises(ValueError, match=r"logged before Spark scoring existed.*retrain"):
        model_columns(str(tmp_path / "old"))


# -- Spark, local[2] ------------------------------------------------------------------------
@pytest.mark.slow
def test_spark_engine_equals_local_engine_on_the_sample_set(
    mlflow_env, spark, tmp_path, monkeypatch
) -> None:
    from serving.predlog import PredictionLog

    log_url = f"sqlite:///{tmp_path}/predictions.db"
    monkeypatch.setenv("CLONESCOUT_PREDICTION_LOG", log_url)
    local, remote = tmp_path / "local" / "s.csv", tmp_path / "spark" / "s.csv"
    base = ["score", "--data", str(SAMPLE), "--model", MODEL]
    assert main([*base, "--out", str(local)]) == 0
    assert (
        main([*base, "--out", str(remote), "--engine", "spark", "--spark-master", "local[2]"]) == 0
    )
    a, b = ScoreOutputs.for_out(local), ScoreOutputs.for_out(remote)
    runs = pd.read_csv(a.runs, keep_default_na=False, na_values=[""])
    assert len(runs) == len(pd.read_csv(SAMPLE / "runs.csv"))  # every sample run scored
    assert_same_scores(runs, pd.read_csv(b.runs, keep_default_na=False, na_values=[""]))
    pd.testing.assert_frame_equal(pd.read_csv(a.clones), pd.read_csv(b.clones), atol=TOLERANCE)
    sa, sb = json.loads(a.summary.read_text()), json.loads(b.summary.read_text())
    sa.pop("files"), sb.pop("files")
    assert sa == sb
    assert spark.sparkContext._jsc is not None  # the CLI left the caller's session running
    # the driver logs what Spark predicted, under the same ids as the local engine
    logged = PredictionLog(log_url).read()
    by_source = {
        s: sorted(r["prediction_id"] for r in logged if r["source"] == s) for s in ("cli", "spark")
    }
    assert by_source["cli"] == by_source["spark"] == sorted(runs["prediction_id"])


@pytest.mark.slow
def test_spark_engine_sets_aside_the_same_broken_runs(mlflow_env, spark, tmp_path) -> None:
    from tests.helpers.messy import messy_folder

    folder, bad = messy_folder(tmp_path / "messy")
    outs = {}
    for engine in ("local", "spark"):
        out = tmp_path / engine / "s.csv"
        argv = ["score", "--data", str(folder), "--out", str(out), "--model", MODEL]
        assert main([*argv, "--engine", engine, "--chunk-runs", "30"]) == 0
        outs[engine] = ScoreOutputs.for_out(out)
    local, remote = outs["local"], outs["spark"]
    pd.testing.assert_frame_equal(pd.read_csv(local.rejects), pd.read_csv(remote.rejects))
    assert set(pd.read_csv(remote.rejects)["run_id"]) == set(bad.values())
    assert_same_scores(pd.read_csv(local.runs), pd.read_csv(remote.runs))


def _spark_tables(spark, folder: Path) -> dict:
    reader = spark.read.option("header", True).option("inferSchema", True)
    return {t: reader.csv(str(folder / f"{t}.csv")) for t in ("samples", "runs", "clones")}


@pytest.mark.slow
def test_a_users_spark_job_scores_like_the_local_bundle(mlflow_env, spark, tmp_path) -> None:
    from serving.batch.spark import ORPHAN_REASON, pack_runs, score_runs

    folder = tmp_path / "set"
    shutil.copytree(SAMPLE, folder)
    samples = pd.read_csv(folder / "samples.csv")
    runs = pd.read_csv(folder / "runs.csv")
    # an orphan run in the samples, a run without samples, a run id twice in the runs table
    orphan = samples[samples["run_id"] == runs["run_id"][3]].assign(run_id="NO-SUCH-RUN")
    no_samples = runs["run_id"][4]
    twice = runs["run_id"][5]
    samples = pd.concat([samples[samples["run_id"] != no_samples], orphan])
    samples.to_csv(folder / "samples.csv", index=False)
    pd.concat([runs, runs[runs["run_id"] == twice]]).to_csv(folder / "runs.csv", index=False)
    t = _spark_tables(spark, folder)
    scores = score_runs(pack_runs(t["samples"], t["runs"], t["clones"]), MODEL).toPandas()

    # every run of the runs table and every orphan id comes back, once per row sent
    assert len(scores) == len(runs) + 1 + 1
    flagged = scores[scores["flag"] == FLAG_REJECTED]
    why = dict(zip(flagged["run_id"], flagged["flag_reason"], strict=False))
    assert why["NO-SUCH-RUN"] == ORPHAN_REASON
    assert why[no_samples] == "no samples at or before horizon day 7"
    assert why[twice] == "run id appears 2 times in runs"
    assert set(why) == {"NO-SUCH-RUN", no_samples, twice}
    assert flagged["dsp_yield_pct"].isna().all() and flagged["reasons"].eq("").all()

    # the good runs: the local bundle's numbers on the same tables to 1e-9
    local = mlflow_env.bundle.score(long_frame(load_campaign(SAMPLE)))
    good = local[~local["run_id"].isin([no_samples, twice])]
    mine = scores[scores["flag"] != FLAG_REJECTED].drop(columns=["clone_id", "campaign_id"])
    assert_same_scores(good, mine[good.columns])


def test_text_in_a_measurement_column_is_refused_before_scoring(spark) -> None:
    from serving.batch.spark import pack_runs

    samples = spark.createDataFrame(
        pd.DataFrame({"run_id": ["R1"], "day": [1.0], "vcd_e6_ml": ["4,2"]})
    )
    runs = spark.createDataFrame(pd.DataFrame({"run_id": ["R1"], "clone_id": ["K1"]}))
    clones = spark.createDataFrame(pd.DataFrame({"clone_id": ["K1"], "campaign_id": ["C1"]}))
    with pytest.raises(ValueError, match=r"must be numeric and are not: vcd_e6_ml \(string\)"):
        pack_runs(samples, runs, clones)
    with pytest.raises(ValueError, match="no 'day' column"):
        pack_runs(samples.drop("day"), runs, clones)

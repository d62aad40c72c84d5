"""The prediction log on its own: ids, rows, all-or-nothing writes, several writers, kill -9."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from serving.predlog import (
    LogError,
    ModelIdentity,
    PredictionLog,
    configured_url,
    default_url,
    prediction_id,
    prediction_ids,
    required,
    rows,
)

MODEL = ModelIdentity("clonescout", "4", "ab" * 32)


def _rows(n: int, start: int = 0, source: str = "cli") -> list[dict]:
    run_ids = [f"R{start + i}" for i in range(n)]
    prints = [f"{start + i:016x}" for i in range(n)]
    ids = {
        "run_id": run_ids,
        "clone_id": [f"K{(start + i) // 2}" for i in range(n)],
        "campaign_id": ["C01"] * n,
        "input_fingerprint": prints,
        "prediction_id": prediction_ids(MODEL, run_ids, prints),
    }
    cols = {
        "dsp_yield_pct": np.linspace(60.0, 80.0, n),
        "dsp_yield_pct_lo90": np.full(n, np.nan),  # an unknown run's interval: null
        "glycans_risk": np.linspace(0.0, 1.0, n),
        "flag": np.array(["ok"] * n, dtype=object),
        "applicability": np.array(["inside"] * n, dtype=object),
        "reasons": np.array(['{"x": []}'] * n, dtype=object),  # text: not a number, not kept
    }
    return rows(cols, ids, MODEL, source)


def test_prediction_id_names_model_version_run_and_inputs() -> None:
    base = prediction_id("clonescout", "4", "R1", "00ff00ff00ff00ff")
    assert base == prediction_id("clonescout", "4", "R1", "00ff00ff00ff00ff")
    assert len(base) == 32 and int(base, 16) >= 0
    others = {
        prediction_id("clonescout", "5", "R1", "00ff00ff00ff00ff"),
        prediction_id("other", "4", "R1", "00ff00ff00ff00ff"),
        prediction_id("clonescout", "4", "R2", "00ff00ff00ff00ff"),
        prediction_id("clonescout", "4", "R1", "00ff00ff00ff00fe"),
    }
    assert base not in others and len(others) == 4


def test_rows_keep_every_number_and_the_flag_and_leave_text_out(tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path}/p.db")
    assert log.write(_rows(3)) == 3
    got = log.read()
    assert [r["run_id"] for r in got] == ["R0", "R1", "R2"]
    first = got[0]
    assert first["model_name"] == "clonescout" and first["model_version"] == "4"
    assert first["flag"] == "ok" and first["applicability"] == "inside"
    assert first["result"] == {
        "dsp_yield_pct": 60.0,
        "dsp_yield_pct_lo90": None,
        "glycans_risk": 0.0,
        "flag": "ok",
        "applicability": "inside",
    }
    with pytest.raises(ValueError, match="log source must be one of"):
        _rows(1, source="somewhere")


def test_a_write_is_all_or_nothing_and_never_rewrites(tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path}/p.db")
    log.write(_rows(4))
    bad = _rows(3, start=10)
    bad[2] = {**bad[2], "run_id": None}  # NOT NULL: the whole call must fail
    with pytest.raises(LogError, match=r"rows not written \(none kept\)"):
        log.write(bad)
    assert log.count() == 4
    log.write(_rows(4))  # the same predictions again: new rows, old ones untouched
    got = log.read()
    assert len(got) == 8 and [r["event_id"] for r in got] == list(range(1, 9))
    assert [r["prediction_id"] for r in got[:4]] == [r["prediction_id"] for r in got[4:]]


def test_where_the_log_lives_and_how_it_is_switched() -> None:
    assert default_url("sqlite:////srv/a/mlflow.db") == "sqlite:////srv/a/predictions.db"
    assert configured_url("sqlite:////x/mlflow.db", {"CLONESCOUT_PREDICTION_LOG": "off"}) is None
    url = "postgresql://u:pw@db/mlflow"
    assert configured_url(url, {}) == url
    assert (
        configured_url(url, {"CLONESCOUT_PREDICTION_LOG": "sqlite:////l.db"}) == "sqlite:////l.db"
    )
    assert required({"CLONESCOUT_PREDICTION_LOG_REQUIRED": "on"})
    assert not required({})
    with pytest.raises(ValueError, match="give 'on' or 'off'"):
        required({"CLONESCOUT_PREDICTION_LOG_REQUIRED": "maybe"})


def test_a_log_that_cannot_be_opened_says_where(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(LogError, match="cannot open the prediction log"):
        PredictionLog(f"sqlite:///{blocker}/sub/p.db")


def _writer(url: str, start: int, batches: int, size: int) -> None:
    log = PredictionLog(url)
    for b in range(batches):
        log.write(_rows(size, start=start + b * size))


def test_several_processes_append_at_once_and_nothing_is_lost(tmp_path: Path) -> None:
    """API workers and a CLI score share one SQLite log (WAL, busy timeout)."""
    url = f"sqlite:///{tmp_path}/p.db"
    PredictionLog(url)  # created once; each writer opens it again
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, k * 10_000, 40, 25)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    got = PredictionLog(url).read()
    assert len(got) == 3 * 40 * 25
    assert len({r["run_id"] for r in got}) == 3 * 40 * 25


def _until_killed(url: str, done: mp.Queue) -> None:
    log = PredictionLog(url)
    b = 0
    while True:
        log.write(_rows(20, start=b * 20))
        done.put(b)  # said only once the batch is committed
        b += 1


def test_kill_9_mid_write_loses_no_committed_prediction(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    PredictionLog(url)
    ctx = mp.get_context("spawn")
    done = ctx.Queue()
    proc = ctx.Process(target=_until_killed, args=(url, done))
    proc.start()
    committed = []
    deadline = time.time() + 60
    while len(committed) < 30 and time.time() < deadline:
        committed.append(done.get(timeout=60))
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    while not done.empty():
        committed.append(done.get())
    # readable by anyone, and every batch the writer saw committed is there, whole
    with sqlite3.connect(tmp_path / "p.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    got = PredictionLog(url).read()
    assert len(got) % 20 == 0
    assert len(got) >= 20 * len(committed)


def test_result_json_is_what_json_dumps_writes() -> None:
    """Assembled column by column, byte for byte the per-run json.dumps it replaced."""
    import json

    from serving.predlog import result_json

    v = np.array([0.1, 1 / 3, 5.0, 1e16, 1e-5, -0.0, np.nan, np.inf, -np.inf, 2.5e-310, 1e300])
    numbers = {"b_value": v, "a_risk": v[::-1].copy()}
    texts = {"flag": ['say "hi"\\', "ok", "ok", "é", "", "x", "y", "z", "a", "b", "c"]}
    got = result_json(numbers, texts, len(v))
    for j, text in enumerate(got):
        want = {k: (float(a[j]) if np.isfinite(a[j]) else None) for k, a in numbers.items()}
        want["flag"] = texts["flag"][j]
        assert text == json.dumps(want, sort_keys=True, ensure_ascii=False)
    assert result_json({}, {}, 2) == ["{}", "{}"]

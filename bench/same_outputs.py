"""Every output a user sees, for fixed inputs, in one folder: the check of a refactor.

A refactor must change no output. Run this at the commit before and at the commit after,
with the same model store, and compare the two folders byte for byte::

    python bench/same_outputs.py --out /tmp/before --store /tmp/store   # old commit
    python bench/same_outputs.py --out /tmp/after --store /tmp/store    # new commit
    diff -r /tmp/before /tmp/after

Every path the outputs could carry is the same in both runs: the inputs are copied into
``--store`` once, and the outputs are written to ``STORE/work`` and moved to ``--out`` at
the end. The first run trains a model into ``--store`` (a small but full training on the committed
sample set) and every later run scores with that same registered version, so the
comparison is "same model, same inputs". Training itself is compared too: each run also
trains into a store of its own and keeps the ``train --json`` metrics (the MLflow run id,
which differs by construction, is blanked).

What is written (paths inside the folder):

- ``sim/``: the simulated tables (default set, and a small set with lab quirks), as files;
- ``cli/*.txt``: what each command printed (the folder's own path and timings blanked);
- ``features/``, ``score/``, ``report/``, ``whatif/``: the files the commands wrote;
- ``api/``: the engine's JSON answers from the HTTP service in process (score, explain,
  model, whatif, score_campaign and a set of malformed requests) and ``/docs.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_PEER = REPO.parent / "shared" / "datasets" / "peer-emulator" / "owu.csv"
# set by main() to the copies inside the store, so that both runs read the same paths
SAMPLE = PEER = PEER_MAPPING = Path()
MODEL = "models:/clonescout/1"
STEPS = ("simulate", "features", "train", "score", "process", "api")
CLI = [str(Path(sys.executable).parent / "clonescout")]
TIMING = re.compile(r"\b\d+(\.\d+)? ?(s|ms|min)\b")


def _store_env(store: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}/mlflow.db"
    env["PYTHONHASHSEED"] = "0"
    env.pop("CLONESCOUT_OPTUNA_STORAGE", None)
    return env


def run(out: Path, name: str, argv: list[str], store: Path, cwd: Path | None = None) -> str:
    """Run one ``clonescout`` command; keep its stdout (normalised) as ``cli/NAME.txt``."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*CLI, *argv],
        env=_store_env(store),
        cwd=cwd or store,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    text = proc.stdout.replace(str(out), "OUT").replace(str(store), "STORE")
    text = TIMING.sub("<time>", text.replace(str(REPO), "REPO"))
    (out / "cli").mkdir(parents=True, exist_ok=True)
    (out / "cli" / f"{name}.txt").write_text(text)
    print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return proc.stdout


def _csv_of_parquet(path: Path) -> None:
    """A Parquet file's rows as CSV beside it (the rows, not the writer's metadata)."""
    import pandas as pd

    pd.read_parquet(path).to_csv(path.with_suffix(".parquet.csv"), index=False)
    path.unlink()


def simulate(out: Path, store: Path) -> Path:
    sim = out / "sim"
    run(
        out,
        "simulate_default",
        ["simulate", "--out", str(sim / "default"), "--format", "csv"],
        store,
    )
    quirks = sim / "quirks"
    argv = ["simulate", "--out", str(quirks), "--campaigns", "3", "--clones-per-campaign", "8"]
    run(
        out,
        "simulate_quirks",
        [*argv, "--format", "csv", "--lab-quirks", "0.05", "--seed", "5"],
        store,
    )
    run(
        out,
        "validate_quirks",
        ["validate", "--data", str(quirks), "--rejects", str(out / "cli" / "quirks_rejects.csv")],
        store,
    )
    return quirks


def features(out: Path, store: Path) -> None:
    f = out / "features"
    run(
        out,
        "features_sample",
        ["features", "--data", str(SAMPLE), "--out", str(f / "sample.parquet")],
        store,
    )
    _csv_of_parquet(f / "sample.parquet")
    if PEER.is_file():
        argv = ["features", "--data", str(PEER), "--mapping", str(PEER_MAPPING)]
        run(
            out,
            "features_peer",
            [*argv, "--horizon-day", "5", "--out", str(f / "peer.parquet")],
            store,
        )
        _csv_of_parquet(f / "peer.parquet")


def train(out: Path, store: Path) -> None:
    """Train on the sample set (every default target, the process model); keep the JSON."""
    own = out / "own_store"
    own.mkdir(parents=True, exist_ok=True)
    argv = ["train", "--data", str(SAMPLE), "--trials", "3", "--folds", "4", "--inner-folds", "2"]
    text = run(out, "train_json", [*argv, "--no-curve", "--json"], own)
    metrics = json.loads(text)
    metrics["mlflow_run_id"] = "<run id>"
    (out / "cli" / "train_json.txt").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    shutil.rmtree(own)
    if not (store / "mlflow.db").exists():  # the shared model every run scores with
        store.mkdir(parents=True, exist_ok=True)
        run(out, "train_store", [*argv, "--no-curve", "--json"], store)
        run(out, "promote", ["promote"], store)
        (out / "cli" / "train_store.txt").unlink()
        (out / "cli" / "promote.txt").unlink()


def score(out: Path, store: Path, quirks: Path) -> Path:
    s = out / "score"
    base = ["--model", MODEL]
    run(
        out,
        "score_sample",
        ["score", "--data", str(SAMPLE), "--out", str(s / "sample.csv"), *base],
        store,
    )
    argv = ["score", "--data", str(SAMPLE), "--out", str(s / "sample_none.parquet"), *base]
    run(out, "score_sample_none", [*argv, "--reasons", "none", "--chunk-runs", "50"], store)
    for p in sorted(s.glob("sample_none*.parquet")):
        _csv_of_parquet(p)
    run(
        out,
        "score_quirks",
        ["score", "--data", str(quirks), "--out", str(s / "quirks.csv"), *base],
        store,
    )
    if PEER.is_file():
        argv = ["score", "--data", str(PEER), "--mapping", str(PEER_MAPPING)]
        run(out, "score_peer", [*argv, "--out", str(s / "peer.csv"), *base], store)
    argv = ["score", "--data", str(SAMPLE), "--out", str(s / "spark.csv"), *base]
    run(out, "score_spark", [*argv, "--engine", "spark", "--spark-master", "local[2]"], store)
    return s / "sample.csv"


def report_and_process(out: Path, store: Path, scores: Path) -> None:
    r = out / "report"
    run(
        out,
        "process",
        ["process", "--data", str(SAMPLE), "--scores", str(scores), "--model", MODEL],
        store,
    )
    run(out, "report", ["report", "--scores", str(scores), "--out", str(r / "sample.html")], store)
    w = out / "whatif"
    import pandas as pd

    clones = pd.read_csv(scores.with_name("sample.clones.csv"))
    best = str(clones.dropna(subset=["rank"]).sort_values("rank")["clone_id"].iloc[0])
    argv = ["whatif", "--data", str(SAMPLE), "--clone", best, "--model", MODEL]
    run(out, "whatif", [*argv, "--next", "2", "--out", str(w / "best.json")], store)
    run(out, "whatif_optimise", [*argv, "--optimise", "--out", str(w / "best_opt.json")], store)
    run(
        out,
        "whatif_map",
        [*argv, "--map", "feed_pct,ph_setpoint", "--out", str(w / "best_map.json")],
        store,
    )


def _zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in sorted(folder.glob("*.csv")):
            z.write(p, p.name)
    return buf.getvalue()


def _bad_requests(runs: list[dict]) -> dict[str, tuple[str, dict]]:
    one = runs[0]
    return {
        "score_empty": ("/score", {"runs": []}),
        "score_no_runs_key": ("/score", {"run": [one]}),
        "score_bad_day": ("/score", {"runs": [{**one, "samples": [{"day": "x"}]}]}),
        "score_negative_vcd": (
            "/score",
            {"runs": [{**one, "samples": [{"day": 1, "vcd_e6_ml": -4}]}]},
        ),
        "score_no_clone": ("/score", {"runs": [{k: v for k, v in one.items() if k != "clone"}]}),
        "explain_no_samples": ("/explain", {"run": {**one, "samples": []}}),
        "whatif_no_clone": ("/whatif", {"request": {"runs": [{"run_id": "x", "conditions": {}}]}}),
    }


def api(out: Path, store: Path, quirks: Path) -> None:
    """The engine's JSON through the service in process, and the OpenAPI description."""
    os.environ.update(_store_env(store))
    os.environ["CLONESCOUT_MODEL"] = MODEL
    os.environ.pop("CLONESCOUT_API_KEYS", None)
    from starlette.testclient import TestClient

    from features.contract.loader import load_campaign
    from serving.engine import runs_from_campaign

    try:  # the service is built by a function (no work at import) since issue 22
        from serving.service import build

        Clonescout = build()
    except ImportError:
        from serving.service import Clonescout  # type: ignore[attr-defined,no-redef]

    a = out / "api"
    a.mkdir(parents=True, exist_ok=True)
    runs = runs_from_campaign(load_campaign(SAMPLE))
    with TestClient(Clonescout.to_asgi(), raise_server_exceptions=False) as c:
        deadline = time.time() + 120
        while c.get("/readyz").status_code != 200:
            if time.time() > deadline:
                raise SystemExit("service never became ready")
            time.sleep(0.2)

        def keep(name: str, resp) -> None:
            body = {"status": resp.status_code, "body": resp.json()}
            (a / f"{name}.json").write_text(json.dumps(body, indent=1, sort_keys=True))

        keep("docs", c.get("/docs.json"))
        keep("model", c.post("/model", json={}))
        keep("score_40", c.post("/score", json={"runs": runs[:40]}))
        keep("score_one", c.post("/score", json={"runs": [runs[7]]}))
        keep("explain", c.post("/explain", json={"run": runs[3]}))
        clone = runs[0]["clone"]
        mine = [r for r in runs if r["clone"]["clone_id"] == clone["clone_id"]]
        from features.contract.loader import load_campaign as _lc

        outcomes = _lc(SAMPLE).outcomes.set_index("run_id")
        body = {
            "clone": clone,
            "runs": [
                {
                    "run_id": r["run_id"],
                    "conditions": {
                        k: v
                        for k, v in r.items()
                        if k not in ("run_id", "clone", "samples", "scale")
                    },
                    "outcomes": {
                        k: float(v) for k, v in outcomes.loc[r["run_id"]].items() if v == v
                    },
                }
                for r in mine
            ],
            "n_candidates": 40,
            "next_experiments": 2,
        }
        keep("whatif", c.post("/whatif", json={"request": body}))
        files = {"file": ("quirks.zip", _zip_folder(quirks), "application/zip")}
        keep("score_campaign_zip", c.post("/score_campaign", files=files))
        if PEER.is_file():
            files = {"file": ("owu.csv", PEER.read_bytes(), "text/csv")}
            keep(
                "score_campaign_peer",
                c.post("/score_campaign", files=files, data={"mapping": "peer_emulator"}),
            )
        for name, (path, req) in _bad_requests(runs).items():
            keep(f"bad_{name}", c.post(path, json=req))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument(
        "--steps",
        default="all",
        help="comma-separated subset of simulate,features,train,score,process,api (default all)",
    )
    args = ap.parse_args()
    steps = set(args.steps.split(",")) if args.steps != "all" else set(STEPS)
    final, store = args.out.resolve(), args.store.resolve()
    global SAMPLE, PEER, PEER_MAPPING
    inputs = store / "inputs"
    if not inputs.exists():
        shutil.copytree(REPO / "data" / "sample", inputs / "sample")
        shutil.copy(REPO / "data" / "mappings" / "peer_emulator.yaml", inputs)
        if SHARED_PEER.is_file():
            shutil.copy(SHARED_PEER, inputs)
    SAMPLE, PEER, PEER_MAPPING = (
        inputs / "sample",
        inputs / "owu.csv",
        inputs / "peer_emulator.yaml",
    )
    out = store / "work"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    quirks = simulate(out, store) if "simulate" in steps else out / "sim" / "quirks"
    if "features" in steps:
        features(out, store)
    if "train" in steps:
        train(out, store)
    scores = score(out, store, quirks) if "score" in steps else out / "score" / "sample.csv"
    if "process" in steps:
        report_and_process(out, store, scores)
    if "api" in steps:
        if not quirks.exists():
            quirks = simulate(out, store)
        api(out, store, quirks)
    if final.exists():
        shutil.rmtree(final)
    shutil.move(out, final)
    print(f"outputs in {final}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

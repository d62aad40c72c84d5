"""``clonescout demo``: the main job on the embedded default, in the order a team meets it.

Each step calls the function behind a command (``run_simulate``, ``run_train``,
``run_promote``, ``run_validate``, ``run_score``, ``run_process``, ``run_whatif``,
``run_report``, ``run_outcomes_add``, ``run_monitor``, ``run_retrain``) with the same
defaults the command line has; nothing here builds an argv.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import sys
import time
from pathlib import Path

import pandas as pd

from clonescout_cli.args import nonnegative_int
from clonescout_cli.common import load_data
from clonescout_cli.datacmds import run_simulate, run_validate, simulation_config
from clonescout_cli.digest import print_digest
from clonescout_cli.modelcmds import run_promote, run_retrain, run_train
from clonescout_cli.monitorcmd import run_monitor
from clonescout_cli.outcomescmd import run_outcomes_add
from clonescout_cli.processcmd import run_process
from clonescout_cli.reportcmd import run_report
from clonescout_cli.scorecmd import run_score
from clonescout_cli.whatifcmd import run_whatif
from features.contract.files import write_table
from features.contract.loader import load_campaign
from features.contract.spec import DEFAULT_SPEC_PATH
from models.registry import DEFAULT_MODEL_URI, MODEL_NAME, version_uri
from simulator.campaign import SimulationConfig
from simulator.labexport import add_lab_quirks, relabel_campaigns

DEFAULT_DEMO_DIR = Path("data/generated/default")
DEMO_STEPS = 10
# the new campaign a lab exports in step 4: other clones (seed 11), 3% of runs with a quirk
LAB_CAMPAIGNS, LAB_CLONES, LAB_SEED, LAB_QUIRKS = 4, 32, 11, 0.03


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """What ``clonescout demo`` is asked for (its flags); defaults as the command's."""

    out: Path = DEFAULT_DEMO_DIR
    config: SimulationConfig = dataclasses.field(default_factory=SimulationConfig)
    spec_path: Path = DEFAULT_SPEC_PATH
    fmt: str = "parquet"
    horizon_day: float = 7.0
    trials: int = 15
    workers: int = 1

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DemoSettings:
        return cls(
            out=args.out,
            config=simulation_config(args),
            spec_path=args.spec,
            fmt=args.format,
            horizon_day=args.horizon_day,
            trials=args.trials,
            workers=args.workers,
        )


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(DemoSettings.from_args(args))


def run_demo(s: DemoSettings) -> int:
    """Simulate, train, promote; a lab's new campaign: score, choose, report, monitor, serve.

    The lab's export of a new screening campaign has quirks: it is validated, scored and its
    clones ranked (top clones, flags and unknowns with their reasons; drift against the
    training campaigns), process conditions are recommended for its clones, the campaign
    report is written, its outcomes "come back" (the twin measured them) and are joined to
    the logged predictions, the monitor sets what the model delivered beside what it
    promised, a candidate retrained with the new campaign goes through the gate against
    the champion, and finally the champion is served over HTTP and some of the campaign's
    runs are scored from Python.
    """
    spec = s.spec_path
    t0 = time.perf_counter()
    _step(1, "simulate the default campaign set (the history the model learns from)")
    run_simulate(s.out, s.config, spec, s.fmt)
    model = _train_and_promote(s, spec)
    lab = s.out.parent / "lab_export"
    _step(4, f"a lab's export of a NEW screening campaign, with quirks -> {lab}")
    _lab_export(s, spec, lab)
    _step(5, "score the new campaign with the pinned model, in chunks; rank its clones")
    scores = s.out.parent / "lab_export_scores.csv"
    run_score(lab, scores, model)
    from serving.batch.write import ScoreOutputs

    outputs = ScoreOutputs.for_out(scores)
    print_digest(outputs.clones, runs_table=outputs.runs)
    _step(6, "choose the process: every clone, one condition for the campaign, next runs")
    run_process(lab, scores, model)
    print()
    clones = pd.read_csv(outputs.clones)
    best = str(clones.dropna(subset=["rank"]).sort_values("rank")["clone_id"].iloc[0])
    run_whatif(lab, best, model, next_k=2, out=scores.with_name(f"whatif_{best}.json"))
    _step(7, "the campaign report: one self-contained HTML page for the campaign lead")
    report = s.out.parent / "lab_export_report.html"
    run_report(scores, report)
    _step(8, "weeks later the campaign's outcomes come back: join them to the log, monitor")
    run_outcomes_add(lab, rejects=s.out.parent / "lab_export_outcomes_set_aside.csv")
    run_monitor(html=s.out.parent / "monitor.html")
    _step(9, "retrain: history + the new campaign, the champion's recipe, then the gate")
    if model == DEFAULT_MODEL_URI:
        run_retrain(MODEL_NAME, [lab], _train_settings(s, spec, curve=False), history=s.out)
    else:
        print("(no champion: a retrain is judged against one; nothing to retrain)")
    _step(10, "serve the champion over HTTP (BentoML) and score runs from Python")
    serve_and_score(model, load_data(lab, None, report=False)[0])
    print(
        f"\nclonescout demo done in {time.perf_counter() - t0:.0f} s. Read the report: "
        f"{report}\nBrowse the runs, nested trials, baselines and the registered model: "
        "mlflow ui --backend-store-uri sqlite:///mlflow.db",
        file=sys.stderr,
    )
    return 0


def _train_and_promote(s: DemoSettings, spec: Path) -> str:
    """Train and promote; the model URI the rest of the demo scores with."""
    _step(
        2,
        f"train at horizon day {s.horizon_day:g} ({s.trials} Optuna trials per model "
        "family; nested CV, outer folds grouped by campaign)",
    )
    run_train(load_campaign(s.out, require_outcomes=True), _train_settings(s, spec))
    _step(3, "promote: the quality gate, then champion vs candidate on the same folds")
    decision = run_promote(MODEL_NAME)
    if not decision.promoted and decision.champion is None:
        model = version_uri(MODEL_NAME, decision.candidate)
        print(f"(no champion: the demo scores with {model}, which the gate refused)")
        return model
    return DEFAULT_MODEL_URI


def _train_settings(s: DemoSettings, spec: Path, curve: bool = True):
    """As `clonescout train` has them: storage and threads come from the environment.

    The retrain of step 9 skips the horizon curve (``curve=False``): it is not part of the
    gate, and it would add minutes to the demo.
    """
    from training.settings import CURVE_HORIZONS, TrainSettings

    return TrainSettings(
        spec_path=spec,
        horizon_day=s.horizon_day,
        trials=s.trials,
        seed=s.config.seed,
        workers=s.workers,
        optuna_storage=os.environ.get("CLONESCOUT_OPTUNA_STORAGE") or None,
        threads=nonnegative_int(os.environ.get("CLONESCOUT_THREADS", "0")),
        curve_horizons=CURVE_HORIZONS if curve else (),
    )


def _lab_export(s: DemoSettings, spec: Path, lab: Path) -> None:
    """A new campaign (other clones) written as a lab exports it, then validated."""
    config = dataclasses.replace(
        s.config, n_campaigns=LAB_CAMPAIGNS, clones_per_campaign=LAB_CLONES, seed=LAB_SEED
    )
    run_simulate(lab, config, spec, "csv")
    relabel_campaigns(lab, "L")
    done = add_lab_quirks(lab, LAB_QUIRKS, LAB_SEED)
    write_table(done, lab / "lab_quirks.csv")
    run_validate(lab, rejects=lab / "rejects.csv")


def _step(n: int, what: str) -> None:
    print(f"\nclonescout demo {n}/{DEMO_STEPS}: {what}", file=sys.stderr, flush=True)


def serve_and_score(model: str, data) -> None:
    """Step 8: start the API on a free port, score a few runs from Python, stop it."""
    import logging
    import subprocess

    import bentoml

    from serving.engine import runs_from_campaign
    from serving.ready import stop, wait_until_ready

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [str(Path(sys.executable).with_name("clonescout")), "serve", "--port", str(port)]
    cmd += ["--model", model, "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        waited = wait_until_ready(url, proc, timeout=240)
        print(f"server ready in {waited:.1f} s (model loaded)")
        print(
            f"pages for people: {url}/ui/ (drop {data.folder.name} zipped on the campaign "
            "page; `clonescout serve` keeps them open, README 'Score in the browser')"
        )
        client = bentoml.SyncHTTPClient(url, server_ready_timeout=60)
        runs = runs_from_campaign(data)[:5]
        t0 = time.perf_counter()
        body = client.score(runs=runs)
        ms = (time.perf_counter() - t0) * 1000
        print(
            f"POST http://127.0.0.1:{port}/score with {len(runs)} runs -> {body['scored']} "
            f"scored, {body['rejected']} rejected in {ms:.0f} ms "
            f"(model {body['model']['name']} version {body['model']['version']})"
        )
        for r in body["results"]:
            if r["status"] != "scored":
                print(f"  {r['run_id']}: rejected — {r['reasons'][0]}")
                continue
            y = r["predictions"].get("dsp_yield_pct", {})
            shown = (
                f"yield {y['value']:.1f}% (90%: {y['pi90']['lo']:.1f}-{y['pi90']['hi']:.1f})"
                if y.get("value") is not None
                else f"no numbers: {r['flag_reason']}"
            )
            risk = r["risk"].get("glycans")
            risk_text = f", glycan risk {risk:.2f}" if risk is not None else ""
            print(f"  {r['run_id']}: {r['flag']:<8} {shown}{risk_text}")
        first = next((r for r in body["results"] if r["status"] == "scored"), None)
        if first is not None:
            print(
                f"every answer is in the prediction log: {first['run_id']} as prediction "
                f"{first['prediction_id']} (README 'Keeping a model honest')"
            )
        print("the same from a shell: see README 'Score clones from your own code'")
        _one_run_latency(client, runs_from_campaign(data)[:40])
        client.close()
    finally:
        stop(proc)


def _one_run_latency(client, runs: list[dict]) -> None:
    """One run per request, as a LIMS script sends them: the median answer time per mode."""
    import statistics

    shown = []
    for mode in ("all", "flagged", "none"):
        ms = []
        for run in runs:
            t0 = time.perf_counter()
            client.score(runs=[run], reasons=mode)
            ms.append((time.perf_counter() - t0) * 1000)
        shown.append(f"reasons={mode} {statistics.median(ms):.0f} ms")
    print(f"one run per request, median of {len(runs)}: " + ", ".join(shown))

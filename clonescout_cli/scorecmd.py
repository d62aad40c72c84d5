"""``clonescout score``: a campaign scored in chunks, its clones ranked, and what it says."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from clonescout_cli.common import fmt3, load_data, print_clone_choice, stages_text
from models.registry import DEFAULT_MODEL_URI

if TYPE_CHECKING:
    from serving.predlog import LogSink

SPARK_MASTER = "local[*]"  # --spark-master's default: every core of this machine


def cmd_score(args: argparse.Namespace) -> int:
    return run_score(
        args.data, args.out, args.model, args.mapping, args.ranking, args.chunk_runs,
        args.reasons, args.engine, args.spark_master,
    )  # fmt: skip


def run_score(
    data: Path,
    out: Path,
    model: str = DEFAULT_MODEL_URI,
    mapping: Path | None = None,
    ranking: Path | None = None,
    chunk_runs: int | None = None,
    reasons: str = "all",
    engine: str = "local",
    spark_master: str = SPARK_MASTER,
) -> int:
    """Score a campaign in chunks of runs; every run scored or listed with its reason."""
    from models.ranking import DEFAULT_RANKING, load_ranking
    from models.registry import load_pinned, use_tracking
    from serving.batch.read import Folder, preflight
    from serving.batch.score import ServedBundle
    from serving.batch.write import ScoreOutputs
    from serving.predlog import LogRefused

    # every precondition before the long passes: output name, ranking file, model
    outputs = ScoreOutputs.for_out(out)
    outputs.runs.parent.mkdir(parents=True, exist_ok=True)
    criteria = load_ranking(ranking or DEFAULT_RANKING)
    if mapping is None and not data.is_dir():
        raise ValueError(f"--data {data}: not a campaign folder (a foreign file needs --mapping)")
    src = None
    if mapping is None:
        src = Folder(data)
        preflight(src)  # the tables' structure, before the model and the long passes
    tracking = use_tracking()
    log = _prediction_log(tracking)  # before the model and the long passes
    pinned = load_pinned(model)
    bundle, uri, version, name = pinned.bundle, pinned.uri, pinned.version, pinned.name
    scorer = None
    if engine == "spark":
        from serving.batch.spark import SparkScorer

        scorer = SparkScorer(uri, reasons, spark_master)  # checks the model's signature
    served = ServedBundle(bundle, name, str(version or uri), uri, reasons, scorer, log)
    try:
        result = _run_scoring(data, mapping, chunk_runs, src, outputs, served, criteria, scorer)
    except LogRefused as exc:  # a required log failed mid-run: no file was published
        raise ValueError(f"{exc}; nothing written") from None
    _print_scoring(result.summary, outputs, uri, bundle)
    if result.has_outcomes and result.summary["scored"]:
        _judge(result.judged, bundle, result.summary["scored"])
    return 0


def _prediction_log(tracking: str) -> LogSink:
    """The prediction log every score appends to (:func:`serving.predlog.open_sink`).

    A log that cannot be opened is said and scoring goes on, every prediction counted as
    not logged, unless the site requires it (``CLONESCOUT_PREDICTION_LOG_REQUIRED=on``):
    then nothing is scored.
    """
    from serving.predlog import LogRefused, open_sink

    try:
        sink = open_sink(tracking)
    except LogRefused as exc:
        raise ValueError(str(exc)) from None
    if sink.open_error:
        print(f"warning: {sink.open_error}; scoring without it", file=sys.stderr)
    return sink


def _run_scoring(data, mapping, chunk_runs, src, outputs, served, ranking, engine):
    """The long passes over the chunks, on a folder or on imported (mapped) data."""
    import signal

    from serving.batch.pipeline import CHUNK_RUNS, score_data, score_folder, tty_progress

    chunk = chunk_runs or CHUNK_RUNS
    progress = tty_progress()
    # a TERM (kill, a scheduler's timeout) unwinds like Ctrl-C: the scratch folder goes too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if src is not None:
            result = score_folder(src, outputs, served, ranking, chunk, progress)
        else:
            loaded = load_data(data, mapping, report=False)[0]
            result = score_data(loaded, outputs, served, ranking, chunk, progress)
    finally:
        if engine is not None:
            engine.stop()
    return result


def _print_scoring(s: dict, outputs, uri: str, bundle) -> None:
    print(
        f"{s['runs_in']} runs in: {s['scored']} scored, {s['rejected']} rejected "
        f"({stages_text(s['rejected_by_stage'])}) -> {outputs.runs} (model {uri})"
    )
    if s["rejected"]:
        print(f"rejected runs and reasons: {outputs.rejects}")
    print(
        f"clones: {s['clones_ranked']} ranked, {s['clones_unknown']} unknown (not ranked) "
        f"-> {outputs.clones}; summary -> {outputs.summary}"
    )
    _summarise(s, bundle)
    log = s.get("prediction_log")
    if log is None:
        print("prediction log: off (CLONESCOUT_PREDICTION_LOG=off)")
    elif log.get("not_logged"):
        print(
            f"warning: prediction log {log['where']}: {log['not_logged']} predictions NOT "
            f"logged ({log['error']}); {log['logged']} logged",
            file=sys.stderr,
        )
    else:
        print(f"prediction log: {log['logged']} predictions appended -> {log['where']}")
    print_drift(s.get("drift"))


def print_drift(drift: dict | None) -> None:
    """Each campaign's drift verdict, with the features that moved most (models.drift)."""
    if not drift:
        return
    if not drift["available"]:
        print(f"drift: not judged ({drift['why']})")
        return
    print("drift against the training campaigns, before any outcome:")
    for c in drift["campaigns"]:
        print(
            f"  {c['campaign_id']}: {c['sentence']} ({c['runs']} runs, "
            f"{c['outside_share']:.1%} outside the domain, nominal "
            f"{c['nominal_outside_share']:.0%}; {c['tests']} tests, FDR {c['fdr']:g})"
        )
        for b in c.get("beyond_trained_range", []):
            print(
                f"    {b['column']}: run at {b['campaign'][0]}-{b['campaign'][1]}, beyond the "
                f"trained {b['trained'][0]}-{b['trained'][1]} (a region the model never saw)"
            )
        for m in c["moved"][:5]:
            print(
                f"    {m['column']}: {m['new_mean']} against {m['training_campaigns_mean']} "
                f"(t {m['t']}, adjusted p {m['p_adjusted']})"
            )


def _summarise(summary: dict, bundle) -> None:
    from models.flags import FLAGS

    if not summary["scored"]:
        return
    counts = summary["flags"]
    print(
        "flags: "
        + ", ".join(f"{counts.get(f, 0)} {f}" for f in FLAGS)
        + " (unknown: outside the model's experience or missing a family it relies on; "
        "no prediction is given for them, see flag_reason and extrapolation)"
    )
    not_judged = bundle.predictor.not_judged()
    if not_judged:
        print(
            f"spec attributes not judged (the model does not predict them): {', '.join(not_judged)}"
        )
    seen = summary["seen_in_training"]
    if seen:
        print(
            f"{seen} of {summary['scored']} runs were in the training set "
            "(column seen_in_training): their figures would be in-sample, not quality"
        )


def _judge(judged: pd.DataFrame, bundle, scored: int) -> None:
    """Model vs the titer-only line on runs the model has not seen and could score.

    ``judged`` holds, per fresh scored run with outcomes, ``pred__``, ``obs__`` and
    ``naive__`` columns per target (:class:`serving.batch.score.ChunkScorer`).
    """
    from training.cv import regression_metrics

    left_out = scored - len(judged)
    if judged.empty:
        print(
            "\nno quality figures: every scored run was in the training set or unknown "
            "(in-sample figures say nothing about new runs)"
        )
        return
    note = f"; {left_out} runs in training or unknown left out" if left_out else ""
    print(f"\nagainst the observed outcomes of {len(judged)} new scored runs{note}:")
    print(
        f"{'target':<18} {'model R2':>8} {'rho':>6} {'MAE':>8} | {'naive R2':>8} "
        f"{'rho':>6} {'MAE':>8}"
    )
    for t in bundle.targets:
        if f"obs__{t}" not in judged.columns:
            continue
        y = judged[f"obs__{t}"].to_numpy(float)
        m = regression_metrics(y, judged[f"pred__{t}"].to_numpy(float))
        nc = f"naive__{t}"
        n = regression_metrics(y, judged[nc].to_numpy(float)) if nc in judged else {}
        print(
            f"{t:<18} {fmt3(m['r2']):>8} {fmt3(m['spearman'])} {m['mae']:8.4f} | "
            f"{fmt3(n.get('r2', float('nan'))):>8} {fmt3(n.get('spearman', float('nan')))} "
            f"{n.get('mae', float('nan')):8.4f}"
        )
    _clone_choice(judged)


def _clone_choice(judged: pd.DataFrame) -> None:
    """Which clones it would have picked, against what was measured (training.decision)."""
    from models.ranking import expected_product
    from training.decision import PRODUCT, decision_block

    y = "dsp_yield_pct"
    need = {"clone_id", "campaign_id", f"obs__{y}", f"pred__{y}"}
    if not need <= set(judged.columns):
        return
    j = judged.set_index("run_id")
    measured = pd.DataFrame({y: j[f"obs__{y}"]})
    predicted = {"model": pd.DataFrame({y: j[f"pred__{y}"]})}
    if f"naive__{y}" in j.columns:
        predicted["titer_rank"] = pd.DataFrame({y: j[f"naive__{y}"]})
    if "titer_g_l" in j.columns and "obs__final_titer_g_l" in j.columns:
        titer = pd.to_numeric(j["titer_g_l"], errors="coerce")
        measured[PRODUCT] = expected_product(j["obs__final_titer_g_l"], j[f"obs__{y}"])
        for name, frame in predicted.items():
            frame[PRODUCT] = expected_product(titer, frame[y]) if name == "model" else titer
    block = decision_block(measured, predicted, j["clone_id"], j["campaign_id"], [])
    print("clone choice within campaigns (clone means), against the measured outcomes:")
    print_clone_choice(block)

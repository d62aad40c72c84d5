"""CLI commands that train, promote and retrain (MLflow tracking and the registry)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from clonescout_cli.common import fmt3, load_data, print_clone_choice, stages_text
from features.contract.loader import CampaignData
from models.registry import use_tracking

if TYPE_CHECKING:
    from training.settings import TrainSettings


def _cov(block: dict, level: str) -> str:
    rep = block["model"]["coverage"][level]
    return fmt3(rep["overall"]) if rep["estimable"] else " n.est"


def print_metrics_table(metrics: dict, out=sys.stdout) -> None:
    """Nested-CV metrics beside the baselines and the noise ceiling, and how they were made."""
    ev = metrics["evaluation"]
    print(
        f"\nheld-out metrics at horizon day {metrics['horizon_day']:g} "
        f"({metrics['n_runs']} runs, {metrics['n_campaigns']} campaigns; nested CV, "
        f"{ev['outer_folds']} outer x {ev['inner_folds']} inner folds grouped by "
        f"{ev['grouping']})",
        file=out,
    )
    head = (
        f"{'target':<18} {'model R2':>8} {'rho':>6} {'MAE':>7} {'cov80':>6} {'cov90':>6} | "
        f"{'PLS R2':>6} {'rho':>6} {'MAE':>7} | {'titer rho':>9} {'MAE':>7} | {'ceiling':>7}"
    )
    print(head, file=out)
    for t, b in metrics["targets"].items():
        m, bl = b["model"], b["baselines"]
        p, tr = bl["pls"], bl["titer_rank"]
        print(
            f"{t:<18} {fmt3(m['r2']):>8} {fmt3(m['spearman'])} {fmt3(m['mae']):>7} "
            f"{_cov(b, '0.8')} {_cov(b, '0.9')} | {fmt3(p['r2'])} {fmt3(p['spearman'])} "
            f"{fmt3(p['mae']):>7} | {fmt3(tr.get('spearman')):>9} {fmt3(tr.get('mae')):>7} | "
            f"{fmt3(b.get('noise_ceiling_r2')):>7}",
            file=out,
        )
    print("\n90% coverage per predicted-value quartile and per held-out campaign:", file=out)
    for t, b in metrics["targets"].items():
        rep = b["model"]["coverage"]["0.9"]
        if not rep["estimable"]:
            print(f"  {t:<18} not estimable: {rep['reason']}", file=out)
            continue
        q = " ".join(f"{v:.2f}" for v in rep["by_predicted_quartile"])
        c = rep["by_campaign"]
        camp = (
            f"campaigns min {c['min']:.2f} / median {c['median']:.2f} / max {c['max']:.2f}"
            if c["n_campaigns"]
            else "no campaign with enough runs"
        )
        print(f"  {t:<18} quartiles {q}; {camp}", file=out)
    for name in ("glyco_risk", "downstream_risk"):
        if name in metrics:
            _print_risk(name, metrics[name], out)
    _print_families(metrics, out)
    _print_decision(metrics.get("decision", {}), out)
    a = metrics["applicability"]
    print(
        f"applicability: {a['held_out_outside']:.1%} of held-out runs outside (nominal "
        f"{a['nominal_outside']:.0%}), {a['held_out_borderline']:.1%} borderline, "
        f"{a['held_out_missing_family']} lacking a family the model relies on",
        file=out,
    )
    skipped = {
        f"{t}: {b['baselines']['titer_rank']['reason']}"
        for t, b in metrics["targets"].items()
        if b["baselines"]["titer_rank"].get("skipped")
    }
    for line in sorted(skipped)[:1]:
        print(f"titer-rank baseline skipped ({line.split(': ', 1)[1]})", file=out)
    for w in ev["warnings"]:
        print(f"warning: {w}", file=out)


def _print_families(metrics: dict, out) -> None:
    """Each target's blend of learner families: the final model's weights, each outer fold's."""
    final = metrics.get("model_families", {})
    print(
        "\nlearner families per target (weighed on grouped inner folds; each outer fold's "
        "weights in brackets):",
        file=out,
    )
    for t, b in metrics["targets"].items():
        folds = " | ".join(b["model"].get("family_per_outer_fold", []))
        why = final.get(t, {}).get("why", "")
        print(f"  {t:<18} {why or '(final fit not yet made)'}  [outer: {folds}]", file=out)


def _print_decision(decision: dict, out) -> None:
    """Clone choice within campaigns: the model beside PLS, titer rank and the noise-free truth."""
    if decision:
        print("\nclone choice within held-out campaigns (clone means):", file=out)
        print_clone_choice(decision, out)


def _print_risk(name: str, g: dict, out) -> None:
    pls = g["baselines"]["pls"]
    d = g["brier_minus_pls"]
    print(
        f"{name.replace('_', ' ')} (judged: {', '.join(g['judged'])}): AUROC "
        f"{fmt3(g['model']['auroc'])}, Brier {fmt3(g['model']['brier'])}  (PLS-based: "
        f"AUROC {fmt3(pls['auroc'])}, Brier {fmt3(pls['brier'])}; Brier difference "
        f"{fmt3(d['mean'])} ± {fmt3(d['se'])} SE over folds)",
        file=out,
    )
    if g["not_judged"]:
        print(f"  not judged (no model for them): {', '.join(g['not_judged'])}", file=out)


def cmd_train(args: argparse.Namespace, data: CampaignData) -> int:
    from training.settings import CURVE_HORIZONS, TrainSettings

    settings = TrainSettings(
        spec_path=args.spec,
        targets=tuple(args.target or ()),
        horizon_day=args.horizon_day,
        trials=args.trials,
        seed=args.seed,
        n_folds=args.folds,
        inner_folds=args.inner_folds,
        exclude=tuple(args.exclude or ()),
        curve_horizons=() if args.no_curve else CURVE_HORIZONS,
        workers=args.workers,
        optuna_storage=args.optuna_storage,
        threads=args.threads,
    )
    return run_train(data, settings, json_only=args.json)


def run_train(data: CampaignData, settings: TrainSettings, json_only: bool = False) -> int:
    """Train, log and register; print the held-out metrics (or only their JSON)."""
    from training.pipeline import train

    use_tracking(settings.experiment)
    report = _in_project_run(lambda: train(data, settings))
    if json_only:
        print(json.dumps(report.metrics))
        return 0
    print_train_report(report)
    return 0


def _in_project_run(work):
    """``work()`` with its chatter on stderr, inside ``mlflow run``'s run when there is one."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    import mlflow

    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(sys.stderr))  # stdout: only results
        if os.environ.get("MLFLOW_RUN_ID"):  # inside `mlflow run`: resume the project's run
            stack.enter_context(mlflow.start_run())
        return work()


def print_train_report(report) -> None:
    """The runs used, the nested metrics, the horizon curve and where MLflow keeps them."""
    d = report.metrics["data"]
    where_rejects = "; reasons: MLflow artifact data/rejects.csv" if d["runs_rejected"] else ""
    print(
        f"{d['runs_in']} runs in: {d['runs_used']} used, {d['runs_rejected']} rejected "
        f"({stages_text(d['rejected_by_stage'])}){where_rejects}"
    )
    print_metrics_table(report.metrics)
    if len(report.curve):
        print("\nhow early the prediction becomes reliable (outer folds, not re-tuned):")
        print(report.curve.round(3).to_string(index=False))
    if report.registered_version:
        where = f", registered as version {report.registered_version}"
    else:
        where = (
            f", NOT registered: {report.not_registered_because}"
            if (report.not_registered_because)
            else ""
        )
    print(f"\nMLflow run {report.run_id}; model {report.model_uri}{where}")


def cmd_promote(args: argparse.Namespace) -> int:
    """Promote (or not) and explain; a refusal is a decision, not an error (exit 0)."""
    data = None
    if args.data is not None:
        data = load_data(args.data, args.mapping, True)[0]
    run_promote(args.model, args.version, data)
    return 0


def run_promote(model: str, version: str | None = None, data: CampaignData | None = None):
    """Ask for promotion, print the decision and its table, return the decision."""
    from training.promote import promote

    use_tracking()
    d = promote(model, version, data)
    print_decision(model, d)
    return d


def print_decision(model: str, d) -> None:
    """The promotion's verdict, its reasons and the gate's table."""
    if d.promoted:
        head = f"promoted version {d.candidate}"
    elif d.champion:
        head = f"kept champion version {d.champion}, refused version {d.candidate}"
    else:
        head = f"refused version {d.candidate}; there is no champion"
    print(f"{model}: {head} (champion before: {d.champion or 'none'})")
    for r in d.reasons:
        print(f"  - {r}")
    if d.table:
        print("\n" + d.render())


def cmd_retrain(args: argparse.Namespace) -> int:
    """History + new campaigns -> train with the champion's recipe -> gate -> promote."""
    from training.settings import CURVE_HORIZONS, TrainSettings

    base = TrainSettings(
        spec_path=args.spec,
        curve_horizons=() if args.no_curve else CURVE_HORIZONS,
        workers=args.workers,
        optuna_storage=args.optuna_storage,
        threads=args.threads,
        experiment=args.model,
    )
    run_retrain(args.model, args.add, base, args.data, args.mapping, args.add_mapping, args.trials)
    return 0


def run_retrain(
    model: str,
    add: list[Path],
    base: TrainSettings,
    history: Path | None = None,
    mapping: Path | None = None,
    add_mapping: Path | None = None,
    trials: int | None = None,
):
    """Plan (every check first), train, record, ask the gate; print all of it.

    ``history`` defaults to the folder the champion's training run recorded. Returns the
    :class:`training.retrain.RetrainResult`.
    """
    from training.retrain import champion_of, plan_retrain, retrain

    use_tracking(base.experiment)
    champ = champion_of(model)  # refused here when there is none
    history = history or champ.data_folder
    if history is None:
        raise ValueError(
            f"champion version {champ.version} has no recorded training folder: give the "
            "history it learned from with --data"
        )
    print(f"history: {history}; new: {', '.join(str(a) for a in add)}", file=sys.stderr)
    plan = plan_retrain(
        champ,
        load_data(history, mapping, True)[0],
        [load_data(a, add_mapping, True)[0] for a in add],
        base,
        trials,
    )
    for line in plan.describe():
        print(line)
    result = _in_project_run(lambda: retrain(plan))
    print()
    print_train_report(result.report)
    print()
    if result.decision is None:
        print(f"{model}: not promoted: {result.report.not_registered_because}")
    else:
        print_decision(model, result.decision)
    return result

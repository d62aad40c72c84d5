"""CLI commands on data: simulate, demo, features, validate."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from clonescout_cli.common import load_data
from clonescout_cli.digest import print_digest
from clonescout_cli.modelcmds import cmd_train, run_promote
from clonescout_cli.report import print_realism, print_set_summary
from clonescout_cli.scorecmd import cmd_score
from features.assemble import feature_table, featurize
from features.contract.files import write_atomic, write_table
from features.contract.loader import CampaignData, load_campaign
from features.contract.rejects import reason_counts
from features.contract.spec import load_spec
from models.registry import DEFAULT_MODEL_URI, MODEL_NAME
from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.labexport import add_lab_quirks, relabel_campaigns


def _config(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(
        n_campaigns=args.campaigns,
        clones_per_campaign=args.clones_per_campaign,
        runs_per_clone=args.runs_per_clone,
        conditions_per_campaign=args.conditions_per_campaign,
        deep_clone_share=args.deep_clone_share,
        deep_runs_per_clone=args.deep_runs_per_clone,
        days=args.days,
        seed=args.seed,
    )


def _simulate(args: argparse.Namespace, out: Path) -> int:
    spec = load_spec(args.spec)
    config = _config(args)
    quirks = getattr(args, "lab_quirks", None)
    if quirks is not None and args.format != "csv":
        raise ValueError("--lab-quirks writes text cells such as '<LOQ': use --format csv")
    t0 = time.perf_counter()
    tables = simulate_set(config)
    files = write_set(tables, out, config, args.format)
    elapsed = time.perf_counter() - t0
    print(
        f"simulated {len(tables['runs'])} runs of {config.n_campaigns} campaigns "
        f"(seed {config.seed}) in {elapsed:.1f} s -> {out}/ "
        f"({', '.join(f.name for f in files)})",
        file=sys.stderr,
    )
    if quirks is not None:
        done = add_lab_quirks(out, quirks, config.seed)
        write_table(done, out / "lab_quirks.csv")
        print(
            f"lab quirks: {len(done)} runs given one quirk each (what and where: "
            f"{out / 'lab_quirks.csv'})",
            file=sys.stderr,
        )
    data = load_campaign(out, require_outcomes=True)  # the written set obeys the contract
    print_set_summary(data.tables(), spec)
    print_realism(tables)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    return _simulate(args, args.out)


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the embedded default, in the order a team meets it.

    Simulate the default set, train (nested CV), promote through the gate, then take a
    lab's export of a new screening campaign with quirks: validate it, score it and rank its
    clones (top clones, flags and unknowns with their reasons), recommend process conditions
    for its top clones, write the campaign report, then serve the model over HTTP and score
    some of its runs from Python.
    """
    t0 = time.perf_counter()
    _step(1, "simulate the default campaign set (the history the model learns from)")
    _simulate(args, args.out)
    model = _demo_train(args)
    lab = args.out.parent / "lab_export"
    _step(4, f"a lab's export of a NEW screening campaign, with quirks -> {lab}")
    _demo_lab_export(args, lab)
    _step(5, "score the new campaign with the pinned model, in chunks; rank its clones")
    scores = args.out.parent / "lab_export_scores.csv"
    argv = ["score", "--data", str(lab), "--out", str(scores), "--model", model]
    cmd_score(_parse(argv))
    from serving.batch.write import ScoreOutputs

    outputs = ScoreOutputs.for_out(scores)
    print_digest(outputs.clones, runs_table=outputs.runs)
    _step(6, "choose the process: every clone, one condition for the campaign, next runs")
    _demo_whatif(scores, lab, model)
    _step(7, "the campaign report: one self-contained HTML page for the campaign lead")
    from clonescout_cli.reportcmd import cmd_report

    report = args.out.parent / "lab_export_report.html"
    cmd_report(argparse.Namespace(scores=scores, out=report))
    _step(8, "serve the model over HTTP (BentoML) and score runs from Python")
    from clonescout_cli.servecmd import demo_serve

    demo_serve(model, load_data(lab, None, report=False)[0])
    print(
        f"\nclonescout demo done in {time.perf_counter() - t0:.0f} s. Read the report: "
        f"{report}\nBrowse the runs, nested trials, baselines and the registered model: "
        "mlflow ui --backend-store-uri sqlite:///mlflow.db",
        file=sys.stderr,
    )
    return 0


DEMO_STEPS = 8


def _parse(argv: list[str]) -> argparse.Namespace:
    """A command's arguments with that command's own defaults (not a copy of them)."""
    from clonescout_cli.main import build_parser

    return build_parser().parse_args(argv)


def _demo_train(args: argparse.Namespace) -> str:
    """Train and promote; the model URI the rest of the demo scores with."""
    _step(
        2,
        f"train at horizon day {args.horizon_day:g} ({args.trials} Optuna trials per model "
        "family; nested CV, outer folds grouped by campaign)",
    )
    argv = ["train", "--data", str(args.out), "--spec", str(args.spec)]
    argv += ["--horizon-day", str(args.horizon_day), "--trials", str(args.trials)]
    argv += ["--seed", str(args.seed), "--workers", str(args.workers)]
    cmd_train(_parse(argv), load_campaign(args.out, require_outcomes=True))
    _step(3, "promote: the quality gate, then champion vs candidate on the same folds")
    decision = run_promote(MODEL_NAME)
    if not decision.promoted and decision.champion is None:
        model = f"models:/clonescout/{decision.candidate}"
        print(f"(no champion: the demo scores with {model}, which the gate refused)")
        return model
    return DEFAULT_MODEL_URI


def _demo_lab_export(args: argparse.Namespace, lab: Path) -> None:
    """A new campaign (other clones, seed 11) written as a lab exports it, then validated."""
    lab_args = argparse.Namespace(
        **{**vars(args), "campaigns": 4, "clones_per_campaign": 32, "seed": 11, "format": "csv"}
    )
    _simulate(argparse.Namespace(**{**vars(lab_args), "lab_quirks": None}), lab)
    relabel_campaigns(lab, "L")
    done = add_lab_quirks(lab, 0.03, 11)
    write_table(done, lab / "lab_quirks.csv")
    cmd_validate(
        argparse.Namespace(
            data=lab,
            mapping=None,
            require_outcomes=False,
            rejects=lab / "rejects.csv",
            strict=False,
        )
    )


def _demo_whatif(scores: Path, lab: Path, model: str) -> None:
    """Process conditions for the campaign, then the top clone's in full with next runs.

    ``clonescout process`` for every clone, then ``clonescout whatif --next 2`` for the best.
    """
    from clonescout_cli.processcmd import cmd_process
    from clonescout_cli.whatifcmd import cmd_whatif
    from serving.batch.write import ScoreOutputs

    cmd_process(_parse(["process", "--data", str(lab), "--scores", str(scores), "--model", model]))
    print()
    clones = pd.read_csv(ScoreOutputs.for_out(scores).clones)
    best = clones.dropna(subset=["rank"]).sort_values("rank")["clone_id"].iloc[0]
    out = scores.with_name(f"whatif_{best}.json")
    argv = ["whatif", "--data", str(lab), "--clone", str(best), "--model", model]
    cmd_whatif(_parse([*argv, "--next", "2", "--out", str(out)]))


def _step(n: int, what: str) -> None:
    print(f"\nclonescout demo {n}/{DEMO_STEPS}: {what}", file=sys.stderr, flush=True)


def _print_notes_and_reasons(data: CampaignData, rejects: pd.DataFrame) -> None:
    if data.notes:
        print(f"notes ({len(data.notes)}):")
        for note in data.notes:
            print(f"  {note}")
    if len(rejects):
        print("rejected runs by reason:")
        for line in reason_counts(rejects):
            print(f"  {line}")


def cmd_validate(args: argparse.Namespace) -> int:
    """Say how many runs came in, were kept and set aside (and why); 1 with --strict."""
    data, rejected_rows = load_data(args.data, args.mapping, args.require_outcomes, report=False)
    n_in, kept, rejected = data.n_runs_in, len(data.runs), len(data.rejects)
    if n_in != kept + rejected:
        raise AssertionError(f"run accounting broken: {n_in} in != {kept} + {rejected}")
    print(f"{args.data}: {n_in} runs in: {kept} valid, {rejected} rejected")
    counts = ", ".join(f"{len(df)} {name}" for name, df in data.tables().items())
    extra = f"; {rejected_rows} source rows rejected at import" if rejected_rows else ""
    print(f"kept: {counts}{extra}")
    _print_notes_and_reasons(data, data.rejects)
    if args.rejects is not None:
        write_table(data.rejects, args.rejects)
        print(f"rejected runs and reasons: {args.rejects}")
    return 1 if args.strict and rejected else 0


def cmd_features(args: argparse.Namespace) -> int:
    """Feature table of the kept runs; every run in is featurised or in FILE.rejects.csv."""
    data, _ = load_data(args.data, args.mapping, report=False)
    result = featurize(data, args.horizon_day)
    table = feature_table(result, data.outcomes)
    out: Path = args.out
    write_atomic(out, lambda tmp: table.to_parquet(tmp, index=False))
    rejects_path = out.with_name(out.stem + ".rejects.csv")
    if len(result.rejects):
        write_table(result.rejects, rejects_path)
    else:
        rejects_path.unlink(missing_ok=True)
    at = result.rejects["stage"].value_counts()
    print(
        f"{result.n_runs_in} runs in: {len(result.features)} featurised, "
        f"{len(result.rejects)} rejected ({at.get('load', 0)} at load, "
        f"{at.get('features', 0)} at features)"
    )
    n_feat = len(result.features.columns)
    print(f"{n_feat} features at horizon day {args.horizon_day:g} -> {out}")
    _print_notes_and_reasons(data, result.rejects)
    if len(result.rejects):
        print(f"rejected runs and reasons: {rejects_path}")
    return 0

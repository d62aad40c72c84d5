"""``clonescout retrain``: the champion's history plus new campaigns → train → gate → promote.

A retrain answers one question on evidence: does a model that has also learned from the
campaigns measured since the champion was promoted do better, on the same footing? So:

1. Everything is checked before the first trial: there is a champion; the history is the
   data the champion learned from (its content hashes to the champion's ``data_hash``);
   every new set has outcomes; no campaign, clone or run is in two sets
   (:func:`features.contract.combine.combine`); the spec is the champion's.
2. The candidate is trained with the champion's recipe (targets, horizon, trials per
   family, outer and inner folds, seed, excluded features), so that only the data differ.
3. The quality gate (:func:`training.gate.quality_gate`: beat titer rank and PLS, coverage
   within 5 points), then the champion **as deployed** against the candidate on the
   campaigns the champion never saw: the added ones. The champion's frozen predictions of
   their runs are set beside the candidate's held-out predictions (its nested outer folds:
   the model that predicted a run did not learn from that run's campaign), target by
   target, as the mean over clones of the per-clone difference in absolute error (a
   clone's runs are not independent), with its standard error. Promoted only if better
   beyond one SE on some target and worse beyond one SE on none.

   Why not the promotion of ``clonescout promote``? It refits the champion's
   hyper-parameters on the candidate's data, so it compares *recipes* on the same data; a
   retrain asks whether a model that *learned from the new campaigns* beats the one that
   is serving, which a refitted champion (which also learned from them) cannot answer. On
   ``make demo`` the refitted champion tied the candidate on five of six headline metrics.

Every version records the campaigns it learned from (model-version tag ``campaigns``; run
artifact ``data/campaigns.csv``); a retrained one also records the champion it was
retrained from and the campaigns it added (``retrained_from``, ``added_campaigns``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from features.assemble import long_frame
from features.contract.combine import campaign_ids, combine
from features.contract.loader import CampaignData
from features.contract.spec import load_spec
from models.registry import CHAMPION, load_pinned, version_uri
from training.gate import Row, failed, quality_gate
from training.logging_mlflow import campaign_list
from training.pipeline import TrainReport, train
from training.preconditions import TrainingRefused
from training.promote import Decision
from training.provenance import data_hash
from training.settings import TrainSettings


@dataclass(frozen=True)
class Champion:
    """The version a retrain must beat, with what it was trained on and how."""

    model_name: str
    version: str
    run_id: str
    params: dict[str, str]  # the training run's parameters (its recipe and data_hash)
    tags: dict[str, str]  # the model version's tags

    @property
    def data_folder(self) -> Path | None:
        where = self.params.get("data_folder")
        return Path(where) if where else None

    @property
    def campaigns(self) -> str:
        return self.tags.get("campaigns", "not recorded (trained before campaigns were kept)")


def champion_of(model_name: str) -> Champion:
    """The ``@champion`` of ``model_name``; refused (with the fix) when there is none."""
    client = mlflow.MlflowClient()
    try:
        mv = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        raise TrainingRefused(
            [
                f"model '{model_name}' has no @{CHAMPION} in {mlflow.get_tracking_uri()}: "
                "retraining is judged against a champion; train and promote one first "
                "(`clonescout train`, `clonescout promote`)"
            ]
        ) from None
    run = client.get_run(str(mv.run_id))
    return Champion(
        model_name, str(mv.version), str(mv.run_id), dict(run.data.params), dict(mv.tags)
    )


def recipe_of(champ: Champion, base: TrainSettings, trials: int | None = None) -> TrainSettings:
    """``base`` (spec, where trials run, curve) with the champion's recipe.

    Only the data differ between champion and candidate. ``trials`` asks for another search
    width on purpose (default: the champion's).
    """
    p = champ.params
    missing = [
        k
        for k in ("targets", "horizon_day", "outer_folds", "inner_folds", "seed", "data_hash")
        if k not in p
    ]
    if missing:
        raise TrainingRefused(
            [
                f"champion version {champ.version} (run {champ.run_id}) has no recorded "
                f"{', '.join(missing)}: its recipe cannot be repeated; retrain it with "
                "`clonescout train` and promote it first"
            ]
        )
    exclude = () if p.get("exclude", "-") == "-" else tuple(p["exclude"].split(","))
    trials = trials or int(p.get("trials_per_family", base.trials))
    return replace(
        base,
        targets=tuple(p["targets"].split(",")),
        horizon_day=float(p["horizon_day"]),
        trials=trials,
        n_folds=int(p["outer_folds"]),
        inner_folds=int(p["inner_folds"]),
        seed=int(p["seed"]),
        exclude=exclude,
        model_name=champ.model_name,
    )


@dataclass(frozen=True)
class Plan:
    """What a retrain will do, every precondition checked."""

    champion: Champion
    settings: TrainSettings
    data: CampaignData
    history: list[str]  # campaign ids
    added: list[str]
    additions: CampaignData  # the added sets as one (the runs the champion never saw)

    def describe(self) -> list[str]:
        s = self.settings
        runs = {
            c: n
            for c, n in self.data.runs.merge(self.data.clones, on="clone_id")
            .groupby("campaign_id")
            .size()
            .items()
        }
        added = ", ".join(f"{c} ({runs.get(c, 0)} runs)" for c in self.added)
        return [
            f"champion: {self.champion.model_name} version {self.champion.version}, "
            f"learned from {len(self.history)} campaigns ({self.champion.campaigns})",
            f"adding {len(self.added)} campaign(s) with outcomes: {added}",
            f"the champion's recipe: targets {', '.join(s.targets)}; horizon day "
            f"{s.horizon_day:g}; {s.trials} trials per family; {s.n_folds} outer folds "
            f"grouped by campaign, {s.inner_folds} inner; seed {s.seed}"
            + (f"; excluding {', '.join(s.exclude)}" if s.exclude else ""),
        ]


def plan_retrain(
    champ: Champion,
    history: CampaignData,
    additions: Sequence[CampaignData],
    base: TrainSettings,
    trials: int | None = None,
) -> Plan:
    """Check every precondition of a retrain, before any training; refuse with all reasons."""
    problems = []
    if not additions:
        problems.append("no new campaign given (--add FOLDER): nothing to retrain with")
    expected = champ.params.get("data_hash", "")
    got = data_hash(history.tables())
    if expected and got != expected:
        problems.append(
            f"the history {history.folder} is not the data champion version {champ.version} "
            f"learned from (content hash {got[:12]}, champion's {expected[:12]}); give the "
            f"folder it was trained on" + (f" ({champ.data_folder})" if champ.data_folder else "")
        )
    for part in additions:
        if part.outcomes is None:
            problems.append(
                f"{part.folder} has no outcomes table: a retrain learns from measured "
                "outcomes (add outcomes.csv in the contract's shape)"
            )
    spec_name = champ.tags.get("spec_name")
    if spec_name and load_spec(base.spec_path).name != spec_name:
        problems.append(
            f"the spec {base.spec_path} is '{load_spec(base.spec_path).name}', the "
            f"champion was judged against '{spec_name}': give the champion's spec (--spec)"
        )
    if problems:
        raise TrainingRefused(problems)
    data = combine([history, *additions])  # refuses overlapping campaigns, clones, runs
    settings = recipe_of(champ, base, trials)
    added = [c for part in additions for c in campaign_ids(part)]
    return Plan(champ, settings, data, campaign_ids(history), added, combine(additions))


@dataclass(frozen=True)
class RetrainResult:
    """The plan carried out: the candidate's training and the gate's decision."""

    plan: Plan
    report: TrainReport
    decision: Decision | None  # None: the candidate was not registered (report says why)


def record(plan: Plan, report: TrainReport) -> None:
    """Tag the candidate's run and version with the champion and the campaigns added."""
    client = mlflow.MlflowClient()
    tags = {
        "retrained_from": f"{plan.champion.model_name}/{plan.champion.version}",
        "added_campaigns": campaign_list(plan.added),
    }
    for k, v in tags.items():
        client.set_tag(report.run_id, f"clonescout.{k}", v)
        if report.registered_version:
            client.set_model_version_tag(plan.champion.model_name, report.registered_version, k, v)


def retrain(plan: Plan) -> RetrainResult:
    """Train the candidate on history + additions, record it, and ask for promotion.

    (:meth:`Plan.describe` says what it will do; the CLI prints it first.)
    """
    report = train(plan.data, plan.settings)
    record(plan, report)
    decision = None
    if report.registered_version:
        decision = judge(plan, report)
    return RetrainResult(plan, report, decision)


def held_out_predictions(run_id: str) -> pd.DataFrame:
    """The candidate's nested outer-fold predictions (``pred__<target>``), by run id."""
    text = mlflow.artifacts.load_text(f"runs:/{run_id}/evaluation/outer_predictions.csv")
    return pd.read_csv(io.StringIO(text), index_col=0)


def deployed_predictions(plan: Plan) -> pd.DataFrame:
    """The champion's frozen predictions of the added runs, by run id."""
    champ = plan.champion
    bundle = load_pinned(version_uri(champ.model_name, champ.version)).bundle
    frame = long_frame(plan.additions)
    return bundle.score(frame, reasons="none").set_index("run_id")


def against_deployed(plan: Plan, held_out: pd.DataFrame, deployed: pd.DataFrame) -> list[Row]:
    """Per target, on the added runs: the champion's MAE beside the candidate's held-out MAE.

    The difference is the mean over clones of (candidate - champion) absolute error of the
    clone's runs, judged against one standard error over clones.
    """
    outcomes = plan.additions.outcomes
    clones = plan.additions.runs.set_index("run_id")["clone_id"]
    obs = outcomes.set_index("run_id") if outcomes is not None else pd.DataFrame()
    rows = []
    for t in plan.settings.targets:
        if t not in obs or f"pred__{t}" not in held_out or t not in deployed:
            continue
        runs = obs.index.intersection(held_out.index).intersection(deployed.index)
        y = obs.loc[runs, t].astype(float)
        cand = (held_out.loc[runs, f"pred__{t}"].astype(float) - y).abs()
        champ = (deployed.loc[runs, t].astype(float) - y).abs()
        ok = cand.notna() & champ.notna()
        per_clone = (cand - champ)[ok].groupby(clones.reindex(runs)[ok]).mean()
        n = len(per_clone)
        label = f"{t} mae on the added campaigns ({int(ok.sum())} runs, {n} clones)"
        if n < 2:
            rows.append(Row(label, "n/a", "n/a", "n/a", "n/a", "skipped (too few clones)"))
            continue
        d, se = float(per_clone.mean()), float(per_clone.std(ddof=1) / np.sqrt(n))
        verdict = "better" if d < -se else "worse" if d > se else "tie"
        rows.append(
            Row(
                label,
                f"{champ[ok].mean():.4f}",
                f"{cand[ok].mean():.4f}",
                f"{d:.4f}",
                f"{se:.4f} (1 SE)",
                verdict,
            )
        )
    return rows


AGAINST_DEPLOYED_NOTE = (
    "* candidate minus reference; against a baseline, as `clonescout promote` says; against "
    "the deployed champion, the mean over clones of the per-clone difference in absolute "
    "error (candidate held out, champion frozen), judged against one standard error over "
    "clones"
)


def judge(plan: Plan, report: TrainReport) -> Decision:
    """The quality gate, then the deployed champion against the candidate (module doc)."""
    champ = plan.champion
    number = str(report.registered_version)
    gate = quality_gate(report.metrics)
    if failed(gate):
        why = "the candidate fails the quality gate: " + "; ".join(failed(gate))
        return Decision(False, number, champ.version, [why], gate, AGAINST_DEPLOYED_NOTE)
    rows = against_deployed(plan, held_out_predictions(report.run_id), deployed_predictions(plan))
    worse = [r.check.split(" mae")[0] for r in rows if r.verdict == "worse"]
    better = [r.check.split(" mae")[0] for r in rows if r.verdict == "better"]
    how = (
        f"champion version {champ.version} as deployed (its frozen predictions) against the "
        "candidate's held-out predictions (nested outer folds), on the campaigns the champion "
        f"never saw ({', '.join(plan.added)})"
    )
    if worse or not better:
        verdict = (
            "worse than the deployed champion beyond one SE on: " + ", ".join(worse)
            if worse
            else "no better than the deployed champion beyond one SE (a tie): keep it"
        )
        return Decision(
            False, number, champ.version, [how, verdict], gate + rows, AGAINST_DEPLOYED_NOTE
        )
    mlflow.MlflowClient().set_registered_model_alias(champ.model_name, CHAMPION, number)
    verdict = "better than the deployed champion beyond one SE on: " + ", ".join(better)
    return Decision(True, number, champ.version, [how, verdict], gate + rows, AGAINST_DEPLOYED_NOTE)

"""``clonescout promote``: move ``@champion`` only to a model that is shown to be better.

1. The candidate must pass the quality gate (:mod:`training.gate`): beat titer-rank and
   PLS on its headline metrics beyond the fold-to-fold noise (worse on none, better on at
   least one), with coverage within 5 points of nominal and enough runs.
   The first model becomes champion only this way.
2. Candidate and champion are compared like with like: on the same data, the same outer
   folds and the same horizon. If their nested evaluations already share these, the
   stored per-fold metrics are compared. Otherwise, given the candidate's data
   (``--data``), the champion's hyper-parameters are refitted and evaluated on the
   candidate's outer folds at the candidate's horizon (not re-tuned; when the champion
   was tuned on runs of these folds, this favours the champion). Without data the
   promotion is refused as not comparable, with the reason.
3. Promote only if no headline metric is worse beyond one fold-to-fold standard error
   and at least one is better beyond it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import mlflow
from mlflow.exceptions import MlflowException

from features.contract.loader import CampaignData
from models.registry import CHAMPION
from training.gate import Row, compare, failed, quality_gate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """Outcome of a promotion request, with the reasons and the table behind it."""

    promoted: bool
    candidate: str
    champion: str | None
    reasons: list[str]
    table: list[Row] = field(default_factory=list)
    footnote: str = (
        "* candidate minus reference; for a metric, the mean of the per-fold differences "
        "over the outer folds (it can differ from the difference of the pooled values "
        "shown), judged against one standard error of those differences"
    )

    def render(self) -> str:
        if not self.table:
            return ""
        head = ("check", "reference", "candidate", "difference*", "tolerance", "verdict")
        rows = [head] + [
            (r.check, r.reference, r.candidate, r.difference, r.tolerance, r.verdict)
            for r in self.table
        ]
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines.append(self.footnote)
        return "\n".join(lines)


@dataclass(frozen=True)
class Version:
    """A registered version with its run's nested-evaluation metrics."""

    number: str
    run_id: str
    tags: dict
    metrics: dict | None


def _version(client: mlflow.MlflowClient, name: str, number: str) -> Version:
    mv = client.get_model_version(name, number)
    try:
        metrics = mlflow.artifacts.load_dict(f"runs:/{mv.run_id}/evaluation/metrics.json")
    except (MlflowException, OSError):
        metrics = None
    return Version(str(mv.version), str(mv.run_id), dict(mv.tags), metrics)


def _champion(client: mlflow.MlflowClient, name: str) -> Version | None:
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return _version(client, name, str(mv.version))


def comparability(cand: Version, champ: Version) -> list[str]:
    """Why the stored metrics of the two cannot be compared ([] when they can)."""
    if champ.metrics is None:
        return [f"champion version {champ.number} has no nested evaluation recorded"]
    a, b = cand.metrics or {}, champ.metrics
    why = []
    if cand.tags.get("training_data_hash") != champ.tags.get("training_data_hash"):
        why.append(
            "trained on different data (hash "
            f"{str(champ.tags.get('training_data_hash'))[:12]} vs "
            f"{str(cand.tags.get('training_data_hash'))[:12]})"
        )
    if a.get("horizon_day") != b.get("horizon_day"):
        why.append(f"different horizon day ({b.get('horizon_day')} vs {a.get('horizon_day')})")
    if a["evaluation"]["folds_hash"] != b.get("evaluation", {}).get("folds_hash"):
        why.append("different outer folds")
    if a.get("glyco_risk", {}).get("judged") != b.get("glyco_risk", {}).get("judged"):
        why.append("the glycan risk judges different attributes")
    if not set(a["targets"]) & set(b["targets"]):
        why.append("no target in common")
    return why


def _candidate_number(client, model_name: str, candidate_version: str | None) -> str:
    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except MlflowException as exc:
        raise ValueError(f"cannot read registered model '{model_name}': {exc}") from None
    if not versions:
        raise ValueError(
            f"no registered model '{model_name}' in {mlflow.get_tracking_uri()}; "
            "run `clonescout train` first"
        )
    return candidate_version or str(max(int(v.version) for v in versions))


def promote(
    model_name: str, candidate_version: str | None = None, data: CampaignData | None = None
) -> Decision:
    """The quality gate, then champion vs candidate on the same outer folds.

    The candidate becomes ``@champion`` when it passes the gate and either there is no
    champion or it is better beyond the fold-to-fold spread on some headline metric and
    worse on none. A champion evaluated on other data or folds is re-evaluated on the
    candidate's folds when ``data`` is given; otherwise the two are not compared.
    """
    client = mlflow.MlflowClient()
    number = _candidate_number(client, model_name, candidate_version)
    cand = _version(client, model_name, number)
    if cand.metrics is None:
        return Decision(False, number, None, ["the candidate has no nested evaluation recorded"])
    gate = quality_gate(cand.metrics)
    champ = _champion(client, model_name)
    champ_no = champ.number if champ else None
    if failed(gate):
        why = "the candidate fails the quality gate: " + "; ".join(failed(gate))
        return Decision(False, number, champ_no, [why], gate)
    if champ is None:
        client.set_registered_model_alias(model_name, CHAMPION, number)
        why = "no champion yet: the candidate passes the quality gate and becomes champion"
        return Decision(True, number, None, [why], gate)
    if champ.number == number:
        return Decision(False, number, champ_no, ["the candidate already is champion"], gate)
    champ_metrics, reasons = _champion_metrics(model_name, cand, champ, data)
    if champ_metrics is None:
        return Decision(False, number, champ_no, reasons, gate)
    judged = [m.get("glyco_risk", {}).get("judged", []) for m in (cand.metrics, champ_metrics)]
    if sorted(judged[0]) != sorted(judged[1]):
        reasons.append(
            "not comparable: the glycan risks judge different attributes (candidate: "
            f"{', '.join(judged[0]) or 'none'}; champion: {', '.join(judged[1]) or 'none'}), "
            "so their Brier and AUROC measure different events"
        )
        return Decision(False, number, champ_no, reasons, gate)
    rows = compare(cand.metrics, champ_metrics)
    promoted, verdict = _verdict(rows)
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION, number)
    return Decision(promoted, number, champ_no, [*reasons, verdict], gate + rows)


def _champion_metrics(model_name: str, cand, champ, data) -> tuple[dict | None, list[str]]:
    """The champion's metrics on the candidate's folds (None: cannot compare, and why)."""
    why_not = comparability(cand, champ)
    if not why_not:
        return champ.metrics, []
    if data is None:
        return None, [
            "not comparable: " + "; ".join(why_not),
            "give the candidate's data (--data) to re-evaluate the champion on the "
            "candidate's outer folds",
        ]
    from training.reevaluate import champion_on_candidate_folds

    metrics = champion_on_candidate_folds(model_name, champ, cand, data)
    return metrics, [
        "champion re-evaluated on the candidate's outer folds ("
        + "; ".join(why_not)
        + "): its hyper-parameters refitted, not re-tuned"
    ]


def _verdict(rows: list) -> tuple[bool, str]:
    worse = [r.check for r in rows if r.verdict == "worse"]
    better = [r.check for r in rows if r.verdict == "better"]
    if not rows:
        return False, "no headline metric in common: not comparable"
    if worse:
        return False, "worse than the champion beyond the fold-to-fold spread on: " + ", ".join(
            worse
        )
    if not better:
        return False, "no better than the champion beyond the fold-to-fold spread (a tie)"
    return True, "better beyond the fold-to-fold spread on: " + ", ".join(better)

"""``clonescout promote``: move ``@champion`` only when the candidate is better.

Better means: on every headline grouped-CV metric the two versions share, the candidate
is at least as good, and on at least one it is strictly better. Headline metrics: per
target MAE (lower) and Spearman (higher); glycan risk AUROC (higher) and Brier (lower).
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException

ALIAS = "champion"
LOWER_IS_BETTER = (".mae", ".brier")


@dataclass(frozen=True)
class Decision:
    """Outcome of a promotion request, with the reasons either way."""

    promoted: bool
    candidate: str
    champion: str | None
    reasons: list[str]


def _headline(metrics: dict[str, float]) -> dict[str, float]:
    keep = {}
    for k, v in metrics.items():
        parts = k.split(".")
        if (
            len(parts) == 4
            and parts[0] == "targets"
            and parts[2] == "model"
            and parts[3] in ("mae", "spearman")
        ):
            keep[k] = v
        if k in ("glyco_risk.model.auroc", "glyco_risk.model.brier"):
            keep[k] = v
    return keep


def compare(candidate: dict[str, float], champion: dict[str, float]) -> tuple[bool, list[str]]:
    cand, champ = _headline(candidate), _headline(champion)
    shared = sorted(set(cand) & set(champ))
    if not shared:
        return False, ["no headline metric in common (different targets?): not comparable"]
    better, worse = [], []
    for k in shared:
        lower = k.endswith(LOWER_IS_BETTER)
        delta = cand[k] - champ[k]
        improved = delta < 0 if lower else delta > 0
        regressed = delta > 0 if lower else delta < 0
        line = f"{k}: {champ[k]:.4f} -> {cand[k]:.4f}"
        if improved:
            better.append(line)
        elif regressed:
            worse.append(line)
    if worse:
        return False, ["worse on " + "; ".join(worse)] + (
            ["better on " + "; ".join(better)] if better else []
        )
    if not better:
        return False, ["no better on any headline metric (equal)"]
    return True, ["better on " + "; ".join(better), "no worse on the rest"]


def promote(model_name: str, candidate_version: str | None = None) -> Decision:
    client = mlflow.MlflowClient()
    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except MlflowException as exc:
        raise ValueError(f"cannot read registered model '{model_name}': {exc}") from None
    if not versions:
        raise ValueError(
            f"no registered model '{model_name}' in {mlflow.get_tracking_uri()}; "
            "run `clonescout train` first"
        )
    latest = max(versions, key=lambda v: int(v.version))
    cand = candidate_version or latest.version
    cand_mv = client.get_model_version(model_name, cand)
    try:
        champ_mv = client.get_model_version_by_alias(model_name, ALIAS)
    except MlflowException:
        champ_mv = None
    cand_metrics = client.get_run(str(cand_mv.run_id)).data.metrics
    if champ_mv is None:
        client.set_registered_model_alias(model_name, ALIAS, cand)
        return Decision(True, cand, None, ["no champion yet: the candidate becomes champion"])
    if champ_mv.version == cand:
        return Decision(False, cand, champ_mv.version, ["the candidate already is champion"])
    ok, reasons = compare(cand_metrics, client.get_run(str(champ_mv.run_id)).data.metrics)
    cand_hash = cand_mv.tags.get("training_data_hash")
    champ_hash = champ_mv.tags.get("training_data_hash")
    if cand_hash != champ_hash:
        reasons.append(
            "note: trained on different data (hash "
            f"{str(champ_hash)[:12]} vs {str(cand_hash)[:12]}); CV metrics compare "
            "skill on different campaigns"
        )
    if ok:
        client.set_registered_model_alias(model_name, ALIAS, cand)
    return Decision(ok, cand, champ_mv.version, reasons)

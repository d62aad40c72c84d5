"""Re-evaluate a champion on a candidate's data, outer folds and horizon.

The champion's recipe is refitted fold by fold with its final hyper-parameters (no new
tuning) on exactly the runs and folds the candidate was evaluated on, and every metric is
computed the same way, so the two can be compared fold by fold.
"""

from __future__ import annotations

import numpy as np

from features.contract.loader import CampaignData
from models.registry import load_bundle, version_uri
from training.dataset import prepare
from training.experiment import evaluate
from training.pipeline import families
from training.provenance import data_hash
from training.recipe import Recipe


def champion_on_candidate_folds(name: str, champ, cand, data: CampaignData) -> dict:
    """The champion's metrics on the candidate's outer folds (same JSON shape)."""
    want = cand.tags.get("training_data_hash")
    got = data_hash(data.tables())
    if got != want:
        raise ValueError(
            f"--data is not the candidate's training data (hash {got[:12]}, the candidate "
            f"was trained on {str(want)[:12]}); give the folder it was trained on"
        )
    champ_bundle = load_bundle(version_uri(name, champ.number))
    spec = load_bundle(version_uri(name, cand.number)).predictor.spec
    shared = [t for t in cand.metrics["targets"] if t in champ_bundle.manifest["params"]]
    if not shared:
        raise ValueError("the champion models none of the candidate's targets")
    horizon = float(cand.metrics["horizon_day"])
    ts = prepare(data, shared, horizon, tuple(champ_bundle.manifest["recipe"].get("exclude", ())))
    ev_info = cand.metrics["evaluation"]
    fold = ts.groups.reindex(ts.X.index).map(ev_info["fold_of_group"]).to_numpy()
    if np.any(fold != fold):  # NaN: a group the candidate's folds do not know
        raise ValueError("the data has runs outside the candidate's outer folds")
    idx = np.arange(len(fold))
    folds = [(idx[fold != k], idx[fold == k]) for k in range(int(ev_info["outer_folds"]))]
    recipe = Recipe(
        families=families(shared, spec),
        spec=spec,
        horizon_day=horizon,
        measurements=list(ts.transformer.measurements_),
        trials=1,
        inner_folds=int(champ_bundle.manifest["recipe"]["inner_folds"]),
        seed=int(champ_bundle.manifest["recipe"]["seed"]),
    )
    params = {t: champ_bundle.manifest["params"][t] for t in shared}
    return evaluate(ts, recipe, folds, fixed_params=params).metrics

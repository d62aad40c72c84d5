"""From validated tables to feature and training tables, with every run accounted for.

``runs in = feature rows out + runs rejected``: a run is rejected (with its reason) only
when it has no sample at all or none at or before the horizon day; any other gap gives NaN
features, which the models handle.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.early import CLONE_PREFIX, RUN_PREFIX, EarlyFeatures
from features.loader import CampaignData

GROUP_COLUMN = "campaign_id"
ID_COLUMNS = ("run_id", "clone_id", "campaign_id")


def long_frame(data: CampaignData) -> pd.DataFrame:
    """One row per sample with the run's conditions and the clone's assays attached.

    Run columns are prefixed ``run__`` and clone columns ``clone__``, except the ids.
    """
    runs = data.runs.rename(columns=lambda c: c if c in ("run_id", "clone_id") else RUN_PREFIX + c)
    clones = data.clones.rename(columns=lambda c: c if c == "clone_id" else CLONE_PREFIX + c)
    clones = clones.drop(columns=[CLONE_PREFIX + GROUP_COLUMN])
    meta = runs.merge(clones, on="clone_id", how="left").drop(columns=["clone_id"])
    return data.samples.merge(meta, on="run_id", how="left", validate="m:1")


def run_index(data: CampaignData) -> pd.DataFrame:
    """run_id -> clone_id, campaign_id for every run of the set."""
    return data.runs[["run_id", "clone_id"]].merge(
        data.clones[["clone_id", GROUP_COLUMN]], on="clone_id", how="left"
    )


@dataclass(frozen=True)
class FeatureResult:
    """Features of the accepted runs, and the rejected runs with their reasons."""

    features: pd.DataFrame  # index run_id; feature columns
    ids: pd.DataFrame  # run_id, clone_id, campaign_id of the accepted runs (same order)
    rejects: pd.DataFrame  # run_id, reason
    transformer: EarlyFeatures

    @property
    def n_runs_in(self) -> int:
        return len(self.features) + len(self.rejects)


def featurize(
    data: CampaignData, horizon_day: float = 7.0, transformer: EarlyFeatures | None = None
) -> FeatureResult:
    """Fit (or reuse) the transformer and compute features for every run of ``data``."""
    frame = long_frame(data)
    tr = transformer if transformer is not None else EarlyFeatures(horizon_day=horizon_day)
    if transformer is None:
        tr.fit(frame)
    feats = tr.transform(frame)
    index = run_index(data)
    sampled = set(feats.index)
    reasons = []
    for run_id in index["run_id"]:
        if run_id not in sampled:
            reasons.append((run_id, "no samples for this run"))
    early = feats["n_samples"] if "n_samples" in feats else pd.Series(dtype=float)
    for run_id in early.index[early.fillna(0) == 0]:
        reasons.append((run_id, f"no samples at or before horizon day {tr.horizon_day:g}"))
    rejects = pd.DataFrame(reasons, columns=["run_id", "reason"])
    keep = feats.drop(index=rejects["run_id"].tolist(), errors="ignore")
    ids = index.set_index("run_id").loc[keep.index].reset_index()
    return FeatureResult(keep, ids, rejects, tr)


@dataclass(frozen=True)
class TrainingSet:
    """Features, targets and CV groups aligned on run_id."""

    X: pd.DataFrame
    y: pd.DataFrame
    groups: pd.Series  # campaign_id per run
    ids: pd.DataFrame
    rejects: pd.DataFrame
    transformer: EarlyFeatures  # fitted on these runs; it goes into the model bundle


def numeric_outcomes(outcomes: pd.DataFrame) -> list[str]:
    return [
        c for c in outcomes.columns if c != "run_id" and pd.api.types.is_numeric_dtype(outcomes[c])
    ]


def training_set(data: CampaignData, targets: list[str], horizon_day: float = 7.0) -> TrainingSet:
    """Join features with the chosen outcome columns; carry campaign_id as the CV group.

    Runs whose targets are all missing are kept here (NaN); a model drops them per
    target at fit time and says how many.
    """
    if data.outcomes is None:
        raise ValueError("training needs an outcomes table (outcomes.csv or .parquet)")
    available = numeric_outcomes(data.outcomes)
    unknown = [t for t in targets if t not in available]
    if unknown or not targets:
        raise ValueError(
            f"unknown target(s) {unknown or targets}; numeric outcome columns "
            f"are: {', '.join(available)}"
        )
    fr = featurize(data, horizon_day)
    y = data.outcomes.set_index("run_id").reindex(fr.features.index)[targets]
    groups = fr.ids.set_index("run_id")[GROUP_COLUMN].reindex(fr.features.index)
    return TrainingSet(fr.features, y, groups, fr.ids, fr.rejects, fr.transformer)


def feature_table(result: FeatureResult, outcomes: pd.DataFrame | None) -> pd.DataFrame:
    """Ids, features and (if present) outcomes in one table for a person to look at."""
    out = result.ids.set_index("run_id").join(result.features)
    if outcomes is not None:
        o = outcomes.set_index("run_id")
        out = out.join(o.add_prefix("outcome__"))
    return out.reset_index()

"""From validated tables to feature and training tables, with every run accounted for.

``runs in = feature rows out + runs rejected``, where the rejects carry those set aside at
load (stage "load": the run broke the data contract) and here (stage "features": no sample
at all, or none at or before the horizon day); any other gap gives NaN features, which the
models handle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.loader import CampaignData
from features.contract.rejects import REJECT_COLUMNS, check_run_accounting, make_rejects
from features.early import CLONE_PREFIX, RUN_PREFIX, EarlyFeatures

GROUP_COLUMN = "campaign_id"
ID_COLUMNS = ("run_id", "clone_id", "campaign_id")
NO_SAMPLES = "no samples for this run"  # the reason of a kept run with no sample at all


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
    rejects: pd.DataFrame  # REJECT_COLUMNS: run_id, stage ("load" or "features"), reason
    transformer: EarlyFeatures

    @property
    def n_runs_in(self) -> int:
        return len(self.features) + len(self.rejects)


def too_late(feats: pd.DataFrame) -> pd.Index:
    """Runs of a feature table with no sample at or before the horizon (nothing to score)."""
    if "n_samples" not in feats:
        return pd.Index([])
    n = feats["n_samples"].to_numpy(float)
    return feats.index[np.isnan(n) | (n == 0)]


def too_late_reason(horizon_day: float) -> str:
    """Why a run of :func:`too_late` is not scored (files, the API and Spark say the same).

    >>> too_late_reason(7.0)
    'no samples at or before horizon day 7'
    """
    return f"no samples at or before horizon day {horizon_day:g}"


def _feature_rejects(index: pd.DataFrame, feats: pd.DataFrame, horizon_day: float) -> pd.DataFrame:
    """Kept runs that give no feature row: no sample at all, or none up to the horizon."""
    unsampled = index.loc[~index["run_id"].isin(feats.index), "run_id"]
    return pd.concat(
        [
            make_rejects(unsampled, "features", NO_SAMPLES),
            make_rejects(too_late(feats), "features", too_late_reason(horizon_day)),
        ],
        ignore_index=True,
    )


def featurize(
    data: CampaignData, horizon_day: float = 7.0, transformer: EarlyFeatures | None = None
) -> FeatureResult:
    """Fit (or reuse) the transformer and compute features for every kept run of ``data``.

    The rejects hold ``data.rejects`` (stage "load") and the runs without usable samples
    (stage "features"), so that ``data.n_runs_in == len(features) + len(rejects)``.
    """
    frame = long_frame(data)
    tr = transformer if transformer is not None else EarlyFeatures(horizon_day=horizon_day)
    if transformer is None:
        tr.fit(frame)
    feats = tr.transform(frame)
    index = run_index(data)
    own = _feature_rejects(index, feats, tr.horizon_day)
    keep = feats.drop(index=own["run_id"].tolist(), errors="ignore")
    ids = index.set_index("run_id").loc[keep.index].reset_index()
    rejects = pd.concat([data.rejects, own], ignore_index=True)[list(REJECT_COLUMNS)]
    check_run_accounting(data.n_runs_in, len(keep), len(rejects), "featurised")
    return FeatureResult(keep, ids, rejects, tr)


def numeric_outcomes(outcomes: pd.DataFrame) -> list[str]:
    """Outcome columns that can be modelled (numeric, not the run id)."""
    return [
        c for c in outcomes.columns if c != "run_id" and pd.api.types.is_numeric_dtype(outcomes[c])
    ]


def feature_table(result: FeatureResult, outcomes: pd.DataFrame | None) -> pd.DataFrame:
    """Ids, features and (if present) outcomes in one table for a person to look at."""
    out = result.ids.set_index("run_id").join(result.features)
    if outcomes is not None:
        o = outcomes.set_index("run_id")
        out = out.join(o.add_prefix("outcome__"))
    return out.reset_index()

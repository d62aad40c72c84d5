"""The runs a training uses, every run accounted for, and the preconditions checked.

``runs in = runs used + runs rejected``: a run is rejected at load (it breaks the data
contract), at features (no usable sample up to the horizon) or here (no value of any
target), always with its reason. All of it happens before any tuning starts.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import pandas as pd

from features.assemble import GROUP_COLUMN, featurize, numeric_outcomes
from features.contract.loader import CampaignData
from features.contract.rejects import check_run_accounting
from features.early import EarlyFeatures
from training import preconditions
from training.cv import Grouping, choose_grouping


@dataclass(frozen=True)
class TrainingSet:
    """Features, targets and CV groups aligned on run_id, with the runs set aside."""

    X: pd.DataFrame  # every feature of the featurizer; the recipe picks the usable ones
    y: pd.DataFrame
    ids: pd.DataFrame  # run_id, clone_id, campaign_id (same order as X)
    grouping: Grouping
    rejects: pd.DataFrame  # run_id, stage, reason
    n_runs_in: int
    transformer: EarlyFeatures  # fitted on these runs' inputs; it goes into the bundle
    warnings: tuple[str, ...] = ()

    @property
    def groups(self) -> pd.Series:
        return self.grouping.groups

    @property
    def campaigns(self) -> pd.Series:
        return self.ids.set_index("run_id")[GROUP_COLUMN]


def check_targets(data: CampaignData, targets: list[str]) -> None:
    if data.outcomes is None:
        raise preconditions.TrainingRefused(
            ["training needs an outcomes table (outcomes.csv or outcomes.parquet)"]
        )
    available = numeric_outcomes(data.outcomes)
    unknown = [t for t in targets if t not in available]
    if unknown or not targets:
        raise preconditions.TrainingRefused(
            [
                f"unknown target(s) {unknown or targets}; numeric outcome columns are: "
                + ", ".join(available)
            ]
        )


def excluded_columns(columns: pd.Index, patterns: tuple[str, ...]) -> list[str]:
    """Feature columns matching any of ``patterns``; a pattern matching none is an error."""
    out: list[str] = []
    for pat in patterns:
        hit = [c for c in columns if fnmatch.fnmatchcase(c, pat)]
        if not hit:
            examples = ", ".join(list(columns[:3]) + [c for c in columns if "__" in c][-2:])
            raise preconditions.TrainingRefused(
                [f"--exclude '{pat}' matches no feature (names look like {examples})"]
            )
        out += [c for c in hit if c not in out]
    return out


def prepare(
    data: CampaignData, targets: list[str], horizon_day: float, exclude: tuple[str, ...] = ()
) -> TrainingSet:
    """Featurise, set aside runs without any target value, choose groups, check minimums.

    ``exclude`` leaves features out by name pattern. Raises
    :class:`training.preconditions.TrainingRefused` listing every problem at once.
    """
    check_targets(data, targets)
    assert data.outcomes is not None
    fr = featurize(data, horizon_day)
    features = fr.features.drop(columns=excluded_columns(fr.features.columns, exclude))
    y = data.outcomes.set_index("run_id").reindex(features.index)[targets]
    no_target = y.isna().all(axis=1)
    reason = f"no value of any target ({', '.join(targets)})"
    train_rejects = pd.DataFrame({"run_id": y.index[no_target], "stage": "train", "reason": reason})
    keep = ~no_target.to_numpy()
    X, y = features[keep], y[keep]
    ids = fr.ids[keep].reset_index(drop=True)
    rejects = pd.concat([fr.rejects, train_rejects], ignore_index=True)
    grouping = choose_grouping(ids)
    n_campaigns = int(ids[GROUP_COLUMN].nunique())
    problems, warnings = preconditions.check(
        y, grouping, list(fr.transformer.measurements_), n_campaigns
    )
    if problems:
        raise preconditions.TrainingRefused(problems)
    check_run_accounting(fr.n_runs_in, len(X), len(rejects), "used")
    return TrainingSet(X, y, ids, grouping, rejects, fr.n_runs_in, fr.transformer, tuple(warnings))

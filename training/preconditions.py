"""Everything that would make training fail or mislead, checked before the first trial.

Minimums (below them training refuses, and says the minimum):

- ``MIN_RUNS_PER_TARGET`` = 30 runs with a value of each target. The nested evaluation
  holds out a fifth to a third of the runs and calibrates intervals on the inner held-out
  predictions of the rest; with fewer runs the inner folds leave too few residuals per
  fold for a 90% interval (at least 9) and the metrics are too noisy to rank a model.
- ``MIN_GROUPS`` = 3 cross-validation groups (campaigns; with fewer than three campaigns,
  clones): nested CV needs at least three outer folds, each leaving two inner ones.
- A target must vary (a constant target has nothing to learn) and the samples must carry
  at least one measurement.

Below a comfortable size (``COMFORTABLE_RUNS`` runs per target, ``COMFORTABLE_CAMPAIGNS``
campaigns) training goes on with a warning: the numbers will be wide and noisy.
"""

from __future__ import annotations

import pandas as pd

from training.cv import Grouping

MIN_RUNS_PER_TARGET = 30
MIN_GROUPS = 3
COMFORTABLE_RUNS = 100
COMFORTABLE_CAMPAIGNS = 5


class TrainingRefused(ValueError):
    """Training cannot give trustworthy numbers on this data; the message lists why."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = ["training refused before any tuning:"] + [f"  - {p}" for p in problems]
        lines.append(
            f"  minimums: {MIN_RUNS_PER_TARGET} runs with a value of each target, "
            f"{MIN_GROUPS} cross-validation groups (campaigns, or clones when there are "
            "fewer than 3 campaigns), a target that varies, at least one sample measurement"
        )
        super().__init__("\n".join(lines))


def check(
    y: pd.DataFrame, grouping: Grouping, measurements: list[str], n_campaigns: int
) -> tuple[list[str], list[str]]:
    """Problems that refuse training, and warnings that do not."""
    problems, warnings = [], []
    for t in y.columns:
        values = y[t].dropna()
        if values.empty:
            problems.append(f"target {t}: no run has a value")
        elif len(values) < MIN_RUNS_PER_TARGET:
            problems.append(
                f"target {t}: {len(values)} runs with a value; at least "
                f"{MIN_RUNS_PER_TARGET} are needed"
            )
        elif values.nunique() < 2:
            problems.append(f"target {t}: constant ({values.iloc[0]:g} in every run)")
        elif len(values) < COMFORTABLE_RUNS:
            warnings.append(
                f"target {t}: only {len(values)} runs with a value (comfortable: "
                f"{COMFORTABLE_RUNS}+); metrics and intervals will be noisy"
            )
    n_groups = grouping.groups.nunique()
    if n_groups < MIN_GROUPS:
        problems.append(
            f"{n_groups} cross-validation group(s) ({grouping.column}); at least "
            f"{MIN_GROUPS} are needed"
        )
    if not measurements:
        problems.append("the samples carry no measurement column (only run_id and day)")
    if grouping.note:
        warnings.append(grouping.note)
    elif n_campaigns < COMFORTABLE_CAMPAIGNS:
        warnings.append(
            f"only {n_campaigns} campaigns (comfortable: {COMFORTABLE_CAMPAIGNS}+): each "
            "outer fold holds out one or two campaigns, so fold-to-fold spread is large, and "
            "the intervals' level is not checked against a new campaign's offset (that "
            "needs 5 calibration campaigns)"
        )
    return problems, warnings

"""How much of an outcome is predictable at all: the noise ceiling from ``truth``.

A ``truth`` table (optional in the contract, written by a digital twin such as
:mod:`simulator`) holds each run's noise-free outcomes. The measured outcome is the
noise-free outcome plus assay noise and assay drift. No model can explain the noise, so the
R² of the noise-free value against the measured one bounds what a perfect model could reach
on that target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def noise_ceiling_r2(truth: pd.DataFrame, outcomes: pd.DataFrame, target: str) -> float:
    """R² of ``truth[target]`` (noise-free) as a predictor of ``outcomes[target]``.

    Rows are matched on ``run_id``; runs with a missing measurement are left out.

    >>> t = pd.DataFrame({"run_id": ["a", "b", "c"], "y": [1.0, 2.0, 3.0]})
    >>> o = pd.DataFrame({"run_id": ["c", "a", "b"], "y": [3.0, 1.0, 2.0]})
    >>> noise_ceiling_r2(t, o, "y")
    1.0
    """
    if target not in truth.columns or target not in outcomes.columns:
        raise KeyError(f"'{target}' must be a column of both truth and outcomes")
    m = outcomes[["run_id", target]].merge(
        truth[["run_id", target]], on="run_id", suffixes=("_measured", "_true"), validate="1:1"
    )
    m = m.dropna()
    y, f = m[f"{target}_measured"].to_numpy(float), m[f"{target}_true"].to_numpy(float)
    ss_res = float(np.sum((y - f) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")

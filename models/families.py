"""Measurement families: which whole kinds of data a run has, and which the model needs.

A *family* is one sample measurement over time (all features of ``titer_g_l``, plus the
derived ones that stand on it, such as qP), the clone's screening assays taken together,
or the run's process conditions taken together. A single missing assay or condition is an
ordinary missing value the trees handle; a whole family missing is not. A run that
lacks a family the model relies on — no titer sample at all up to the horizon, say — is not
a run the model has experience with: imputing its titer with the training median and
reporting a confident number would be a guess dressed as a prediction. Such a run is
``unknown``.

The model *relies* on a family when some of its features are used and fewer than
``MIN_RUNS_WITHOUT`` training runs lacked it: with that few examples the trees could not
learn what a missing family means.

>>> feature_family("titer_g_l__d7", ["titer_g_l"])
'titer_g_l'
>>> feature_family("qp_pg_cell_day", ["titer_g_l"])
'titer_g_l'
>>> feature_family("clone__ss_hmw_pct", []), feature_family("run__scale=ambr15", [])
('clone screen assays', None)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_RUNS_WITHOUT = 20
CLONE_ASSAYS, RUN_CONDITIONS = "clone screen assays", "process conditions"
# derived bioprocess features and the measurement they cannot exist without
DERIVED_FAMILY = {
    "mu_exp_per_day": "vcd_e6_ml",
    "ivcd_e6_cell_day_ml": "vcd_e6_ml",
    "qp_pg_cell_day": "titer_g_l",
    "q_glucose_pmol_cell_day": "glucose_g_l",
    "q_lactate_pmol_cell_day": "lactate_g_l",
    "q_ammonia_pmol_cell_day": "ammonia_mm",
    "lactate_shift_day": "lactate_g_l",
    "lactate_shifted": "lactate_g_l",
    "viability_drop_pct": "viability_pct",
}


def feature_family(name: str, measurements: list[str]) -> str | None:
    """The family a feature belongs to; None for one-hot labels and sample counts."""
    if name.startswith(("run__", "clone__")):
        if "=" in name:
            return None
        return CLONE_ASSAYS if name.startswith("clone__") else RUN_CONDITIONS
    if name in DERIVED_FAMILY:
        return DERIVED_FAMILY[name]
    if "__" in name:
        head = name.rsplit("__", 1)[0]
        return head if head in measurements else None
    return None


def group_features(names: list[str], measurements: list[str]) -> dict[str, list[str]]:
    """Family -> its feature names, for the features in ``names``."""
    out: dict[str, list[str]] = {}
    for n in names:
        fam = feature_family(n, measurements)
        if fam is not None:
            out.setdefault(fam, []).append(n)
    return out


def presence(X: pd.DataFrame, families: dict[str, list[str]]) -> pd.DataFrame:
    """True where a run has any value of the family (columns absent from X count as missing)."""
    have = presence_matrix(X, families)
    return pd.DataFrame(dict(zip(families, have.T, strict=True)), index=X.index)


def presence_matrix(X: pd.DataFrame, families: dict[str, list[str]]) -> np.ndarray:
    """:func:`presence` as a (runs, families) array, columns in the order of ``families``."""
    known = X.notna().to_numpy()  # one pass over the table, then column indices per family
    pos = {c: i for i, c in enumerate(X.columns)}
    out = np.zeros((len(X), len(families)), dtype=bool)
    for j, names in enumerate(families.values()):
        idx = [pos[n] for n in names if n in pos]
        if idx:
            out[:, j] = known[:, idx].any(axis=1)
    return out


def required_families(
    X: pd.DataFrame, names: list[str], measurements: list[str]
) -> dict[str, list[str]]:
    """Families of the used features ``names`` that too few training runs lacked."""
    fams = group_features(names, measurements)
    have = presence(X, fams)
    lacking = (~have).sum(axis=0)
    return {f: fams[f] for f in fams if int(lacking[f]) < MIN_RUNS_WITHOUT}


def missing_required(X: pd.DataFrame, required: dict[str, list[str]]) -> list[list[str]]:
    """Per run, the required families it lacks (empty list: none)."""
    if not required:
        return [[] for _ in range(len(X))]
    have = presence_matrix(X, required)
    names = list(required)
    return [[names[j] for j in np.flatnonzero(~row)] for row in have]

"""Physical bounds of a predicted quantity: where a prediction or an interval must stay.

A percentage lies in 0-100 and a concentration is never negative; an interval that says
otherwise overstates what the model knows on one side and is cut back to what can exist.
Known outcome columns take their bounds from the data contract; any other target is
judged by the unit in its name (``_pct`` -> 0-100, ``_g_l``/``_ppm``/``_mm``/``_um`` -> >= 0).

>>> physical_bounds("man5_pct")
(0.0, 100.0)
>>> physical_bounds("final_titer_g_l")
(0.0, 100.0)
>>> physical_bounds("my_hcp_ppm")
(0.0, inf)
>>> physical_bounds("ph_at_harvest")
(-inf, inf)
"""

from __future__ import annotations

import math

import numpy as np

from features.contract.schemas import CONTRACTS

_NON_NEGATIVE_SUFFIXES = ("_g_l", "_ppm", "_mm", "_um", "_mg_l", "_e6_ml", "_ng_mg")


def physical_bounds(target: str) -> tuple[float, float]:
    """(low, high) a value of ``target`` can physically take; infinite where unbounded."""
    bound = CONTRACTS["outcomes"].known_numeric.get(target)
    if bound is not None:
        low = -math.inf if bound.low is None else float(bound.low)
        high = math.inf if bound.high is None else float(bound.high)
        return low, high
    if target.endswith("_pct"):
        return 0.0, 100.0
    if target.endswith(_NON_NEGATIVE_SUFFIXES):
        return 0.0, math.inf
    return -math.inf, math.inf


def clip(values: np.ndarray, target: str) -> np.ndarray:
    """``values`` cut back to the physical bounds of ``target`` (NaN stays NaN)."""
    low, high = physical_bounds(target)
    return np.clip(np.asarray(values, dtype=float), low, high)

"""The flags a scored run carries and the per-limit risk columns: one set of names.

The predictor writes them; batch scoring, Spark, the ranking, the HTTP answers, the report
and the CLI read them. Each value is spelled here only, so a reader can never look for a
flag that the writer spells another way.

``Flag`` is the type of a scored run's ``flag`` (the API's schema); ``FLAG_REJECTED`` is
what a row-to-row engine (:meth:`models.bundle.Bundle.score_packed`, Spark) writes for a run
it could not score, since it may not drop the row.

>>> FLAGS
('ok', 'at risk', 'unknown')
>>> limit_risk_column("g0f_pct")
'risk__g0f_pct'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

import numpy as np

Flag = Literal["ok", "at risk", "unknown"]
FLAGS: tuple[str, ...] = get_args(Flag)  # a scored run's flag, in the order counts are shown
FLAG_OK, FLAG_RISK, FLAG_UNKNOWN = FLAGS
FLAG_REJECTED = "rejected"
LIMIT_RISK_PREFIX = "risk__"  # per-limit column: P(attribute outside its own spec range)
OBSERVED_PREFIX = "obs__"  # a measured outcome beside the predictions (monitor, judged runs)


def at_risk(risks: Mapping[str, np.ndarray], risk_flag: float, n_runs: int) -> np.ndarray:
    """Per run, whether some group's out-of-spec risk reaches the spec's ``risk_flag``.

    The one rule of the ``at risk`` flag (for a run the model knows: ``unknown`` comes
    first); a NaN risk reaches nothing.

    >>> risks = {"glycans": np.array([0.1, 0.5, 0.1]), "downstream": np.array([0.4, 0, np.nan])}
    >>> at_risk(risks, 0.4, 3)
    array([ True,  True, False])
    """
    out = np.zeros(n_runs, dtype=bool)
    for r in risks.values():
        out |= np.nan_to_num(np.asarray(r, float), nan=-np.inf) >= risk_flag
    return out


def limit_risk_column(attribute: str) -> str:
    """The column holding P(``attribute`` outside its own spec limit)."""
    return LIMIT_RISK_PREFIX + attribute

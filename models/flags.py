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

from typing import Literal, get_args

Flag = Literal["ok", "at risk", "unknown"]
FLAGS: tuple[str, ...] = get_args(Flag)  # a scored run's flag, in the order counts are shown
FLAG_OK, FLAG_RISK, FLAG_UNKNOWN = FLAGS
FLAG_REJECTED = "rejected"
LIMIT_RISK_PREFIX = "risk__"  # per-limit column: P(attribute outside its own spec range)
OBSERVED_PREFIX = "obs__"  # a measured outcome beside the predictions (monitor, judged runs)


def limit_risk_column(attribute: str) -> str:
    """The column holding P(``attribute`` outside its own spec limit)."""
    return LIMIT_RISK_PREFIX + attribute

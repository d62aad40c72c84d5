"""Numbers and words as the page shows them: digits, shares, spec limits, reasons.

Also :func:`esc`, the HTML escaping every string that came from the data goes through.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

Row = Mapping[Any, Any]  # one clone, from DataFrame.to_dict("records")


def sig(x: float) -> str:
    """A number to three significant digits, thousands grouped, "–" when missing.

    >>> sig(3.14159), sig(78.46), sig(1234.6), sig(0.000123), sig(float("nan"))
    ('3.14', '78.5', '1,235', '0.000123', '–')
    """
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def share(p: float) -> str:
    """A probability as a percentage to three significant digits.

    >>> share(0.1234), share(0.0004), share(0.0), share(1.0), share(float("nan"))
    ('12.3 %', '<0.1 %', '0 %', '100 %', '–')
    """
    if p is None or not np.isfinite(p):
        return "–"
    if 0 < p < 0.001:
        return "<0.1 %"
    if 0.999 < p < 1:
        return ">99.9 %"
    return f"{100 * p:.3g} %"


def limit_range(lim: Mapping[str, Any]) -> str:
    """A spec limit's range and unit as a person reads them (not escaped).

    >>> limit_range({"min": 30.0, "max": 53.0, "unit": "% of N-glycans"})
    '30–53 % of N-glycans'
    >>> limit_range({"min": None, "max": 8.0, "unit": "%"})
    '≤ 8 %'
    """
    lo, hi = lim["min"], lim["max"]
    if lo is not None and hi is not None:
        rng = f"{lo:g}–{hi:g}"
    else:
        rng = f"≤ {hi:g}" if hi is not None else (f"≥ {lo:g}" if lo is not None else "no limit")
    return f"{rng} {lim['unit'] or ''}".strip()


def limit_text(lim: Mapping[str, Any]) -> str:
    """``g0f_pct 30–53 % of N-glycans``: the attribute and its range (not escaped)."""
    return f"{lim['attribute']} {limit_range(lim)}"


def reason_items(text: str) -> list[str]:
    """A clone's reasons as a list: ``" | "``-joined text, or a JSON list of strings.

    >>> reason_items("a | b"), reason_items('["x", "y"]'), reason_items("")
    (['a', 'b'], ['x', 'y'], [])
    """
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list):
            return [str(i) for i in items if str(i).strip()]
    return [part.strip() for part in text.split(" | ") if part.strip()]


UNKNOWN_CAUSES = (
    ("outside the model's experience", "outside the model's experience"),
    ("the model relies on them", "a measurement family the model relies on is missing"),
    ("never varied in training", "a condition never seen in training"),
)


def unknown_causes(reasons: Iterable[str]) -> dict[str, int]:
    """How many clones each cause of "unknown" touches (a clone may count under several)."""
    counts = {label: 0 for _, label in UNKNOWN_CAUSES} | {"other or not given": 0}
    for text in reasons:
        hits = [label for key, label in UNKNOWN_CAUSES if key in text]
        for label in hits or ["other or not given"]:
            counts[label] += 1
    return {k: v for k, v in counts.items() if v}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def reasons_cell(text: str) -> str:
    return "; ".join(esc(r) for r in reason_items(text))


def num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, int | float) and not isinstance(x, bool) else str(x)

"""The clone-ranking file: criteria, their anchors and weights, read and checked once.

:func:`load_ranking` turns a YAML file such as ``data/ranking.yaml`` (the documented
default) into a frozen :class:`RankingConfig`; :mod:`models.ranking` scores clones with it.
Every error names the file and the field path, and says what is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from features.contract.yamlfile import read_yaml_mapping

DEFAULT_RANKING = Path(__file__).resolve().parents[1] / "data" / "ranking.yaml"
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


class RankingError(ValueError):
    """A ranking file that cannot be used, saying where and what is expected."""


@dataclass(frozen=True)
class Criterion:
    """One desirability: ``column`` of the clone table, its goal, anchors and weight."""

    name: str
    column: str
    goal: str  # "max" or "min"
    low: float | str  # a number in the column's unit, or "pNN" (percentile over ranked clones)
    high: float | str
    weight: float
    why: str = ""

    def anchors(self, values: np.ndarray) -> tuple[float, float]:
        """``low`` and ``high`` as numbers (percentiles read over ``values``)."""

        def resolve(a: float | str) -> float:
            if isinstance(a, str):
                known = values[np.isfinite(values)]
                pct = float(a[1:])
                return float(np.percentile(known, pct)) if known.size else float("nan")
            return float(a)

        return resolve(self.low), resolve(self.high)


@dataclass(frozen=True)
class RankingConfig:
    """The criteria of a ranking file, and the file they came from."""

    criteria: tuple[Criterion, ...]
    source: str

    def to_dict(self) -> dict:
        return {
            "criteria": [
                {
                    "name": c.name,
                    "column": c.column,
                    "goal": c.goal,
                    "low": c.low,
                    "high": c.high,
                    "weight": c.weight,
                    "why": c.why,
                }
                for c in self.criteria
            ],
            "source": self.source,
        }


def _anchor(value: object, where: str) -> float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RankingError(f"{where}: expected a number or 'pNN' (a percentile), got {value!r}")
    if isinstance(value, str):
        if not _PERCENTILE.match(value.strip()):
            raise RankingError(f"{where}: expected a number or 'pNN' such as p90, got {value!r}")
        return value.strip()
    return float(value)


def load_ranking(path: Path = DEFAULT_RANKING) -> RankingConfig:
    """Read and check a ranking file (see ``data/ranking.yaml`` for the documented default)."""
    raw = read_yaml_mapping(path, RankingError, "ranking", "a 'criteria' mapping")
    crit = raw.get("criteria")
    if not isinstance(crit, dict) or not crit:
        raise RankingError(f"{path}: expected 'criteria:' with at least one criterion")
    out = []
    for name, c in crit.items():
        where = f"{path}: criteria.{name}"
        if not isinstance(c, dict):
            raise RankingError(f"{where}: expected a mapping with column, goal, low, high, weight")
        missing = [k for k in ("column", "goal", "low", "high", "weight") if k not in c]
        if missing:
            raise RankingError(f"{where}: missing {', '.join(missing)}")
        if c["goal"] not in ("max", "min"):
            raise RankingError(f"{where}.goal: expected 'max' or 'min', got {c['goal']!r}")
        w = c["weight"]
        if isinstance(w, bool) or not isinstance(w, int | float) or not w > 0:
            raise RankingError(f"{where}.weight: expected a number > 0, got {w!r}")
        low, high = _anchor(c["low"], f"{where}.low"), _anchor(c["high"], f"{where}.high")
        if isinstance(low, float) and isinstance(high, float) and not low < high:
            raise RankingError(f"{where}: low ({low:g}) must be below high ({high:g})")
        out.append(
            Criterion(str(name), str(c["column"]), c["goal"], low, high, float(w), c.get("why", ""))
        )
    return RankingConfig(tuple(out), str(path))

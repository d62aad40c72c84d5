"""The product spec (target product profile): limits per quality attribute.

Loaded once at the edge (CLI) and passed down; the same spec judges simulated outcomes,
measured outcomes and, later, predictive distributions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract.yamlfile import read_yaml_mapping

# the spec that ships with the project (resolved from the source tree, not the cwd)
DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[2] / "data" / "spec.yaml"
DEFAULT_RISK_FLAG = 0.5  # P(out of spec) at which a run is flagged 'at risk'


class SpecError(ValueError):
    """A spec file that cannot be used, with the file and field that is wrong."""


@dataclass(frozen=True)
class Limit:
    """Acceptance range of one attribute; a missing side is unbounded."""

    attribute: str
    min: float = -math.inf
    max: float = math.inf
    unit: str = ""
    why: str = ""

    def outside(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """True where a value is out of the range; NaN is *not* out of spec."""
        v = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            return (v < self.min) | (v > self.max)


@dataclass(frozen=True)
class ProductSpec:
    """A named set of glycan and downstream limits, and when a risk becomes a flag.

    ``risk_flag``: a run is flagged 'at risk' when the predicted probability that a group
    (glycans, downstream) falls outside its limits reaches it (spec key ``risk_flag``).
    """

    name: str
    glycans: tuple[Limit, ...]
    downstream: tuple[Limit, ...]
    risk_flag: float = DEFAULT_RISK_FLAG

    @property
    def glycan_attributes(self) -> list[str]:
        return [lim.attribute for lim in self.glycans]

    def out_of_spec(self, outcomes: pd.DataFrame, group: str = "glycans") -> pd.Series:
        """Flag, per row, whether any attribute of ``group`` falls outside its limits.

        Rows whose attributes are all missing give NaN (unknown), not False.
        """
        limits = self.glycans if group == "glycans" else self.downstream
        cols = [lim.attribute for lim in limits if lim.attribute in outcomes.columns]
        if not cols:
            raise SpecError(
                f"none of the {group} attributes {[x.attribute for x in limits]} "
                f"are columns of the outcomes ({list(outcomes.columns)})"
            )
        bad = np.zeros(len(outcomes), dtype=bool)
        for lim in limits:
            if lim.attribute in cols:
                bad |= lim.outside(outcomes[lim.attribute])
        known = outcomes[cols].notna().any(axis=1).to_numpy()
        return pd.Series(np.where(known, bad, np.nan), index=outcomes.index, name=group)


def _limits(path: Path, section: str, raw: object) -> tuple[Limit, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: '{section}' must be a mapping of attribute -> limits")
    out = []
    for attr, body in raw.items():
        where = f"{path}: {section}.{attr}"
        if not isinstance(body, dict) or not ({"min", "max"} & set(body)):
            raise SpecError(f"{where} needs 'min' and/or 'max', e.g. {{min: 30, max: 53}}")
        unknown = set(body) - {"min", "max", "unit", "why"}
        if unknown:
            raise SpecError(
                f"{where} has unknown keys {sorted(unknown)}; allowed: min, max, unit, why"
            )
        try:
            lo = float(body.get("min", -math.inf))
            hi = float(body.get("max", math.inf))
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{where}: min/max must be numbers ({exc})") from None
        if lo >= hi:
            raise SpecError(f"{where}: min ({lo}) must be below max ({hi})")
        out.append(Limit(str(attr), lo, hi, str(body.get("unit", "")), str(body.get("why", ""))))
    return tuple(out)


def load_spec(path: str | Path) -> ProductSpec:
    """Read a spec YAML file (see ``data/spec.yaml``)."""
    path = Path(path)
    raw = read_yaml_mapping(path, SpecError, "spec", "'name', 'glycans' and 'downstream'")
    unknown = set(raw) - {"name", "version", "glycans", "downstream", "risk_flag"}
    if unknown:
        raise SpecError(f"{path}: unknown top-level keys {sorted(unknown)}")
    glycans = _limits(path, "glycans", raw.get("glycans"))
    if not glycans:
        raise SpecError(f"{path}: 'glycans' must list at least one attribute")
    return ProductSpec(
        name=str(raw.get("name", path.stem)),
        glycans=glycans,
        downstream=_limits(path, "downstream", raw.get("downstream")),
        risk_flag=_risk_flag(path, raw.get("risk_flag", DEFAULT_RISK_FLAG)),
    )


def _risk_flag(path: Path, raw: object) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecError(f"{path}: risk_flag must be a probability, got {raw!r}") from None
    if not 0 < value < 1:
        raise SpecError(f"{path}: risk_flag must lie strictly between 0 and 1, got {value}")
    return value

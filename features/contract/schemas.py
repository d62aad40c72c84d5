"""The data contract of DESIGN.md §2 as pandera schemas.

Four tables: ``clones`` (key ``clone_id``), ``runs`` (key ``run_id``), ``samples`` (key
``run_id`` + ``day``) and ``outcomes`` (key ``run_id``). Units are in the column names.
Known columns carry physical bounds; any other column of ``samples`` and ``outcomes`` must
be numeric (it is featurised or modelled generically); other columns of ``clones`` and
``runs`` may be numbers (assays, conditions) or text labels (e.g. a medium name).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.pandas as pa
from pandera import Check

TABLE_NAMES = ("clones", "runs", "samples", "outcomes")


@dataclass(frozen=True)
class Bound:
    """Physical range of a numeric column, with the reason a person reads in an error.

    ``overshoot`` is a documented instrument tolerance above ``high``: values in
    (high, high + overshoot] are clipped to ``high`` with a note, values beyond it break
    the contract. Only ``viability_pct`` has one: image-based cell counters (Vi-CELL,
    Cedex) report a few tenths above 100% on near-perfect cultures.
    """

    low: float | None = None
    high: float | None = None
    why: str = ""
    overshoot: float = 0.0

    @property
    def ceiling(self) -> float | None:
        """Highest value accepted (clipped to ``high`` above it), or None."""
        return None if self.high is None else self.high + self.overshoot

    def low_rule(self) -> str:
        return f"must be >= {self.low:g} ({self.why})"

    def high_rule(self) -> str:
        if not self.overshoot:
            return f"must be <= {self.high:g} ({self.why})"
        return (
            f"must be <= {self.ceiling:g} ({self.why}; up to {self.overshoot:g} above "
            f"{self.high:g} is read as instrument overshoot)"
        )

    def describe(self) -> str:
        """The accepted range in words, e.g. 'a number in 0-100 (g/L (not mg/L))'."""
        if self.low is not None and self.low == -(self.high or 0.0) != 0.0:
            span = f"a finite number within ±{self.high:.3g}"
        elif self.low is not None and self.high is not None:
            span = f"a number in {self.low:g}-{self.high:g}"
        elif self.low is not None:
            span = f"a number >= {self.low:g}"
        elif self.high is not None:
            span = f"a number <= {self.high:g}"
        else:
            span = "a number"
        return span + (f" ({self.why})" if self.why else "")


# What a number no bound of the contract covers (a screen assay, a generic sample column)
# may be: finite and within what a 32-bit float holds, since the models (XGBoost) read
# 32-bit floats and refuse the rest. Values beyond are set aside as any out-of-range value.
FLOAT32_MAX = 3.4028234663852886e38
ANY_NUMBER = Bound(-FLOAT32_MAX, FLOAT32_MAX, "the models read 32-bit floats")


def _conc(high: float) -> Bound:
    return Bound(0.0, high, "a concentration cannot be negative")


def _pct(why: str = "a percentage lies in 0-100") -> Bound:
    return Bound(0.0, 100.0, why)


@dataclass(frozen=True)
class TableContract:
    """Keys, required columns and known numeric columns of one table."""

    name: str
    key: tuple[str, ...]
    required_text: tuple[str, ...]  # identifier / label columns that must be present
    required_numeric: dict[str, Bound] = field(default_factory=dict)
    known_numeric: dict[str, Bound] = field(default_factory=dict)
    extra_must_be_numeric: bool = False


CONTRACTS = {
    "clones": TableContract(
        "clones",
        key=("clone_id",),
        required_text=("clone_id", "campaign_id", "molecule"),
        known_numeric={
            "ss_titer_g_l": _conc(50.0),
            "doubling_time_h": Bound(1.0, 500.0, "a doubling time is positive hours"),
            "stability_pct": _pct(),
            "lc_hc_ratio": Bound(0.0, 20.0, "a chain ratio is positive"),
        },
    ),
    "runs": TableContract(
        "runs",
        key=("run_id",),
        required_text=("run_id", "clone_id", "scale"),
        known_numeric={
            "temp_shift_day": Bound(0.0, 60.0, "culture day of the shift"),
            "temp_after_shift_c": Bound(20.0, 42.0, "a CHO culture temperature in °C"),
            "ph_setpoint": Bound(5.0, 9.0, "a culture pH"),
            "feed_pct": Bound(0.0, 100.0, "% of working volume per day"),
            "mn_um": _conc(10_000.0),
            "galactose_mm": _conc(1_000.0),
            "seed_density_e6_ml": Bound(0.0, 100.0, "1e6 cells/mL, not cells/mL"),
        },
    ),
    "samples": TableContract(
        "samples",
        key=("run_id", "day"),
        required_text=("run_id",),
        required_numeric={"day": Bound(0.0, 100.0, "culture time in days from inoculation")},
        known_numeric={
            "vcd_e6_ml": Bound(0.0, 300.0, "1e6 viable cells/mL (not cells/mL)"),
            "viability_pct": Bound(0.0, 100.0, "a percentage lies in 0-100", overshoot=2.0),
            "glucose_g_l": _conc(100.0),
            "lactate_g_l": _conc(50.0),
            "glutamine_mm": _conc(100.0),
            "ammonia_mm": _conc(100.0),
            "titer_g_l": Bound(0.0, 100.0, "g/L (not mg/L)"),
            "osmolality_mosm_kg": Bound(100.0, 2000.0, "mOsm/kg of a culture"),
            "ph": Bound(5.0, 9.0, "a culture pH"),
            "temperature_c": Bound(20.0, 42.0, "°C of a CHO culture"),
            "do_pct": Bound(0.0, 300.0, "% of air saturation"),
            "pco2_mmhg": Bound(0.0, 500.0, "mmHg"),
        },
        extra_must_be_numeric=True,
    ),
    "outcomes": TableContract(
        "outcomes",
        key=("run_id",),
        required_text=("run_id",),
        known_numeric={
            "dsp_yield_pct": _pct("a yield lies in 0-100%"),
            "g0f_pct": _pct(),
            "g1f_pct": _pct(),
            "g2f_pct": _pct(),
            "man5_pct": _pct(),
            "afucosylated_pct": _pct(),
            "hmw_pct": _pct(),
            "hcp_ppm": Bound(0.0, 1e7, "ng HCP per mg antibody"),
            "final_titer_g_l": Bound(0.0, 100.0, "g/L (not mg/L)"),
        },
        extra_must_be_numeric=True,
    ),
}


def _checks(bound: Bound) -> list[Check]:
    checks = []
    if bound.low is not None:
        checks.append(Check.ge(bound.low, error=f">= {bound.low:g} ({bound.why})"))
    if bound.high is not None:
        checks.append(Check.le(bound.high, error=f"<= {bound.high:g} ({bound.why})"))
    return checks


def build_schema(table: str, numeric_columns: list[str]) -> pa.DataFrameSchema:
    """Schema of one table, given which of its columns are numeric.

    ``numeric_columns`` lists every column of the frame that is to be numeric: the known
    ones present plus generic extras. Required columns are always part of the schema.
    """
    contract = CONTRACTS[table]
    columns: dict[str, pa.Column] = {}
    for name in contract.required_text:
        columns[name] = pa.Column(
            str, nullable=False, coerce=True, checks=Check.str_length(min_value=1)
        )
    for name, bound in contract.required_numeric.items():
        columns[name] = pa.Column(float, nullable=False, coerce=True, checks=_checks(bound))
    for name in numeric_columns:
        if name in columns:
            continue
        bound = contract.known_numeric.get(name, ANY_NUMBER)
        columns[name] = pa.Column(
            float, nullable=True, coerce=True, checks=_checks(bound), required=False
        )
    return pa.DataFrameSchema(
        columns, unique=list(contract.key), strict=False, name=table, report_duplicates="all"
    )

"""Unit conversion onto the contract's canonical units.

Each canonical column has a *kind* (cell density, mass concentration, ...) and a canonical
unit; a mapping declares the source unit, and a unit of the wrong kind is refused with the
list of units that would work. Molar <-> mass conversions use the molar mass of the
species (glucose 180.16, lactate 89.07, glutamine 146.14, ammonium 18.04, galactose
180.16 g/mol).

>>> convert(pd.Series([5.55]), "glucose_g_l", "mM").round(3).tolist()
[1.0]
>>> convert(pd.Series([1500.0]), "titer_g_l", "mg/L").tolist()
[1.5]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd


class UnitError(ValueError):
    """A declared unit that cannot be converted to the target column's unit."""


MOLAR_MASS_G_MOL = {
    "glucose": 180.16,
    "lactate": 89.07,
    "glutamine": 146.14,
    "ammonia": 18.04,
    "galactose": 180.16,
}

# unit aliases per kind -> multiplier to the kind's canonical unit (or None: special)
_KINDS: dict[str, tuple[str, dict[str, float]]] = {
    "cell_density": (
        "1e6 cells/mL",
        {
            "1e6 cells/ml": 1.0,
            "e6 cells/ml": 1.0,
            "10^6 cells/ml": 1.0,
            "1e5 cells/ml": 0.1,
            "cells/ml": 1e-6,
            "1e9 cells/l": 1.0,
            "cells/l": 1e-9,
        },
    ),
    "mass_conc": (
        "g/L",
        {"g/l": 1.0, "mg/ml": 1.0, "mg/l": 1e-3, "ug/ml": 1e-3, "µg/ml": 1e-3, "mg/dl": 1e-2},
    ),
    "molar_conc": (
        "mM",
        {"mm": 1.0, "mmol/l": 1.0, "um": 1e-3, "µm": 1e-3, "umol/l": 1e-3, "m": 1e3, "mol/l": 1e3},
    ),
    "micromolar": ("µM", {"um": 1.0, "µm": 1.0, "umol/l": 1.0, "mm": 1e3, "nm": 1e-3}),
    "percent": ("%", {"%": 1.0, "pct": 1.0, "percent": 1.0, "fraction": 100.0}),
    "temperature": ("°C", {"c": 1.0, "°c": 1.0, "degc": 1.0, "celsius": 1.0}),
    "time": (
        "day",
        {
            "day": 1.0,
            "days": 1.0,
            "d": 1.0,
            "h": 1 / 24,
            "hour": 1 / 24,
            "hours": 1 / 24,
            "min": 1 / 1440,
        },
    ),
    "ph": ("pH", {"": 1.0, "ph": 1.0, "-": 1.0}),
    "osmolality": ("mOsm/kg", {"mosm/kg": 1.0, "osm/kg": 1e3}),
    "pressure": ("mmHg", {"mmhg": 1.0, "kpa": 7.50062, "torr": 1.0}),
    "ppm": ("ppm", {"ppm": 1.0, "ng/mg": 1.0}),
    "ratio": ("", {"": 1.0, "-": 1.0, "ratio": 1.0}),
    "hours": ("h", {"h": 1.0, "hour": 1.0, "hours": 1.0, "day": 24.0, "min": 1 / 60}),
}
_KELVIN, _FAHRENHEIT = "k", "f"


@dataclass(frozen=True)
class ColumnUnit:
    """Kind and species of a target column."""

    kind: str
    species: str | None = None  # for molar <-> mass conversions


CANONICAL: dict[str, ColumnUnit] = {
    "day": ColumnUnit("time"),
    "vcd_e6_ml": ColumnUnit("cell_density"),
    "viability_pct": ColumnUnit("percent"),
    "glucose_g_l": ColumnUnit("mass_conc", "glucose"),
    "lactate_g_l": ColumnUnit("mass_conc", "lactate"),
    "glutamine_mm": ColumnUnit("molar_conc", "glutamine"),
    "ammonia_mm": ColumnUnit("molar_conc", "ammonia"),
    "titer_g_l": ColumnUnit("mass_conc"),
    "final_titer_g_l": ColumnUnit("mass_conc"),
    "osmolality_mosm_kg": ColumnUnit("osmolality"),
    "ph": ColumnUnit("ph"),
    "ph_setpoint": ColumnUnit("ph"),
    "temperature_c": ColumnUnit("temperature"),
    "do_pct": ColumnUnit("percent"),
    "pco2_mmhg": ColumnUnit("pressure"),
    "galactose_mm": ColumnUnit("molar_conc", "galactose"),
    "mn_um": ColumnUnit("micromolar"),
    "hcp_ppm": ColumnUnit("ppm"),
    "doubling_time_h": ColumnUnit("hours"),
    "lc_hc_ratio": ColumnUnit("ratio"),
}
# other columns: the kind follows from the unit suffix of the target name
_SUFFIXES = (
    ("_e6_ml", "cell_density"),
    ("_g_l", "mass_conc"),
    ("_mm", "molar_conc"),
    ("_um", "micromolar"),
    ("_pct", "percent"),
    ("_c", "temperature"),
    ("_day", "time"),
    ("_h", "hours"),
    ("_mosm_kg", "osmolality"),
    ("_mmhg", "pressure"),
    ("_ppm", "ppm"),
)


def column_unit(target: str) -> ColumnUnit | None:
    """Kind of a target column: canonical, from its name's suffix, or None (free)."""
    if target in CANONICAL:
        return CANONICAL[target]
    for suffix, kind in _SUFFIXES:
        if target.endswith(suffix):
            species = next((s for s in MOLAR_MASS_G_MOL if target.startswith(s)), None)
            return ColumnUnit(kind, species)
    return None


def _norm(unit: str) -> str:
    return re.sub(r"\s+", " ", unit.strip().lower())


def allowed_units(target: str) -> list[str]:
    cu = column_unit(target)
    if cu is None:
        return []
    units = list(_KINDS[cu.kind][1])
    if cu.kind == "temperature":
        units += ["K", "F"]
    if cu.species and cu.kind in ("mass_conc", "molar_conc"):
        units += list(_KINDS["molar_conc" if cu.kind == "mass_conc" else "mass_conc"][1])
    return units


def convert(values: pd.Series, target: str, unit: str | None) -> pd.Series:
    """Convert ``values`` given in ``unit`` to the canonical unit of ``target``.

    ``unit=None`` means the values are already in the canonical unit.
    """
    if unit is None:
        return values
    cu = column_unit(target)
    u = _norm(str(unit))
    if cu is None:
        raise UnitError(
            f"cannot convert '{unit}' for '{target}': its name has no unit suffix "
            "(e.g. _g_l, _mm, _pct, _day); name the column with its unit, or drop 'unit'"
        )
    canonical, table = _KINDS[cu.kind]
    if u in table:
        return values * table[u]
    if cu.kind == "temperature" and u == _KELVIN:
        return values - 273.15
    if cu.kind == "temperature" and u == _FAHRENHEIT:
        return (values - 32.0) * 5.0 / 9.0
    if cu.species:
        mw = MOLAR_MASS_G_MOL[cu.species]
        if cu.kind == "mass_conc" and u in _KINDS["molar_conc"][1]:
            return values * _KINDS["molar_conc"][1][u] * mw / 1000.0
        if cu.kind == "molar_conc" and u in _KINDS["mass_conc"][1]:
            return values * _KINDS["mass_conc"][1][u] * 1000.0 / mw
    raise UnitError(
        f"unit '{unit}' cannot be converted to {canonical or 'a dimensionless value'} "
        f"for '{target}'; units that work: {', '.join(repr(x) for x in allowed_units(target))}"
    )

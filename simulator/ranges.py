"""The industrial ranges a default set must land in (DESIGN.md §3), and a report on them.

A range holds when the 5th and 95th percentiles over runs both lie inside it. Each
quantity is read from the *measured* tables where a lab measures it, and from ``truth``
only for qP, which no lab measures directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator import constants as c


@dataclass(frozen=True)
class Range:
    """A published industrial range for one quantity of a generated set."""

    quantity: str
    low: float
    high: float
    unit: str


RANGES = (
    Range("peak_vcd", 8, 30, "1e6 cells/mL"),
    Range("harvest_viability", 60, 95, "%"),
    Range("final_titer", 1, 8, "g/L"),
    Range("qp", 10, 60, "pg/cell/day"),
    Range("peak_lactate", 10, 40, "mM"),
    Range("peak_ammonia", 3, 15, "mM"),
    Range("osmolality", 280, 500, "mOsm/kg"),
    Range("g0f", 25, 55, "%"),
    Range("g1f", 25, 45, "%"),
    Range("g2f", 3, 15, "%"),
    Range("man5", 0.5, 10, "%"),
    Range("afucosylated", 2, 12, "%"),
    Range("hmw", 1, 12, "%"),
    Range("dsp_yield", 55, 85, "%"),
    Range("hcp", 200, 5000, "ppm"),
)
FINAL_TITER_MEDIAN_G_L = (3.0, 4.0)


def quantities(tables: dict[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """Per-run (or per-sample, for osmolality) values of each ranged quantity."""
    s = tables["samples"].sort_values(["run_id", "day"])
    by_run = s.groupby("run_id", sort=True)
    o = tables["outcomes"].set_index("run_id")
    last_viability = by_run["viability_pct"].agg(lambda x: x.dropna().iloc[-1])
    return {
        "peak_vcd": by_run["vcd_e6_ml"].max(),
        "harvest_viability": last_viability,
        "final_titer": o["final_titer_g_l"],
        "qp": tables["truth"].set_index("run_id")["qp_pg_cell_day"],
        "peak_lactate": by_run["lactate_g_l"].max() * 1000.0 / c.MW_LAC,
        "peak_ammonia": by_run["ammonia_mm"].max(),
        "osmolality": s["osmolality_mosm_kg"],
        "g0f": o["g0f_pct"],
        "g1f": o["g1f_pct"],
        "g2f": o["g2f_pct"],
        "man5": o["man5_pct"],
        "afucosylated": o["afucosylated_pct"],
        "hmw": o["hmw_pct"],
        "dsp_yield": o["dsp_yield_pct"],
        "hcp": o["hcp_ppm"],
    }


def range_report(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per range: 5th/50th/95th percentiles, the target and whether it holds."""
    values = quantities(tables)
    rows = []
    for r in RANGES:
        p5, p50, p95 = np.nanpercentile(values[r.quantity].to_numpy(float), [5, 50, 95])
        rows.append(
            {
                "quantity": r.quantity,
                "unit": r.unit,
                "p5": p5,
                "median": p50,
                "p95": p95,
                "low": r.low,
                "high": r.high,
                "ok": bool(r.low <= p5 and p95 <= r.high),
            }
        )
    return pd.DataFrame(rows)

"""What a campaign lead reads first after scoring: the top clones, the flags and why."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from models.flags import FLAG_RISK, FLAG_UNKNOWN

SHOWN = 8  # clones listed per section; the rest are counted and left to the table


def _num(x, fmt: str) -> str:
    return "-" if pd.isna(x) else format(float(x), fmt)


def _top(clones: pd.DataFrame, top: int, out) -> None:
    ranked = clones[clones["rank"].notna()].sort_values("rank").head(top)
    print(
        f"{'rank':>4}  {'clone':<14} {'product g/L (90%)':<20} {'yield %':>8} "
        f"{'glycan risk':>11}  flag",
        file=out,
    )
    for r in ranked.to_dict("records"):
        band = f"{_num(r['expected_product_g_l'], '.2f')} "
        band += f"({_num(r['expected_product_lo90'], '.2f')}-"
        band += f"{_num(r['expected_product_hi90'], '.2f')})"
        print(
            f"{int(r['rank']):>4}  {r['clone_id']!s:<14} {band:<20} "
            f"{_num(r['dsp_yield_pct'], '.1f'):>8} {_num(r['glycans_risk'], '.2f'):>11}  "
            f"{r['flag']}",
            file=out,
        )


def _listed(clones: pd.DataFrame, title: str, table: Path, out) -> None:
    print(f"\n{title} ({len(clones)}):", file=out)
    if clones.empty:
        print("  none", file=out)
        return
    for r in clones.head(SHOWN).itertuples():
        print(f"  {r.clone_id}: {r.reasons}", file=out)
    if len(clones) > SHOWN:
        print(f"  ... and {len(clones) - SHOWN} more (column 'reasons' of {table})", file=out)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _unknown_runs(runs_table: Path, out) -> None:
    runs = _read(runs_table)
    unknown = runs[runs["flag"] == FLAG_UNKNOWN]
    print(f"\nunknown runs: no numbers given, and why ({len(unknown)}):", file=out)
    for r in unknown.head(SHOWN).to_dict("records"):
        print(f"  {r['run_id']} (clone {r['clone_id']}): {r['flag_reason']}", file=out)
    if len(unknown) > SHOWN:
        print(
            f"  ... and {len(unknown) - SHOWN} more (column 'flag_reason' of {runs_table})",
            file=out,
        )


def print_digest(
    clones_table: Path, top: int = 5, out=None, runs_table: Path | None = None
) -> None:
    """The ``top`` ranked clones, the clones flagged at risk and the unknown ones, with why.

    ``clones_table`` is the per-clone file ``clonescout score`` writes (``OUT.clones.*``);
    with ``runs_table`` (``OUT`` itself) the unknown runs of ranked clones are listed too.
    """
    out = out or sys.stdout
    clones = _read(clones_table)
    ranked = int(clones["rank"].notna().sum())
    print(f"\ntop {min(top, ranked)} of {ranked} ranked clones ({clones_table}):", file=out)
    _top(clones, top, out)
    at_risk = clones[clones["flag"] == FLAG_RISK].sort_values("rank")
    _listed(at_risk, "flagged at risk, with the reasons", clones_table, out)
    unknown = clones[clones["flag"] == FLAG_UNKNOWN]
    title = "unknown clones (not ranked: the model cannot vouch for them), and why"
    _listed(unknown, title, clones_table, out)
    if runs_table is not None:
        _unknown_runs(runs_table, out)

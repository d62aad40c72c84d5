"""The two sortable clone tables: ranked (numbers, intervals, flag) and unknown (reasons).

Every cell carries ``data-v``, the value the page's sort script orders the column by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.flags import FLAG_OK, FLAG_RISK, FLAG_UNKNOWN, limit_risk_column
from serving.report.formatting import Row, esc, limit_text, reasons_cell, share, sig
from serving.report.reading import ReportInputs


def _td(sort_value: float | str | None, shown: str, cls: str = "", title: str = "") -> str:
    """A cell; ``data-v`` is what the table sorts on ("" = missing, always sorted last)."""
    if isinstance(sort_value, float | np.floating):
        v = repr(float(sort_value)).removesuffix(".0") if np.isfinite(sort_value) else ""
    else:
        v = esc(sort_value) if sort_value is not None else ""
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' title="{esc(title)}"' if title else ""
    return f'<td data-v="{v}"{attrs}>{shown}</td>'


def _ranged(value: float, lo: float, hi: float) -> str:
    inner = f" <small>[{sig(lo)}–{sig(hi)}]</small>" if np.isfinite(lo) or np.isfinite(hi) else ""
    return sig(value) + inner


FLAG_CLASS = {FLAG_OK: "ok", FLAG_RISK: "risk", FLAG_UNKNOWN: "unknown"}  # CSS class per flag


def _flag(flag: str) -> str:
    return f'<span class="flag {FLAG_CLASS.get(flag, "")}">{esc(flag)}</span>'


def _runs(row: Row) -> str:
    n, unk = row["runs"], row["runs_unknown"]
    more = f" <small>({sig(unk)} unknown)</small>" if np.isfinite(unk) and unk > 0 else ""
    return sig(n) + more


def _titer(row: Row) -> str:
    sd = row["titer_sd_g_l"]
    extra = f" ± {sig(sd)}" if np.isfinite(sd) else ""
    day = row["titer_day"]
    extra += f" · day {day:g}" if np.isfinite(day) else ""
    return sig(row["titer_g_l"]) + (f" <small>{extra.strip()}</small>" if extra else "")


def _table(table_id: str, heads: Sequence[tuple[str, str]], rows: Iterable[str]) -> str:
    ths = "".join(
        f'<th scope="col" title="{esc(tip)} (click to sort)">{esc(h)}</th>' for h, tip in heads
    )
    body = "\n".join(rows)
    return (
        f'<div class="table-wrap"><table id="{table_id}" class="sortable">'
        f"<thead><tr>{ths}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
    )


RANKED_HEADS = (
    ("Rank", "1 = most desirable"),
    ("Clone", "clone id"),
    ("Campaign", "campaign id"),
    ("Flag", "ok, or at risk: a run's glycan or downstream out-of-spec risk is 0.5 or more"),
    ("Runs", "runs scored for this clone; unknown runs do not enter the numbers"),
    ("Titer (g/L)", "latest measured titer, ± SD over runs, at the culture day shown"),
    ("Purification yield (%)", "predicted, with its 90 % interval"),
    ("Expected product (g/L)", "titer × purification yield, with its 90 % interval"),
    ("Glycan risk", "probability that any glycan attribute is out of spec"),
    ("Desirability", "weighted geometric mean of the criteria's desirabilities (0–1)"),
    ("Pareto", "◆ = on the Pareto front: no clone beats it on product, yield and risk"),
    ("Reasons", "why the clone is flagged"),
)
DOWNSTREAM_HEAD = ("Downstream risk", "probability that a downstream attribute is out of spec")


def _ranged_td(r: Row, col: str, lo: str, hi: str) -> str:
    return _td(r[col], _ranged(r[col], r[lo], r[hi]))


def _ranked_row(r: Row, limits: Sequence[Mapping[str, Any]], d_cols: list[str], ds: bool) -> str:
    risk_tip = "; ".join(
        f"{limit_text(lim)}: {share(r[limit_risk_column(lim['attribute'])])}" for lim in limits
    )
    d_tip = "; ".join(f"{c}: {sig(r[c])}" for c in d_cols if c in r)
    cells = [
        _td(r["rank"], sig(r["rank"])),
        _td(r["clone_id"], esc(r["clone_id"]), "clone"),
        _td(r["campaign_id"], esc(r["campaign_id"])),
        _td(r["flag"], _flag(r["flag"])),
        _td(r["runs"], _runs(r)),
        _td(r["titer_g_l"], _titer(r)),
        _ranged_td(r, "dsp_yield_pct", "dsp_yield_lo90", "dsp_yield_hi90"),
        _ranged_td(r, "expected_product_g_l", "expected_product_lo90", "expected_product_hi90"),
        _td(r["glycans_risk"], share(r["glycans_risk"]), title=risk_tip),
        *([_td(r["downstream_risk"], share(r["downstream_risk"]))] if ds else []),
        _td(r["desirability"], sig(r["desirability"]), title=d_tip),
        _td(1.0 if r["pareto"] else 0.0, "◆" if r["pareto"] else "", "pareto"),
        _td(r["reasons"], reasons_cell(r["reasons"]), "reasons"),
    ]
    return f'<tr class="{FLAG_CLASS.get(r["flag"], "")}">{"".join(cells)}</tr>'


def _ranked_table(ranked: pd.DataFrame, inp: ReportInputs) -> str:
    """The ranked clones; a downstream-risk column only when some clone has one."""
    ds = "downstream_risk" in ranked and bool(ranked["downstream_risk"].notna().any())
    heads = [*RANKED_HEADS[:9], *([DOWNSTREAM_HEAD] if ds else []), *RANKED_HEADS[9:]]
    d_cols = [f"d_{c['name']}" for c in inp.summary["ranking"]["criteria"]]
    rows = [_ranked_row(r, inp.limits, d_cols, ds) for r in ranked.to_dict("records")]
    return _table("ranked-table", heads, rows)


def _unknown_table(unknown: pd.DataFrame) -> str:
    heads = [
        ("Clone", "clone id"),
        ("Campaign", "campaign id"),
        ("Runs", "runs scored for this clone (all unknown)"),
        ("Reasons", "why the model cannot place the clone"),
    ]
    rows = [
        "<tr>"
        + _td(r["clone_id"], esc(r["clone_id"]), "clone")
        + _td(r["campaign_id"], esc(r["campaign_id"]))
        + _td(r["runs"], sig(r["runs"]))
        + _td(r["reasons"], reasons_cell(r["reasons"]) or "no reason given", "reasons")
        + "</tr>"
        for r in unknown.to_dict("records")
    ]
    return _table("unknown-table", heads, rows)


def clone_sections(inp: ReportInputs, ranked: pd.DataFrame, unknown: pd.DataFrame) -> list[str]:
    ranked_html = _ranked_table(ranked, inp) if len(ranked) else "<p>No clone could be ranked.</p>"
    unknown_html = _unknown_table(unknown) if len(unknown) else "<p>No unknown clone.</p>"
    return [
        f'<section id="ranked"><h2>2. Ranked clones ({len(ranked)})</h2><p>Click a column '
        "header to sort (again to reverse); missing values stay last. Intervals are 90 %.</p>"
        f"{ranked_html}</section>",
        f'<section id="unknown"><h2>Unknown clones ({len(unknown)}): not ranked</h2>'
        "<p>The model cannot place these clones, so they get no numbers and no rank.</p>"
        f"{unknown_html}</section>",
    ]

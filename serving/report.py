r"""``clonescout report``: one self-contained HTML page for the lead who picks the clones.

Reads what ``clonescout score --out scores.parquet`` wrote: the per-run file (checked to
exist), ``scores.clones.parquet`` (one row per clone, ranked or unknown),
``scores.summary.json`` (counts, model, spec, ranking) and ``scores.rejects.csv`` (only when
runs were rejected). Every file and key is checked before anything is written, and a
problem is a :class:`ValueError` naming the file, the key or column, and what was expected.

The page opens with no network: plotly.js is inlined once, each figure is a JSON block
read by a few lines of inline JavaScript, and a Content-Security-Policy forbids fetching
anything. Every string that came from the data (clone ids, reasons, spec names) is
HTML-escaped, and ``<``, ``>`` and ``&`` are ``\u``-escaped inside the JSON blocks, so a clone
called ``<script>`` is shown, never run.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from models.ranking import CLONE_COLUMNS

TEXT_COLUMNS = ("clone_id", "campaign_id", "status", "flag", "reasons")
OPTIONAL_NUMBER_COLUMNS = ("downstream_risk",)
# the clone table's columns as clonescout score writes them (models.ranking)
NUMBER_COLUMNS = (
    *(c for c in CLONE_COLUMNS if c not in TEXT_COLUMNS and c not in OPTIONAL_NUMBER_COLUMNS),
    "desirability",
)
SUMMARY_KEYS: dict[str, str] = {
    "input": "the scored input path (text)",
    "runs_in": "a run count",
    "scored": "a run count",
    "rejected": "a run count",
    "rejected_by_stage": "a mapping stage -> runs",
    "flags": "a mapping flag -> runs",
    "clones": "a clone count",
    "clones_ranked": "a clone count",
    "clones_unknown": "a clone count",
    "model": "a mapping with name, version, uri, model_id, training_data_hash, horizon_day",
    "spec": "a mapping with name and limits",
    "not_judged": "a list of spec attributes",
    "ranking": "a mapping with criteria and source",
    "files": "a mapping with runs, clones and rejects",
}
MODEL_KEYS = ("name", "version", "uri", "model_id", "training_data_hash", "horizon_day")
LIMIT_KEYS = ("attribute", "group", "min", "max", "unit", "judged")
CRITERION_KEYS = ("name", "column", "goal", "low", "high", "weight")
RISK_PREFIX = "risk__"
Row = Mapping[Any, Any]  # one clone, from DataFrame.to_dict("records")
MAX_LISTED = 200  # rejected runs and at-risk clones listed by name; the rest are counted
WRITTEN_BY = "written by `clonescout score`; score the campaign again to rebuild it"


@dataclass(frozen=True)
class ReportInputs:
    """The checked contents of one ``clonescout score`` output set."""

    scores: Path
    summary: dict[str, Any]
    clones: pd.DataFrame  # typed: text columns are str ("" if missing), numbers float64
    rejects: pd.DataFrame  # run_id, stage, reason (empty when nothing was rejected)
    limits: list[dict[str, Any]]  # the judged spec limits that have a risk__ column


# -- reading and checking ---------------------------------------------------------------
def sibling(scores: Path, part: str) -> Path:
    """``scores.parquet`` -> ``scores.<part>``, e.g. ``sibling(p, "clones.parquet")``."""
    return scores.with_name(f"{scores.name[: -len(scores.suffix)]}.{part}")


def read_inputs(scores: Path) -> ReportInputs:
    """Read and check the four files of a scored campaign (see the module docstring)."""
    if scores.suffix not in (".parquet", ".csv"):
        raise ValueError(f"--scores {scores}: expected the .parquet or .csv file of `score`")
    if not scores.is_file():
        raise ValueError(f"--scores {scores}: file not found (the per-run file {WRITTEN_BY})")
    summary_path = sibling(scores, "summary.json")
    summary = _read_summary(summary_path)
    clones = _read_clones(sibling(scores, f"clones{scores.suffix}"), summary)
    rejects = _read_rejects(sibling(scores, "rejects.csv"), summary, summary_path)
    limits = _judged_limits(summary, clones, sibling(scores, f"clones{scores.suffix}"))
    return ReportInputs(scores, summary, clones, rejects, limits)


def _need_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise ValueError(f"{path}: file not found; expected {what} beside --scores, {WRITTEN_BY}")


def _require(obj: Any, keys: Iterable[str], where: str, path: Path, kind: str) -> None:
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: key '{where}' should be {kind}, got {type(obj).__name__}")
    for k in keys:
        if k not in obj:
            raise ValueError(f"{path}: key '{where}.{k}' is missing; expected {kind}; {WRITTEN_BY}")


def _read_summary(path: Path) -> dict[str, Any]:
    _need_file(path, "the summary JSON")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: expected a JSON object with {', '.join(SUMMARY_KEYS)}")
    for key, kind in SUMMARY_KEYS.items():
        if key not in summary:
            raise ValueError(f"{path}: key '{key}' is missing; expected {kind}; {WRITTEN_BY}")
    _require(summary["model"], MODEL_KEYS, "model", path, SUMMARY_KEYS["model"])
    _require(summary["spec"], ("name", "limits"), "spec", path, SUMMARY_KEYS["spec"])
    _require(summary["ranking"], ("criteria", "source"), "ranking", path, "criteria and source")
    _require(summary["files"], ("runs", "clones", "rejects"), "files", path, SUMMARY_KEYS["files"])
    for i, lim in enumerate(_listed(summary["spec"]["limits"], "spec.limits", path)):
        _check_limit(lim, f"spec.limits[{i}]", path)
    for i, c in enumerate(_listed(summary["ranking"]["criteria"], "ranking.criteria", path)):
        _require(c, CRITERION_KEYS, f"ranking.criteria[{i}]", path, ", ".join(CRITERION_KEYS))
    _listed(summary["not_judged"], "not_judged", path)
    return summary


def _check_limit(lim: Any, where: str, path: Path) -> None:
    _require(lim, LIMIT_KEYS, where, path, "a limit with " + ", ".join(LIMIT_KEYS))
    for k in ("min", "max"):
        v = lim[k]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise ValueError(f"{path}: key '{where}.{k}' should be a number or null, got {v!r}")


def _listed(value: Any, where: str, path: Path) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{path}: key '{where}' should be a list, got {type(value).__name__}")
    return value


def _read_table(path: Path, text_columns: Sequence[str]) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        # "NA" is a fine clone id: only an empty cell is missing
        dtype = dict.fromkeys(text_columns, "str")
        return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=dtype)
    except (OSError, ValueError) as exc:  # pyarrow's and pandas' parse errors are among these
        raise ValueError(
            f"{path}: cannot be read as {path.suffix[1:]} ({exc}); {WRITTEN_BY}"
        ) from None


def _read_clones(path: Path, summary: dict[str, Any]) -> pd.DataFrame:
    _need_file(path, "the per-clone table")
    raw = _read_table(path, TEXT_COLUMNS)
    if raw.empty and summary["clones"] == 0:  # nothing scored: the table may have no columns
        raw = pd.DataFrame(columns=[*TEXT_COLUMNS, *NUMBER_COLUMNS, "pareto"])
    missing = [c for c in (*TEXT_COLUMNS, *NUMBER_COLUMNS, "pareto") if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: column(s) {', '.join(missing)} missing; {WRITTEN_BY}")
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for c in TEXT_COLUMNS:
        out[c] = [("" if _missing(v) else str(v)) for v in raw[c]]
    numbers = [c for c in raw.columns if c in NUMBER_COLUMNS or c in OPTIONAL_NUMBER_COLUMNS]
    numbers += [c for c in raw.columns if c.startswith((RISK_PREFIX, "d_"))]
    for c in numbers:
        out[c] = _numbers(raw[c], path, c)
    out["pareto"] = [_truthy(v) for v in raw["pareto"]]
    _check_clone_values(out, path, summary)
    ranked = out[out["status"] == "ranked"].sort_values("rank", kind="stable")
    unknown = out[out["status"] == "unknown"].sort_values(["campaign_id", "clone_id"])
    return pd.concat([ranked, unknown], ignore_index=True)


def _missing(v: Any) -> bool:
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


def _truthy(v: Any) -> bool:
    if _missing(v):
        return False
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def _numbers(col: pd.Series, path: Path, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(col).to_numpy(dtype=float, na_value=np.nan)
    except (ValueError, TypeError):
        bad = next(v for v in col if not _missing(v) and not _is_number(v))
        raise ValueError(f"{path}: column '{name}' should hold numbers, found {bad!r}") from None


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _check_clone_values(clones: pd.DataFrame, path: Path, summary: dict[str, Any]) -> None:
    for col, allowed in (("status", ("ranked", "unknown")), ("flag", ("ok", "at risk", "unknown"))):
        bad = clones[~clones[col].isin(allowed)]
        if len(bad):
            raise ValueError(
                f"{path}: clone {bad['clone_id'].iloc[0]!r}, column '{col}': "
                f"{bad[col].iloc[0]!r} is not one of {', '.join(repr(a) for a in allowed)}"
            )
    no_rank = clones[(clones["status"] == "ranked") & clones["rank"].isna()]
    if len(no_rank):
        raise ValueError(
            f"{path}: clone {no_rank['clone_id'].iloc[0]!r} is ranked but has no 'rank'"
        )
    n_ranked = int((clones["status"] == "ranked").sum())
    found = (len(clones), n_ranked, len(clones) - n_ranked)
    said = (summary["clones"], summary["clones_ranked"], summary["clones_unknown"])
    if found != said:
        raise ValueError(
            f"{path}: {found[0]} clones ({found[1]} ranked, {found[2]} unknown) but the "
            f"summary says {said[0]} ({said[1]} ranked, {said[2]} unknown): the files come "
            "from different runs of `clonescout score`; score again"
        )


def _read_rejects(path: Path, summary: dict[str, Any], summary_path: Path) -> pd.DataFrame:
    cols = ("run_id", "stage", "reason")
    if not summary["rejected"] and summary["files"]["rejects"] is None:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in cols})
    _need_file(path, f"the rejected runs ({summary_path.name} counts {summary['rejected']})")
    raw = _read_table(path, cols)
    missing = [c for c in cols if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: column(s) {', '.join(missing)} missing; expected {cols}")
    return pd.DataFrame({c: [("" if _missing(v) else str(v)) for v in raw[c]] for c in cols})


def _judged_limits(summary: dict[str, Any], clones: pd.DataFrame, path: Path) -> list[dict]:
    limits = [lim for lim in summary["spec"]["limits"] if lim["judged"]]
    absent = [
        RISK_PREFIX + x["attribute"] for x in limits if RISK_PREFIX + x["attribute"] not in clones
    ]
    if absent and len(clones):
        raise ValueError(
            f"{path}: column(s) {', '.join(absent)} missing: the summary lists these limits "
            f"as judged, so each needs its risk column; {WRITTEN_BY}"
        )
    return limits if len(clones) else []


# -- numbers and words ------------------------------------------------------------------
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


# -- HTML pieces -------------------------------------------------------------------------
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


FLAG_CLASS = {"ok": "ok", "at risk": "risk", "unknown": "unknown"}


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


def _reasons_cell(text: str) -> str:
    return "; ".join(esc(r) for r in reason_items(text))


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
        f"{limit_text(lim)}: {share(r[RISK_PREFIX + lim['attribute']])}" for lim in limits
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
        _td(r["reasons"], _reasons_cell(r["reasons"]), "reasons"),
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
        + _td(r["reasons"], _reasons_cell(r["reasons"]) or "no reason given", "reasons")
        + "</tr>"
        for r in unknown.to_dict("records")
    ]
    return _table("unknown-table", heads, rows)


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are HTML already (escape before)."""
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def _counts(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{esc(k)}: {esc(v)}" for k, v in mapping.items()) or "none"


def _summary_section(inp: ReportInputs) -> str:
    s, m = inp.summary, inp.summary["model"]
    rejected = f"{esc(s['rejected'])} rejected ({_counts(s['rejected_by_stage'])})"
    facts = _facts(
        [
            ("Runs", f"{esc(s['runs_in'])} in · {esc(s['scored'])} scored · {rejected}"),
            ("Run flags", _counts(s["flags"])),
            (
                "Clones",
                f"{esc(s['clones'])}: <b>{esc(s['clones_ranked'])} ranked</b> · "
                f'<a href="#unknown">{esc(s["clones_unknown"])} unknown</a> (not ranked)',
            ),
            (
                "Model",
                f"{esc(m['name'])} version {esc(m['version'])} · <code>{esc(m['uri'])}</code>",
            ),
            ("Model id", f"<code>{esc(m['model_id'] or '–')}</code>"),
            ("Training data hash", f"<code>{esc(m['training_data_hash'] or '–')}</code>"),
            ("Horizon", f"culture day {esc(_num(m['horizon_day']))}: samples up to it were used"),
            ("Spec", esc(s["spec"]["name"])),
            ("Input", f"<code>{esc(s['input'])}</code>"),
            ("Scores file", f"<code>{esc(inp.scores)}</code>"),
        ]
    )
    return f'<section id="summary"><h2>1. Campaign summary</h2>{facts}{_criteria(s)}</section>'


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, int | float) and not isinstance(x, bool) else str(x)


def _criteria(s: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{esc(c['name'])}</td><td><code>{esc(c['column'])}</code></td>"
        f"<td>{'higher' if c['goal'] == 'max' else 'lower'} is better</td>"
        f"<td>{esc(_num(c['low']))} → {esc(_num(c['high']))}</td><td>{esc(_num(c['weight']))}</td>"
        f"<td>{esc(c.get('why', ''))}</td></tr>"
        for c in s["ranking"]["criteria"]
    )
    return (
        "<h3>How clones are ranked</h3><p>Desirability is the weighted geometric mean of one "
        "desirability (0–1) per criterion, each linear between its anchors (a <code>pNN</code> "
        "anchor is a percentile over the ranked clones). Source: "
        f"<code>{esc(s['ranking']['source'])}</code>.</p>"
        '<table class="plain"><thead><tr><th>Criterion</th><th>Column</th>'
        "<th>Goal</th><th>0 → 1</th><th>Weight</th><th>Why</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _at_risk_item(r: Row, limits: Sequence[Mapping[str, Any]]) -> str:
    """One at-risk clone: its glycan risk, the limit most likely missed, and why."""
    risks = [(r[RISK_PREFIX + lim["attribute"]], lim) for lim in limits]
    worst = max(((p, lim) for p, lim in risks if np.isfinite(p)), key=lambda t: t[0], default=None)
    top = f"; highest: {esc(limit_text(worst[1]))} {share(worst[0])}" if worst else ""
    why = _reasons_cell(r["reasons"])
    return (
        f"<li><b>#{sig(r['rank'])} {esc(r['clone_id'])}</b> ({esc(r['campaign_id'])}): "
        f"glycan risk {share(r['glycans_risk'])}{top}{'. ' + why if why else ''}</li>"
    )


def _flags_section(inp: ReportInputs, ranked: pd.DataFrame, unknown: pd.DataFrame) -> str:
    at_risk = ranked[ranked["flag"] == "at risk"]
    items = [_at_risk_item(r, inp.limits) for r in at_risk.head(MAX_LISTED).to_dict("records")]
    risk_html = f"<ul>{''.join(items)}</ul>" if items else "<p>No ranked clone is at risk.</p>"
    if len(at_risk) > MAX_LISTED:
        risk_html += (
            f"<p class='note'>… and {len(at_risk) - MAX_LISTED} more at-risk clones: sort the "
            "table by Flag to see them all.</p>"
        )
    return (
        '<section id="flags"><h2>3. Flags and their reasons</h2>'
        f"<h3>At risk: {len(at_risk)} of {len(ranked)} ranked clones</h3>"
        "<p>At risk means a run's glycan or downstream out-of-spec risk is 0.5 or more: the "
        f"clone is ranked, but it is as likely out of spec as in.</p>{risk_html}"
        f"<h3>Unknown: {len(unknown)} clones</h3>{_unknown_summary(unknown)}</section>"
    )


def _unknown_summary(unknown: pd.DataFrame) -> str:
    if unknown.empty:
        return "<p>The model could place every clone.</p>"
    causes = "".join(
        f"<li>{esc(k)}: {v} clone{'s' if v != 1 else ''}</li>"
        for k, v in unknown_causes(unknown["reasons"]).items()
    )
    return (
        "<p>Unknown means the model cannot place the clone — outside its experience, a "
        "measurement family it relies on is missing, or a condition never seen in training — "
        "so any number would be extrapolation. They are never ranked; each is listed with its "
        f'reasons under <a href="#unknown">Unknown clones</a>.</p><ul>{causes}</ul>'
    )


def _not_judged_section(inp: ReportInputs, ranked: pd.DataFrame, unknown: pd.DataFrame) -> str:
    s = inp.summary
    by_attr = {lim["attribute"]: lim for lim in s["spec"]["limits"]}
    nj = "".join(
        f"<li>{esc(limit_text(by_attr[a]) if a in by_attr else a)}</li>" for a in s["not_judged"]
    )
    blind = [lim for lim in inp.limits if not ranked[RISK_PREFIX + lim["attribute"]].notna().any()]
    blind_html = "".join(
        f"<li>{esc(limit_text(lim))}: judged, but no ranked clone has an estimate</li>"
        for lim in blind
    )
    attrs = (
        f"<ul>{nj}{blind_html}</ul>" if nj or blind_html else "<p>Every spec limit is judged.</p>"
    )
    return (
        '<section id="not-judged"><h2>7. What the model could not judge</h2>'
        "<h3>Spec attributes it does not predict</h3><p>No risk is given for these: check "
        f"them by assay.</p>{attrs}<h3>Unknown clones: {len(unknown)}</h3>"
        f"{_unknown_summary(unknown)}<h3>Rejected runs: {len(inp.rejects)}</h3>"
        f"{_rejects_block(inp)}</section>"
    )


def _rejects_block(inp: ReportInputs) -> str:
    rej = inp.rejects
    if rej.empty:
        return "<p>No run was rejected.</p>"
    counts = rej.groupby(["stage", "reason"]).size().rename("runs").reset_index()
    counts = counts.sort_values(["runs", "stage", "reason"], ascending=[False, True, True])
    by_reason = "".join(
        f"<tr><td>{esc(st)}</td><td>{esc(why)}</td><td>{n}</td></tr>"
        for st, why, n in counts.head(MAX_LISTED).itertuples(index=False)
    )
    listed = "".join(
        f"<tr><td>{esc(run)}</td><td>{esc(st)}</td><td>{esc(why)}</td></tr>"
        for run, st, why in rej.head(MAX_LISTED).itertuples(index=False)
    )
    where = f"<code>{esc(inp.summary['files']['rejects'] or 'the rejects file')}</code>"
    note = (
        f"<p class='note'>… and {len(rej) - MAX_LISTED} more rejected runs, all in {where}.</p>"
        if len(rej) > MAX_LISTED
        else ""
    )
    if len(counts) > MAX_LISTED:
        by_reason += f"<tr><td></td><td>… and {len(counts) - MAX_LISTED} other reasons</td></tr>"
    return (
        f"<p>By stage: {_counts(inp.summary['rejected_by_stage'])}. Counts by reason:</p>"
        '<div class="table-wrap short"><table class="plain"><thead><tr><th>Stage</th>'
        f"<th>Reason</th><th>Runs</th></tr></thead><tbody>{by_reason}</tbody></table></div>"
        f"<p>The first {min(len(rej), MAX_LISTED)} rejected runs:</p>"
        '<div class="table-wrap short"><table class="plain" id="rejects-table"><thead><tr>'
        f"<th>Run</th><th>Stage</th><th>Reason</th></tr></thead><tbody>{listed}</tbody>"
        f"</table></div>{note}"
    )


# -- figures -----------------------------------------------------------------------------
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif'
LABELLED_ROWS = 60  # a risk heatmap with more clones than this hides its row labels


def _layout(fig: go.Figure, height: int, **kw: Any) -> go.Figure:
    base = {
        "template": "plotly_white",
        "height": height,
        "font": {"family": FONT, "size": 13},
        "margin": {"l": 70, "r": 30, "t": 40, "b": 60},
        "hoverlabel": {"align": "left"},
        "legend": {"orientation": "h", "x": 0, "y": 1.1},
    }
    fig.update_layout(base | kw)
    return fig


def _label(row: Row, width: int = 0) -> str:
    """The clone as plotly shows it: escaped, because plotly reads tags in its text.

    ``width`` > 0 shortens a long id (before escaping, so no entity is cut in half).
    """
    cid = str(row["clone_id"])
    if 0 < width < len(cid):
        cid = cid[: width - 1] + "…"
    return f"#{sig(row['rank'])} {esc(cid)}"


PARETO_HOVER = (
    "<b>%{customdata[0]}</b><br>expected product %{x:.3g} g/L "
    "[%{customdata[1]:.3g}–%{customdata[2]:.3g}]<br>glycan risk %{y:.1%}<br>"
    "purification yield %{customdata[3]:.3g} %<extra></extra>"
)


def _pareto_markers(
    part: pd.DataFrame, front: bool, yield_range: tuple[float, float]
) -> go.Scatter:
    """Clones on (diamonds) or off the front; colour and size by purification yield."""
    lo, hi = yield_range
    yld = part["dsp_yield_pct"].to_numpy()
    size = 8 + 14 * np.clip((yld - lo) / (hi - lo), 0, 1) if hi > lo else np.full(len(yld), 14)
    custom = [
        [_label(r), r["expected_product_lo90"], r["expected_product_hi90"], r["dsp_yield_pct"]]
        for r in part.to_dict("records")
    ]
    return go.Scatter(
        x=part["expected_product_g_l"].to_numpy(),
        y=part["glycans_risk"].to_numpy(),
        mode="markers",
        name="Pareto front" if front else "ranked clone",
        hovertemplate=PARETO_HOVER,
        customdata=custom,
        marker={  # one colour scale per trace: a coloraxis shared by two traces makes plotly warn
            "color": yld,
            "colorscale": "Viridis",
            "cmin": lo,
            "cmax": hi,
            "showscale": not front,
            "colorbar": {"title": {"text": "purification<br>yield (%)"}},
            "size": np.where(np.isfinite(size), size, 8),
            "line": {"width": 2, "color": "#111"} if front else {"width": 0.5, "color": "#fff"},
            "symbol": "diamond" if front else "circle",
            "opacity": 1 if front else 0.75,
        },
    )


def _pareto_figure(ranked: pd.DataFrame) -> go.Figure:
    yld = ranked["dsp_yield_pct"].to_numpy()
    known = yld[np.isfinite(yld)]
    span = (float(known.min()), float(known.max())) if known.size else (0.0, 100.0)
    on = ranked["pareto"].to_numpy(bool)
    fig = go.Figure(
        [_pareto_markers(ranked[~on], False, span), _pareto_markers(ranked[on], True, span)]
    )
    joined = ranked[on].sort_values("expected_product_g_l", kind="stable")
    fig.add_trace(
        go.Scatter(
            x=joined["expected_product_g_l"].to_numpy(),
            y=joined["glycans_risk"].to_numpy(),
            mode="lines",
            name="front, joined",
            line={"color": "#111", "dash": "dot", "width": 1},
            hoverinfo="skip",
        )
    )
    return _layout(
        fig,
        540,
        xaxis={"title": {"text": "expected purified product (g/L) — higher is better"}},
        yaxis={
            "title": {"text": "glycan risk, P(out of spec) — lower is better"},
            "tickformat": ".0%",
        },
    )


def _titer_title(days: np.ndarray) -> str:
    d = np.unique(days[np.isfinite(days)])
    if not len(d):
        return "latest titer (g/L)"
    return (
        f"titer at day {d[0]:g} (g/L)"
        if len(d) == 1
        else f"latest titer, day {d[0]:g}–{d[-1]:g} (g/L)"
    )


YIELD_HOVER = (
    "<b>%{customdata[0]}</b><br>titer %{x:.3g} g/L (day %{customdata[3]})<br>"
    "purification yield %{y:.3g} % [%{customdata[1]:.3g}–%{customdata[2]:.3g}]<extra></extra>"
)


def _yield_trace(part: pd.DataFrame, flag: str, colour: str) -> go.Scatter:
    y = part["dsp_yield_pct"].to_numpy()
    return go.Scatter(
        x=part["titer_g_l"].to_numpy(),
        y=y,
        mode="markers",
        name=flag,
        marker={"color": colour, "size": 8},
        error_y={
            "type": "data",
            "symmetric": False,
            "thickness": 1,
            "width": 0,
            "array": part["dsp_yield_hi90"].to_numpy() - y,
            "arrayminus": y - part["dsp_yield_lo90"].to_numpy(),
        },
        customdata=[
            [_label(r), r["dsp_yield_lo90"], r["dsp_yield_hi90"], _num(r["titer_day"])]
            for r in part.to_dict("records")
        ],
        hovertemplate=YIELD_HOVER,
    )


def _yield_figure(ranked: pd.DataFrame, limits: Sequence[Mapping[str, Any]]) -> go.Figure:
    """One point per ranked clone, coloured by flag; the spec's minimum yield as a line."""
    fig = go.Figure(
        [
            _yield_trace(ranked[ranked["flag"] == flag], flag, colour)
            for flag, colour in (("ok", "#1f6fb2"), ("at risk", "#d9730d"))
        ]
    )
    for lim in limits:
        if lim["attribute"] == "dsp_yield_pct" and lim["min"] is not None:
            fig.add_hline(
                y=lim["min"],
                line={"dash": "dash", "color": "#b00", "width": 1},
                annotation_text=f"spec minimum {lim['min']:g} %",
            )
    return _layout(
        fig,
        480,
        xaxis={"title": {"text": _titer_title(ranked["titer_day"].to_numpy())}},
        yaxis={"title": {"text": "predicted purification yield (%), 90 % interval"}},
    )


def _risk_figure(ranked: pd.DataFrame, limits: Sequence[Mapping[str, Any]]) -> go.Figure:
    z = ranked[[RISK_PREFIX + lim["attribute"] for lim in limits]].to_numpy(float)
    xs = [f"{esc(lim['attribute'])}<br>{esc(limit_range(lim))}" for lim in limits]
    rows = ranked.to_dict("records")
    ys = [_label(r, width=28) for r in rows]  # short axis labels, the whole id on hover
    full = [[_label(r)] * len(limits) for r in rows]
    text = [[share(p) for p in row] for row in z]
    n = len(ranked)
    few = n <= LABELLED_ROWS
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=xs,
            y=ys,
            text=text,
            zmin=0,
            zmax=1,
            colorscale="YlOrRd",
            xgap=2,
            texttemplate="%{text}" if few else None,
            colorbar={"title": {"text": "P(out of<br>the limit)"}, "tickformat": ".0%"},
            customdata=full,
            hovertemplate="<b>%{customdata}</b><br>%{x}<br>P(out of the limit) %{text}"
            "<extra></extra>",
        )
    )
    return _layout(
        fig,
        160 + 20 * n if few else 900,
        margin={"l": 40, "r": 30, "t": 30, "b": 30},
        xaxis={"side": "top", "automargin": True},
        yaxis={
            "autorange": "reversed",
            "type": "category",
            "showticklabels": few,
            "automargin": True,
        },
    )


def _script_json(text: str) -> str:
    r"""JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` left.

    >>> print(_script_json('{"a": "</script><!--&"}'))
    {"a": "\u003c/script\u003e\u003c!--\u0026"}
    """
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _plot(plot_id: str, heading: str, intro: str, fig: go.Figure | None, empty: str) -> str:
    if fig is None:
        inner = f'<p class="note">{empty}</p>'
    else:
        data = _script_json(pio.to_json(fig, validate=False))
        inner = (
            f'<div id="{plot_id}" class="plot"></div><script type="application/json" '
            f'class="plot-data" data-for="{plot_id}">{data}</script>'
        )
    return f'<section id="{plot_id}-section"><h2>{heading}</h2><p>{intro}</p>{inner}</section>'


def _plots(inp: ReportInputs, ranked: pd.DataFrame) -> list[str]:
    none = "No ranked clone to plot."
    has = not ranked.empty
    limits_text = "; ".join(esc(limit_text(lim)) for lim in inp.limits)
    return [
        _plot(
            "pareto",
            "4. Expected product against glycan risk",
            "Each ranked clone: expected purified product (titer × predicted purification "
            "yield) against its glycan risk; colour and size show the purification yield. "
            "Diamonds joined by the dotted line are the Pareto front: no other clone is better "
            "on product, yield and risk at once. Hover for the numbers.",
            _pareto_figure(ranked) if has else None,
            none,
        ),
        _plot(
            "yield-titer",
            "5. Purification yield against titer",
            "Predicted purification yield with its 90 % interval, against the latest measured "
            "titer, one point per ranked clone.",
            _yield_figure(ranked, inp.summary["spec"]["limits"]) if has else None,
            none,
        ),
        _plot(
            "risk",
            "6. Risk against each spec limit",
            f"Probability that each ranked clone (rows, by rank) is out of each judged limit: "
            f"{limits_text or 'none'}.",
            _risk_figure(ranked, inp.limits) if has and inp.limits else None,
            "No judged spec limit or no ranked clone: nothing to show.",
        ),
    ]


# -- the page ----------------------------------------------------------------------------
# default-src 'none': the page can fetch nothing, whatever a library would like to load
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)
CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #d9dee7; --risk: #b35c00; --unk: #6e4bb5; }
body { margin: 0; background: #f4f6f9; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header { background: var(--ink); color: #fff; padding: 14px 24px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header nav a { color: #cfe1ff; margin-right: 14px; }
main { max-width: 1500px; margin: 0 auto; padding: 4px 24px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 20px; margin: 16px 0; }
h2 { font-size: 17px; margin: 4px 0 10px; } h3 { font-size: 15px; margin: 14px 0 6px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; }
code { font-size: 12px; background: #f0f2f5; padding: 1px 4px; border-radius: 3px;
  word-break: break-all; }
.table-wrap { max-height: 70vh; overflow: auto; border: 1px solid var(--line); }
.table-wrap.short { max-height: 320px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #eceff4; text-align: left;
  vertical-align: top; }
thead th { position: sticky; top: 0; background: #e9edf3; z-index: 1; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[aria-sort=ascending]::after { content: " ▲"; }
table.sortable th[aria-sort=descending]::after { content: " ▼"; }
td { white-space: nowrap; } td.reasons { white-space: normal; min-width: 220px; }
td.clone { white-space: normal; overflow-wrap: anywhere; min-width: 8em; max-width: 14em; }
td small { color: var(--muted); }
tr.risk td:first-child { box-shadow: inset 4px 0 var(--risk); }
.flag { padding: 1px 6px; border-radius: 9px; font-size: 12px; background: #e3f4e8; }
.flag.risk { background: #fde6cf; color: #7a3d00; }
.flag.unknown { background: #ece5f8; color: var(--unk); }
td.pareto { color: #111; text-align: center; }
.note { color: var(--muted); }
.plot { width: 100%; }
"""
SORT_JS = """
(function () {
  function value(cell) {
    var raw = cell.getAttribute('data-v');
    if (raw === null) raw = cell.textContent.trim();
    if (raw === '') return null;
    var n = Number(raw);
    return isFinite(n) ? n : raw;
  }
  function sortBy(table, col, th) {
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(th.parentNode.cells, function (h) {
      h.removeAttribute('aria-sort');
    });
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (r, i) {
      return {row: r, v: value(r.cells[col]), i: i};
    });
    rows.sort(function (a, b) {
      if (a.v === null || b.v === null) {  // missing values last, in either direction
        return (a.v === null) - (b.v === null) || a.i - b.i;
      }
      var c = (typeof a.v === 'number' && typeof b.v === 'number') ? a.v - b.v
        : String(a.v).localeCompare(String(b.v), undefined, {numeric: true});
      return (asc ? c : -c) || a.i - b.i;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (x) { frag.appendChild(x.row); });
    body.appendChild(frag);
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener('click', function () { sortBy(table, col, th); });
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
})();
"""
PLOT_JS = """
(function () {
  var drawn = [];
  document.querySelectorAll('script.plot-data').forEach(function (el) {
    var fig = JSON.parse(el.textContent);
    drawn.push(Plotly.newPlot(el.getAttribute('data-for'), fig.data, fig.layout,
      {displaylogo: false, responsive: true}));
  });
  Promise.all(drawn).then(function () { document.body.setAttribute('data-plots', 'drawn'); });
})();
"""


NAV = (
    ("summary", "Summary"),
    ("ranked", "Ranked clones"),
    ("unknown", "Unknown clones"),
    ("flags", "Flags"),
    ("pareto-section", "Product vs risk"),
    ("yield-titer-section", "Yield vs titer"),
    ("risk-section", "Risk by limit"),
    ("not-judged", "Not judged"),
)


def _clone_sections(inp: ReportInputs, ranked: pd.DataFrame, unknown: pd.DataFrame) -> list[str]:
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


def _inline_js(js: str) -> str:
    r"""Script text that cannot close its ``<script>`` early (``<\/`` means ``</`` in JS)."""
    return js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def render_page(inp: ReportInputs) -> str:
    """The whole HTML page of checked inputs (see :func:`read_inputs`)."""
    c = inp.clones
    ranked, unknown = c[c["status"] == "ranked"], c[c["status"] == "unknown"]
    s = inp.summary
    title = f"clonescout report: {len(ranked)} clones ranked, {len(unknown)} unknown"
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in NAV)
    body = [
        _summary_section(inp),
        *_clone_sections(inp, ranked, unknown),
        _flags_section(inp, ranked, unknown),
        *_plots(inp, ranked),
        _not_judged_section(inp, ranked, unknown),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>"
        f"<header><h1>{esc(title)}</h1><div>spec {esc(s['spec']['name'])} · model "
        f"{esc(s['model']['name'])} version {esc(s['model']['version'])}</div>"
        f"<nav>{nav}</nav></header>\n<main>{''.join(body)}</main>\n"
        f"<script>{_inline_js(get_plotlyjs())}</script>\n<script>{PLOT_JS}</script>\n"
        f"<script>{SORT_JS}</script>\n</body></html>\n"
    )


def render_report(scores: Path) -> str:
    """The report of ``clonescout score``'s files beside ``scores`` as one HTML page.

    Raises
    ------
    ValueError
        A file or key missing or malformed, naming it and what is expected.
    """
    return render_page(read_inputs(scores))


def write_report(scores: Path, out: Path) -> Path:
    """Render, then write ``out`` atomically (``<out>.tmp`` renamed): never half a page."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out {out}: write the report to a .html file")
    page = render_report(scores)  # every check passes before anything is written
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out

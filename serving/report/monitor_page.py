"""The monitor's page: what each model version delivered, beside what it promised.

One self-contained HTML page, made with the campaign report's machinery (the same style,
Content-Security-Policy, inlined plotly.js, sortable tables and escaped figure blocks: it
opens with no network). For each model version judged by ``clonescout monitor``:

1. the verdict, the retraining advice and every figure beside its promise with its
   interval (the monitor's table, sortable);
2. the verdict of each campaign;
3. predicted against realized, per target (a menu chooses the target): each judged run at
   its prediction and measured value, its 90 % interval as a bar, runs outside it marked;
4. 90 % coverage by campaign, per target, with the monitor's interval and the promise;
5. 90 % coverage over time (by the day the prediction was logged), per target.

The numbers are the monitor's (:mod:`serving.monitor`); the figures only draw the judged
runs (a number from the model, an outcome, not in its training set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from features.contract.files import write_text
from models.flags import OBSERVED_PREFIX as OBS
from serving.monitor import judged_rows
from serving.report.figures import layout, plot_section
from serving.report.formatting import esc, sig
from serving.report.page import CSP, CSS, PLOT_JS, SORT_JS, _inline_js

LEVEL = 90
VERDICT_CSS = """
.verdict { padding: 1px 8px; border-radius: 9px; font-size: 12px; background: #e3f4e8; }
.verdict.degraded { background: #fde6cf; color: #7a3d00; font-weight: 600; }
.verdict.few { background: #eceff4; color: var(--muted); }
"""


def _verdict(text: str) -> str:
    cls = {"degraded": " degraded", "holds": ""}.get(text, " few")
    return f'<span class="verdict{cls}">{esc(text)}</span>'


def _fmt(x: float | None) -> str:
    return "—" if x is None else sig(x)


def _td(value: Any, shown: str) -> str:
    v = "" if value is None else esc(value)
    return f'<td data-v="{v}">{shown}</td>'


def _table(table_id: str, heads: list[str], rows: list[str]) -> str:
    ths = "".join(f'<th scope="col">{esc(h)}</th>' for h in heads)
    return (
        f'<div class="table-wrap short"><table id="{table_id}" class="sortable">'
        f"<thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _checks_table(table_id: str, checks: list[dict]) -> str:
    rows = []
    for c in checks:
        lo, hi = c["interval"]
        interval = f"[{_fmt(lo)}, {_fmt(hi)}]" if lo is not None else ""
        rows.append(
            "<tr>"
            f"<td>{esc(c['what'])}</td>"
            + _td(c["realized"], _fmt(c["realized"]))
            + _td(c["promised"], _fmt(c["promised"]))
            + f"<td>{esc(interval)}</td>"
            + _td(c["n"], str(c["n"]))
            + f"<td>{_verdict(c['verdict'])}</td></tr>"
        )
    heads = ["figure", "realized", "promised", "interval", "runs", "verdict"]
    return _table(table_id, heads, rows)


def _campaign_table(table_id: str, campaigns: dict[str, dict]) -> str:
    rows = [
        f"<tr><td>{esc(cid)}</td>"
        + _td(c["runs"], str(c["runs"]))
        + _td(c["clones"], str(c["clones"]))
        + f"<td>{_verdict(c['verdict'])}</td><td>{esc(', '.join(c['degraded']))}</td></tr>"
        for cid, c in campaigns.items()
    ]
    return _table(table_id, ["campaign", "runs", "clones", "verdict", "degraded figures"], rows)


def targets_of(rows: pd.DataFrame) -> list[str]:
    """Targets with a prediction, its 90 % interval and an outcome in ``rows``."""
    return [
        c[len(OBS) :]
        for c in rows.columns
        if c.startswith(OBS)
        and {c[len(OBS) :], f"{c[len(OBS) :]}_lo{LEVEL}", f"{c[len(OBS) :]}_hi{LEVEL}"}
        <= set(rows.columns)
        and rows[c].notna().any()
    ]


def _menu(labels: list[str], traces_per: list[int]) -> list[dict]:
    """A dropdown that shows one target's traces at a time."""
    total, start, buttons = sum(traces_per), 0, []
    for label, n in zip(labels, traces_per, strict=True):
        visible = [False] * total
        visible[start : start + n] = [True] * n
        buttons.append({"label": label, "method": "update", "args": [{"visible": visible}]})
        start += n
    return [{"buttons": buttons, "x": 0, "y": 1.18, "xanchor": "left", "showactive": True}]


def _finish(fig: go.Figure, labels: list[str], per: list[int], height: int, **kw) -> go.Figure:
    for i, tr in enumerate(fig.data):
        tr.visible = i < per[0]
    layout(fig, height, updatemenus=_menu(labels, per), **kw)
    return fig


def predicted_vs_realized(rows: pd.DataFrame, targets: list[str]) -> go.Figure | None:
    """Per target: judged runs at (predicted, measured), 90 % interval bars, outside marked."""
    fig, per = go.Figure(), []
    for t in targets:
        part = rows[rows[OBS + t].notna()]
        pred, obs = part[t].to_numpy(float), part[OBS + t].to_numpy(float)
        lo, hi = part[f"{t}_lo{LEVEL}"].to_numpy(float), part[f"{t}_hi{LEVEL}"].to_numpy(float)
        inside = (obs >= lo) & (obs <= hi)
        for mask, name, colour in ((inside, "inside", "#2f6db5"), (~inside, "outside", "#b35c00")):
            fig.add_trace(
                go.Scatter(
                    x=pred[mask],
                    y=obs[mask],
                    mode="markers",
                    name=f"{t}: measured {name} the {LEVEL} % interval ({int(mask.sum())})",
                    marker={"color": colour, "size": 6, "opacity": 0.75},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": (hi - pred)[mask],
                        "arrayminus": (pred - lo)[mask],
                        "thickness": 1,
                        "width": 0,
                        "color": colour,
                    },
                    text=_labels(part, mask),
                    hovertemplate="%{text}<br>predicted %{x:.3g}<br>measured %{y:.3g}"
                    "<extra></extra>",
                )
            )
        both = np.concatenate([pred, obs]) if len(pred) else np.array([0.0, 1.0])
        a, b = float(np.nanmin(both)), float(np.nanmax(both))
        fig.add_trace(
            go.Scatter(
                x=[a, b],
                y=[a, b],
                mode="lines",
                name=f"{t}: measured = predicted",
                line={"color": "#888", "dash": "dot"},
                hoverinfo="skip",
            )
        )
        per.append(3)
    if not per:
        return None
    return _finish(
        fig, targets, per, 520, xaxis_title="predicted", yaxis_title="measured (came back)"
    )


def _labels(part: pd.DataFrame, mask: np.ndarray) -> list[str]:
    ids = part["run_id"].astype(str).to_numpy()[mask]
    camps = part["campaign_id"].astype(str).to_numpy()[mask]
    return [f"{esc(r)} (campaign {esc(c)})" for r, c in zip(ids, camps, strict=True)]


def coverage_by_campaign(result: dict, targets: list[str]) -> go.Figure | None:
    """Per target: each campaign's realized 90 % coverage, its interval, and the promise."""
    fig, per = go.Figure(), []
    names = list(result["campaigns"])
    for t in targets:
        what = f"{t} coverage_{LEVEL}"
        got = [
            next((c for c in result["campaigns"][n]["checks"] if c["what"] == what), None)
            for n in names
        ]
        real = [None if c is None else c["realized"] for c in got]
        lo = [None if c is None else c["interval"][0] for c in got]
        hi = [None if c is None else c["interval"][1] for c in got]
        fig.add_trace(
            go.Scatter(
                x=names,
                y=real,
                mode="markers",
                name=f"{t}: realized, with the monitor's interval",
                marker={"size": 10, "color": "#2f6db5"},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        None if h is None or r is None else h - r
                        for h, r in zip(hi, real, strict=True)
                    ],
                    "arrayminus": [
                        None if lw is None or r is None else r - lw
                        for lw, r in zip(lo, real, strict=True)
                    ],
                },
                hovertemplate="%{x}: %{y:.3f}<extra></extra>",
            )
        )
        promised = next((c["promised"] for c in result["checks"] if c["what"] == what), None)
        fig.add_trace(
            go.Scatter(
                x=names,
                y=[promised] * len(names),
                mode="lines",
                name=f"{t}: promised (nested CV) {_fmt(promised)}",
                line={"color": "#b35c00", "dash": "dash"},
                hoverinfo="skip",
            )
        )
        per.append(2)
    if not per or not names:
        return None
    return _finish(
        fig,
        targets,
        per,
        420,
        xaxis_title="campaign",
        yaxis_title=f"{LEVEL} % interval coverage",
        yaxis_range=[0, 1.05],
    )


def coverage_over_time(rows: pd.DataFrame, targets: list[str]) -> go.Figure | None:
    """Per target: 90 % coverage of the runs whose prediction was logged each day."""
    if rows.empty or "logged_at" not in rows:
        return None
    day = pd.to_datetime(rows["logged_at"], utc=True).dt.strftime("%Y-%m-%d")
    fig, per = go.Figure(), []
    for t in targets:
        ok = rows[OBS + t].notna()
        lo, hi, obs = rows[f"{t}_lo{LEVEL}"], rows[f"{t}_hi{LEVEL}"], rows[OBS + t]
        inside = ((obs >= lo) & (obs <= hi))[ok]
        daily = inside.groupby(day[ok]).agg(["mean", "size"])
        fig.add_trace(
            go.Scatter(
                x=daily.index.tolist(),
                y=daily["mean"].tolist(),
                mode="lines+markers",
                name=f"{t}: realized",
                customdata=daily["size"].tolist(),
                hovertemplate="%{x}: %{y:.3f} of %{customdata} runs<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=daily.index.tolist(),
                y=[LEVEL / 100] * len(daily),
                mode="lines",
                name=f"{t}: nominal {LEVEL} %",
                line={"color": "#888", "dash": "dot"},
                hoverinfo="skip",
            )
        )
        per.append(2)
    if not per:
        return None
    return _finish(
        fig,
        targets,
        per,
        380,
        xaxis_title="day the prediction was logged (UTC)",
        yaxis_title=f"{LEVEL} % interval coverage",
        yaxis_range=[0, 1.05],
        xaxis_type="category",
    )


def _version_sections(n: int, v: dict, joined: pd.DataFrame) -> list[str]:
    mine = joined[
        (joined["model_name"].astype(str) == v["model_name"])
        & (joined["model_version"].astype(str) == str(v["model_version"]))
    ]
    rows = judged_rows(mine)
    measured = set(targets_of(rows))
    in_order = dict.fromkeys(c["what"].split(" ")[0] for c in v["checks"])  # the model's order
    targets = [t for t in in_order if t in measured]
    key = f"v{n}"
    name = f"{v['model_name']} version {v['model_version']}"
    left = v["left_out"]
    head = (
        f'<section id="{key}"><h2>{esc(name)}: {_verdict(v["verdict"])}</h2>'
        f"<p>{v['judged_runs']} runs of {v['judged_clones']} clones judged; "
        f"{v['predictions']} predictions logged, left out: {left['unknown']} unknown, "
        f"{left['seen_in_training']} in its training set. "
        f"{'Retraining is <b>due</b>: ' if v['retrain']['due'] else 'Retraining: '}"
        f"{esc(v['retrain']['why'])}</p>"
        '<p class="note">Degraded: the figure\'s interval (Clopper-Pearson for coverage, a '
        "bootstrap over clones for the others, both widened by the campaign-to-campaign "
        "spread nested CV measured; Bonferroni over the checks) lies wholly on the worse side "
        "of the promise.</p>"
        f"<h3>Every figure beside its promise</h3>{_checks_table(f'{key}-checks', v['checks'])}"
        f"<h3>By campaign</h3>{_campaign_table(f'{key}-campaigns', v['campaigns'])}</section>"
    )
    none = "No judged run with an outcome and a 90 % interval."
    return [
        head,
        plot_section(
            f"{key}-pvr",
            f"{esc(name)}: predicted against realized",
            "Each judged run at its prediction and its measured value; the bar is its "
            f"{LEVEL} % interval, orange runs were measured outside it. Choose the target "
            "in the menu.",
            predicted_vs_realized(rows, targets),
            none,
        ),
        plot_section(
            f"{key}-bycampaign",
            f"{esc(name)}: {LEVEL} % coverage by campaign",
            "Each campaign's realized coverage with the monitor's interval for it, beside the "
            "coverage the version promised (nested, campaign-grouped CV).",
            coverage_by_campaign(v, targets),
            none,
        ),
        plot_section(
            f"{key}-overtime",
            f"{esc(name)}: {LEVEL} % coverage over time",
            "Coverage of the runs whose prediction was logged each day (UTC), beside the "
            "nominal level.",
            coverage_over_time(rows, targets),
            none,
        ),
    ]


def render_monitor_page(out: dict, joined: pd.DataFrame) -> str:
    """The page of ``clonescout monitor``'s result (``out``) and the joined log it judged."""
    versions = out["versions"]
    title = f"clonescout monitor: {len(versions)} model version(s) judged"
    verdicts = "".join(
        f"<dt>{esc(v['model_name'])} v{esc(v['model_version'])}</dt>"
        f"<dd>{_verdict(v['verdict'])} {esc(', '.join(v['degraded']))}</dd>"
        for v in versions
    )
    summary = (
        f'<section id="summary"><h2>Summary</h2><dl class="facts"><dt>log</dt>'
        f"<dd><code>{esc(out['log'])}</code></dd><dt>since</dt>"
        f"<dd>{esc(out['since'] or 'every logged prediction')}</dd>{verdicts}</dl></section>"
    )
    if not versions:
        summary += '<section><p class="note">No logged prediction to judge.</p></section>'
    body = [summary]
    for n, v in enumerate(versions, 1):
        body += _version_sections(n, v, joined)
    nav = "".join(
        f'<a href="#v{n}">{esc(v["model_name"])} v{esc(v["model_version"])}</a>'
        for n, v in enumerate(versions, 1)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}{VERDICT_CSS}</style></head>\n<body>"
        f'<header><h1>{esc(title)}</h1><nav><a href="#summary">Summary</a>{nav}</nav></header>'
        f"\n<main>{''.join(body)}</main>\n"
        f"<script>{_inline_js(get_plotlyjs())}</script>\n<script>{PLOT_JS}</script>\n"
        f"<script>{SORT_JS}</script>\n</body></html>\n"
    )


def page_path(path: Path) -> Path:
    """``path`` if it names an .html file; else a ValueError saying so (check it first)."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--html {path}: write the monitor's page to a .html file")
    return path


def write_monitor_page(out: dict, joined: pd.DataFrame, path: Path) -> Path:
    """Render, then write ``path`` atomically (never half a page)."""
    return write_text(page_path(path), render_monitor_page(out, joined))

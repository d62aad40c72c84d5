r"""The plotly figures and their sections: product vs risk, yield vs titer, risk by limit.

Each figure goes into the page as a JSON block, with ``<``, ``>`` and ``&`` ``\u``-escaped
so that no string from the data can close it; the page's inline JavaScript draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from models.flags import FLAG_OK, FLAG_RISK, limit_risk_column
from serving.report.formatting import Row, esc, limit_range, limit_text, num, share, sig
from serving.report.reading import ReportInputs

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif'
LABELLED_ROWS = 60  # a risk heatmap with more clones than this hides its row labels


def layout(fig: go.Figure, height: int, **kw: Any) -> go.Figure:
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
    return layout(
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
            [_label(r), r["dsp_yield_lo90"], r["dsp_yield_hi90"], num(r["titer_day"])]
            for r in part.to_dict("records")
        ],
        hovertemplate=YIELD_HOVER,
    )


def _yield_figure(ranked: pd.DataFrame, limits: Sequence[Mapping[str, Any]]) -> go.Figure:
    """One point per ranked clone, coloured by flag; the spec's minimum yield as a line."""
    fig = go.Figure(
        [
            _yield_trace(ranked[ranked["flag"] == flag], flag, colour)
            for flag, colour in ((FLAG_OK, "#1f6fb2"), (FLAG_RISK, "#d9730d"))
        ]
    )
    for lim in limits:
        if lim["attribute"] == "dsp_yield_pct" and lim["min"] is not None:
            fig.add_hline(
                y=lim["min"],
                line={"dash": "dash", "color": "#b00", "width": 1},
                annotation_text=f"spec minimum {lim['min']:g} %",
            )
    return layout(
        fig,
        480,
        xaxis={"title": {"text": _titer_title(ranked["titer_day"].to_numpy())}},
        yaxis={"title": {"text": "predicted purification yield (%), 90 % interval"}},
    )


def _risk_figure(ranked: pd.DataFrame, limits: Sequence[Mapping[str, Any]]) -> go.Figure:
    z = ranked[[limit_risk_column(lim["attribute"]) for lim in limits]].to_numpy(float)
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
    return layout(
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


def plot_section(plot_id: str, heading: str, intro: str, fig: go.Figure | None, empty: str) -> str:
    if fig is None:
        inner = f'<p class="note">{empty}</p>'
    else:
        data = _script_json(pio.to_json(fig, validate=False))
        inner = (
            f'<div id="{plot_id}" class="plot"></div><script type="application/json" '
            f'class="plot-data" data-for="{plot_id}">{data}</script>'
        )
    return f'<section id="{plot_id}-section"><h2>{heading}</h2><p>{intro}</p>{inner}</section>'


def plots(inp: ReportInputs, ranked: pd.DataFrame) -> list[str]:
    none = "No ranked clone to plot."
    has = not ranked.empty
    limits_text = "; ".join(esc(limit_text(lim)) for lim in inp.limits)
    return [
        plot_section(
            "pareto",
            "4. Expected product against glycan risk",
            "Each ranked clone: expected purified product (titer × predicted purification "
            "yield) against its glycan risk; colour and size show the purification yield. "
            "Diamonds joined by the dotted line are the Pareto front: no other clone is better "
            "on product, yield and risk at once. Hover for the numbers.",
            _pareto_figure(ranked) if has else None,
            none,
        ),
        plot_section(
            "yield-titer",
            "5. Purification yield against titer",
            "Predicted purification yield with its 90 % interval, against the latest measured "
            "titer, one point per ranked clone.",
            _yield_figure(ranked, inp.summary["spec"]["limits"]) if has else None,
            none,
        ),
        plot_section(
            "risk",
            "6. Risk against each spec limit",
            f"Probability that each ranked clone (rows, by rank) is out of each judged limit: "
            f"{limits_text or 'none'}.",
            _risk_figure(ranked, inp.limits) if has and inp.limits else None,
            "No judged spec limit or no ranked clone: nothing to show.",
        ),
    ]

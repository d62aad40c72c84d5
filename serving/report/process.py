"""Section 8 of the report: process conditions, from ``clonescout process`` (optional).

``clonescout process`` writes ``<scores>.process.json`` beside the score files: for each
clone today's conditions against the recommended ones, the single campaign condition that
serves most clones, and design-space maps for the top clones. Without that file the
section says how to make it; a file that is there but malformed is refused, naming the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from serving.report.figures import layout, plot_section
from serving.report.formatting import esc, share, sig
from serving.report.reading import sibling

KEYS = ("factors", "platform", "per_clone", "campaign_condition", "campaign_summary")


def read_process(scores: Path) -> dict[str, Any] | None:
    """The checked ``process.json`` beside ``scores``, or None when there is none."""
    path = sibling(scores, "process.json")
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e}); run `clonescout process` again") from e
    missing = [k for k in KEYS if k not in body]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; run `clonescout process` again")
    return body


def process_section(body: dict[str, Any] | None) -> str:
    head = '<section id="process"><h2>8. Process conditions</h2>'
    if body is None:
        return (
            f"{head}<p class='note'>No process recommendations for this campaign: run "
            "<code>clonescout process --data DIR --scores SCORES</code> and write the report "
            "again.</p></section>"
        )
    parts = [head, _campaign_block(body), _clone_table(body)]
    maps = body.get("design_space") or {}
    fx, fy = body.get("design_space_factors", ["", ""])
    for cid, cells in maps.items():
        parts.append(
            plot_section(
                f"map-{esc(cid)}",
                f"Design space for {esc(cid)}",
                f"P(meet every spec limit) over {esc(fx)} and {esc(fy)}, the other factors at "
                "the clone's recommendation; blank cells lie outside the model's domain.",
                _map_figure(cells, fx, fy),
                "No cell inside the model's domain.",
            )
        )
    return "".join(parts) + "</section>"


def _campaign_block(body: dict[str, Any]) -> str:
    cond, s = body["campaign_condition"], body["campaign_summary"]
    if cond is None:
        return f"<p class='note'>No campaign condition: {esc(s.get('reason', ''))}.</p>"
    rows = "".join(
        f"<tr><td>{esc(f)}</td><td>{sig(body['platform'].get(f))}</td>"
        f"<td>{sig(cond.get(f))}</td></tr>"
        for f in body["factors"]
    )
    needs = [r for r in body["per_clone"] if not r.get("served_by_campaign_condition")]
    need_items = "".join(
        f"<li>{esc(r['clone_id'])}: {esc(r.get('needs_own_because') or '')}</li>"
        for r in needs[:15]
    )
    more = f"<li>and {len(needs) - 15} more</li>" if len(needs) > 15 else ""
    return (
        "<h3>One condition for the campaign</h3>"
        f"<p>The condition below serves {share(s['share_served'])} of the clones (within "
        f"{share(s['tolerance'])} of each clone's own recommendation, P(spec) no lower "
        f"than at the platform); the platform serves {share(s['share_served_by_platform'])}. "
        f"Mean expected in-spec product {sig(s['mean_expected_in_spec_product_g_l'])} g/L "
        f"against {sig(s['platform_mean_expected_in_spec_product_g_l'])} g/L at the "
        f"platform. <small>{esc(s['how'])}.</small></p>"
        "<div class='table-wrap short'><table><thead><tr><th>factor</th><th>platform</th>"
        f"<th>campaign condition</th></tr></thead><tbody>{rows}</tbody></table></div>"
        f"<h3>Clones that need their own condition ({len(needs)})</h3>"
        f"<ul>{need_items}{more}</ul>"
    )


def _clone_table(body: dict[str, Any]) -> str:
    head = (
        "<tr><th>clone</th><th>today g/L</th><th>today P(spec)</th><th>recommended g/L</th>"
        "<th>recommended P(spec)</th><th>gain g/L</th><th>what changes</th></tr>"
    )
    rows = []
    for r in body["per_clone"]:
        today, rec = r.get("today_product_g_l"), r.get("recommended_product_g_l")
        gain = float("nan") if today is None or rec is None else rec - today
        rows.append(
            f"<tr><td class='clone'>{esc(r['clone_id'])}</td><td>{sig(today)}</td>"
            f"<td>{sig(r.get('today_p_spec'))}</td><td>{sig(rec)}</td>"
            f"<td>{sig(r.get('recommended_p_spec'))}</td><td>{sig(gain)}</td>"
            f"<td class='reasons'>{esc(r.get('changes') or '')}</td></tr>"
        )
    return (
        "<h3>Each clone: today's conditions against the recommended ones</h3>"
        "<p>Expected purified product (titer × yield) and P(meet every spec limit) from the "
        "process model, anchored on the clone's measured runs. Read gains as upper "
        "estimates: picking the best of many predictions favours the over-predicted.</p>"
        f"<div class='table-wrap'><table class='sortable'><thead>{head}</thead><tbody>"
        f"{''.join(rows)}</tbody></table></div>"
    )


def _map_figure(cells: list[dict[str, Any]], fx: str, fy: str) -> go.Figure | None:
    inside = [c for c in cells if c.get("inside")]
    if not inside:
        return None
    xs = sorted({c[fx] for c in cells})
    ys = sorted({c[fy] for c in cells})
    z: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    for c in inside:
        z[ys.index(c[fy])][xs.index(c[fx])] = c["p_meet_spec"]
    fig = go.Figure(
        go.Heatmap(
            x=xs, y=ys, z=z, zmin=0, zmax=1, colorscale="RdYlGn",
            colorbar={"title": "P(spec)"},
            hovertemplate=f"{fx} %{{x}}<br>{fy} %{{y}}<br>P(spec) %{{z:.2f}}<extra></extra>",
        )
    )  # fmt: skip
    return layout(fig, 380, xaxis_title=fx, yaxis_title=fy)

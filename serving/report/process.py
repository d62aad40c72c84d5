"""Section 8 of the report: process conditions, from ``clonescout process`` (optional).

``clonescout process`` writes ``<scores>.process.json`` beside the score files: for each
clone today's conditions against the recommended ones, the single campaign condition with
the clones that need their own and why, every gain with its interval, and design-space
maps for the top clones. Without that file the section says how to make it; a file that
is there but malformed is refused, naming the key.
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
    needs = [r for r in body["per_clone"] if r.get("needs_own_condition")]
    need_items = "".join(
        f"<li>{esc(r['clone_id'])} ({esc(r.get('needs_own_for') or '')}): "
        f"{esc(r.get('needs_own_because') or '')}</li>"
        for r in needs[:15]
    )
    more = f"<li>and {len(needs) - 15} more</li>" if len(needs) > 15 else ""
    level = share(s.get("level", 0.8))
    return (
        "<h3>One condition for the campaign</h3>"
        f"<p>Gain over the platform <strong>{_signed(s['campaign_gain_g_l'])} g/L</strong> of "
        f"purified product per clone ({level} interval {_signed(s['campaign_gain_g_l_lo'])} to "
        f"{_signed(s['campaign_gain_g_l_hi'])}); {share(s['share_campaign_condition'])} of the "
        f"clones take it. Mean expected in-spec product "
        f"{sig(s['mean_expected_in_spec_product_g_l'])} g/L against "
        f"{sig(s['platform_mean_expected_in_spec_product_g_l'])} g/L at the platform.</p>"
        f"<p class='note'>How the gain was estimated: {esc(s['campaign_gain_how'])}. "
        f"<small>{esc(s['how'])}.</small></p>"
        "<div class='table-wrap short'><table><thead><tr><th>factor</th><th>platform</th>"
        f"<th>campaign condition</th></tr></thead><tbody>{rows}</tbody></table></div>"
        f"<h3>Clones that need their own condition ({len(needs)})</h3>"
        f"<p class='note'>For product: the clone's own optimum beats the campaign condition by "
        f"more than {sig(s['min_own_gain_g_l'])} g/L at the lower end of its one-sided 90% "
        "interval, corrected for choosing the best and shrunk toward the campaign across its "
        "clones. For spec: the campaign condition would lower the clone's P(meet every spec "
        "limit) by more than 0.10 from the platform's; it takes the condition best for the "
        "campaign among those that keep its spec.</p>"
        f"<ul>{need_items}{more}</ul>"
    )


def _clone_table(body: dict[str, Any]) -> str:
    head = (
        "<tr><th>clone</th><th>today g/L</th><th>today P(spec)</th><th>recommendation</th>"
        "<th>gain over the platform g/L</th><th>interval</th><th>own optimum over the "
        "campaign condition g/L</th><th>why</th></tr>"
    )
    rows = []
    for r in body["per_clone"]:
        final = r.get("final_recommendation") or "none"
        own = final == "own condition"
        lo, hi = (
            (r.get("own_gain_g_l_lo"), r.get("own_gain_g_l_hi"))
            if own
            else (r.get("campaign_condition_gain_g_l_lo"), r.get("campaign_condition_gain_g_l_hi"))
        )
        why = r.get("needs_own_because") if own else r.get("campaign_condition_fits_because")
        what = f"{final}: {r.get('own_changes') or ''}" if own else final
        rows.append(
            f"<tr><td class='clone'>{esc(r['clone_id'])}</td>"
            f"<td>{sig(r.get('today_product_g_l'))}</td><td>{sig(r.get('today_p_spec'))}</td>"
            f"<td class='reasons'>{esc(what)}</td><td>{_signed(r.get('final_gain_g_l'))}</td>"
            f"<td>{_signed(lo)} to {_signed(hi)}</td>"
            f"<td>{_signed(r.get('own_gain_over_campaign_g_l'))}</td>"
            f"<td class='reasons'>{esc(why or '')}</td></tr>"
        )
    return (
        "<h3>Each clone: its recommendation and what it is worth</h3>"
        "<p>Gains are in expected purified product (titer × yield, g/L) over the platform, "
        "from the process model anchored on the clone's measured runs. Each gain is "
        "corrected for the winner's curse: less the optimism that choosing the best of "
        "many candidates adds (measured by bootstrap models fitted on resampled campaigns), "
        "then scaled by the share of predicted gains that held-out runs of the training "
        "history confirmed.</p>"
        f"<div class='table-wrap'><table class='sortable'><thead>{head}</thead><tbody>"
        f"{''.join(rows)}</tbody></table></div>"
    )


def _signed(v: Any) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if x != x else f"{x:+.2f}"


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

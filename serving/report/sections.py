"""The page's sections in words: campaign summary, flags, what the model could not judge."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.flags import FLAG_RISK, limit_risk_column
from serving.report.formatting import (
    Row,
    esc,
    limit_text,
    num,
    reasons_cell,
    share,
    sig,
    unknown_causes,
)
from serving.report.reading import ReportInputs

MAX_LISTED = 200  # rejected runs and at-risk clones listed by name; the rest are counted


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are HTML already (escape before)."""
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def _counts(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{esc(k)}: {esc(v)}" for k, v in mapping.items()) or "none"


def summary_section(inp: ReportInputs) -> str:
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
            ("Horizon", f"culture day {esc(num(m['horizon_day']))}: samples up to it were used"),
            ("Spec", esc(s["spec"]["name"])),
            ("Input", f"<code>{esc(s['input'])}</code>"),
            ("Scores file", f"<code>{esc(inp.scores)}</code>"),
        ]
    )
    body = f"{facts}{_quality(s.get('model_quality', {}))}{_criteria(s)}"
    return f'<section id="summary"><h2>1. Campaign summary</h2>{body}</section>'


_CHOICE_NAMES = {"model": "this model", "pls": "PLS", "titer_rank": "titer rank"}


def _quality(q: Mapping[str, Any]) -> str:
    """The model's learner per target and its clone choice on held-out campaigns."""
    if not q or not (q.get("families") or q.get("clone_choice")):
        return ""
    fams = ", ".join(
        f"<code>{esc(t)}</code> {esc(f.get('label', f['family']))}"
        for t, f in q.get("families", {}).items()
    )
    rows = ""
    for what, block in q.get("clone_choice", {}).items():
        for name in ("model", "pls", "titer_rank", "truth"):
            if name not in block:
                continue
            f = block[name]
            label = _CHOICE_NAMES.get(name, "noise-free truth (the ceiling)")
            rows += (
                f"<tr><td>{esc(what.replace('_', ' '))}</td><td>{esc(label)}</td>"
                f"<td>{esc(share(f['pairwise']))}</td><td>{esc(share(f['pairwise_all']))}</td>"
                f"<td>{esc(share(f['top10_in_top10']))}</td>"
                f"<td>{esc(share(f['top10_in_top20']))}</td></tr>"
            )
    table = (
        '<table class="plain" id="clone-choice"><thead><tr><th>Outcome</th><th>Ranked by</th>'
        "<th>Pairs ordered right (apart by more than the noise)</th><th>All pairs</th>"
        "<th>Best 10% in top 10%</th><th>in top 20%</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if rows
        else ""
    )
    return (
        "<h3>How far to trust the ranking</h3><p>From the model's nested evaluation on "
        "held-out campaigns of its training data: for two clones of one campaign, how often "
        "the one it ranks higher was the better one, and how many of each campaign's best "
        f"10% it put near the top. Each target's learner families, weighed on held-out runs: "
        f"{fams or '–'}.</p>{table}"
    )


def _criteria(s: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{esc(c['name'])}</td><td><code>{esc(c['column'])}</code></td>"
        f"<td>{'higher' if c['goal'] == 'max' else 'lower'} is better</td>"
        f"<td>{esc(num(c['low']))} → {esc(num(c['high']))}</td><td>{esc(num(c['weight']))}</td>"
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
    risks = [(r[limit_risk_column(lim["attribute"])], lim) for lim in limits]
    worst = max(((p, lim) for p, lim in risks if np.isfinite(p)), key=lambda t: t[0], default=None)
    top = f"; highest: {esc(limit_text(worst[1]))} {share(worst[0])}" if worst else ""
    why = reasons_cell(r["reasons"])
    return (
        f"<li><b>#{sig(r['rank'])} {esc(r['clone_id'])}</b> ({esc(r['campaign_id'])}): "
        f"glycan risk {share(r['glycans_risk'])}{top}{'. ' + why if why else ''}</li>"
    )


def flags_section(inp: ReportInputs, ranked: pd.DataFrame, unknown: pd.DataFrame) -> str:
    at_risk = ranked[ranked["flag"] == FLAG_RISK]
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


def not_judged_section(inp: ReportInputs, ranked: pd.DataFrame, unknown: pd.DataFrame) -> str:
    s = inp.summary
    by_attr = {lim["attribute"]: lim for lim in s["spec"]["limits"]}
    nj = "".join(
        f"<li>{esc(limit_text(by_attr[a]) if a in by_attr else a)}</li>" for a in s["not_judged"]
    )
    blind = [
        lim for lim in inp.limits if not ranked[limit_risk_column(lim["attribute"])].notna().any()
    ]
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

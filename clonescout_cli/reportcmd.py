"""``clonescout report``: the scored campaign as one HTML page for the campaign lead."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``report --scores FILE --out FILE.html`` to the ``clonescout`` subcommands."""
    p = sub.add_parser(
        "report",
        help="one self-contained HTML page of a scored campaign: ranked clones, flags, plots",
        description="Write one HTML page that opens with no network (plots inlined) from the "
        "files `clonescout score --out FILE` wrote: FILE, and beside it FILE's .clones, "
        ".summary.json and (when runs were rejected) .rejects.csv.",
    )
    p.add_argument(
        "--scores",
        type=Path,
        required=True,
        help="the per-run scores file of `clonescout score` (.parquet or .csv)",
    )
    p.add_argument("--out", type=Path, required=True, help="HTML file to write (.html)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    return run_report(args.scores, args.out)


def run_report(scores: Path, out: Path) -> int:
    """Render and write the page; a bad input is a ValueError (exit 2) and writes nothing."""
    from serving.report import sibling, write_report  # plotly only when a report is made

    out = write_report(scores, out)
    # the summary was checked against the clone table while rendering: its counts are the page's
    summary = json.loads(sibling(scores, "summary.json").read_text(encoding="utf-8"))
    print(
        f"report: {summary['clones_ranked']} clones ranked, {summary['clones_unknown']} "
        f"unknown -> {out}"
    )
    return 0

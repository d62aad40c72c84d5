"""What every command reads and prints the same way: the data it is given, numbers, counts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from features.contract.loader import CampaignData
from features.contract.source import load_source


def load_data(
    data: Path, mapping: Path | None, require_outcomes: bool = False, report: bool = True
) -> tuple[CampaignData, int]:
    """A campaign folder, or a foreign file/folder through an import mapping.

    Returns the data and the number of source rows rejected at import (reported on
    stderr). With ``report``, runs set aside at load are counted on stderr too.
    """
    loaded, imported = load_source(data, mapping, require_outcomes)
    n_rows = 0 if imported is None else len(imported.rejects)
    if imported is not None and n_rows:
        print(f"import: {n_rows} of {imported.rows_in} source rows rejected:", file=sys.stderr)
        for r in imported.rejects.head(10).itertuples():
            print(f"  {r.file} line {r.line}: {r.reason}", file=sys.stderr)
    if report and len(loaded.rejects):
        how = f"clonescout validate --data {data}" + (f" --mapping {mapping}" if mapping else "")
        print(
            f"load: {len(loaded.rejects)} of {loaded.n_runs_in} runs set aside for breaking "
            f"the data contract (`{how}` lists the reasons)",
            file=sys.stderr,
        )
    return loaded, n_rows


def fmt3(x: float | None) -> str:
    """A metric in six characters, three decimals; ``n/a`` for a missing one."""
    return "   n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:6.3f}"


def stages_text(counts: dict) -> str:
    """``{"load": 2, "features": 1}`` -> ``"2 at load, 1 at features"`` (``none`` if empty)."""
    return ", ".join(f"{n} at {stage}" for stage, n in counts.items()) or "none"


def print_clone_choice(decision: dict, out=None) -> None:
    """The figures of :func:`training.decision.decision_block`, one line per outcome.

    Pairs ordered right (apart by more than the noise of a clone mean; all pairs in
    brackets) | the best 10 % in the top 10 % / 20 %, for each ranking that was measured.
    """
    out = out or sys.stdout
    print(
        "  pairs ordered right (apart by more than the noise; all pairs) | "
        "best 10% in the top 10% / 20%",
        file=out,
    )
    for what, b in decision.items():
        parts = [
            f"{name} {fmt3(b[name]['pairwise'])} ({fmt3(b[name]['pairwise_all'])}) | "
            f"{fmt3(b[name]['top10_in_top10'])} / {fmt3(b[name]['top10_in_top20'])}"
            for name in ("model", "pls", "titer_rank", "truth")
            if name in b
        ]
        print(f"  {what:<18} gap {fmt3(b['noise_gap'])}: " + "; ".join(parts), file=out)

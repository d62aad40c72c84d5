"""Write a simulated set the way a lab exports it: with the quirks real files carry.

A share of the runs gets one quirk each, as found in real cell-culture exports:
'<LOQ' and '<0.5' cells, 'n.d.' results, cell-counter viability overshoot (100.4%),
impossible values (140% viability, a negative glucose), a decimal comma ('5,2'), a sample
without a day, a repeated or swapped day, a run of an unknown clone, an empty scale,
samples of a run that runs.csv lacks, an impossible glycan result. Used to try the
rejects path (``clonescout simulate --lab-quirks``), by the load benchmark and the demo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TABLES = ("clones", "runs", "samples", "outcomes")
# (table, column, value): a cell of one row of the chosen run; "<swap>"/"<dup>" edit days
QUIRKS = (
    ("samples", "ammonia_mm", "<LOQ"),
    ("samples", "titer_g_l", "<0.5"),
    ("samples", "viability_pct", "100.4"),
    ("samples", "viability_pct", "140"),
    ("samples", "glucose_g_l", "-0.4"),
    ("samples", "ammonia_mm", "5,2"),
    ("samples", "day", ""),
    ("samples", "day", "<dup>"),
    ("samples", "day", "<swap>"),
    ("runs", "clone_id", "C99-K999"),
    ("runs", "scale", ""),
    ("samples", "run_id", "GHOST"),
    ("outcomes", "g0f_pct", "140"),
    ("outcomes", "dsp_yield_pct", "n.d."),
)


def _quirk(df: pd.DataFrame, rows: np.ndarray, column: str, value: str, k: int) -> None:
    row = rows[max(len(rows) // 2, 1)] if len(rows) > 1 else rows[0]  # row - 1 is the same run
    if value == "<dup>":
        df.loc[row, "day"] = df.loc[row - 1, "day"]
    elif value == "<swap>":
        df.loc[[row - 1, row], "day"] = df.loc[[row, row - 1], "day"].to_numpy()
    elif value == "GHOST":
        df.loc[row, "run_id"] = f"GHOST-R{k}"
    else:
        df.loc[row, column] = value


def add_lab_quirks(folder: Path, share: float, seed: int = 2) -> pd.DataFrame:
    """Give ``share`` of the runs of a CSV set one quirk each, in place.

    Returns what was done: one row per touched run (run_id, table, column, value).
    """
    if not 0 < share <= 1:
        raise ValueError(f"the share of runs with a quirk must be in (0, 1], got {share}")
    paths = {t: folder / f"{t}.csv" for t in TABLES}
    missing = [p.name for p in paths.values() if not p.exists()]
    if missing:
        raise ValueError(f"lab quirks need a CSV set; {folder} lacks {', '.join(missing)}")
    tables = {t: pd.read_csv(p, dtype=str, keep_default_na=False) for t, p in paths.items()}
    rng = np.random.default_rng(seed)
    run_ids = tables["runs"]["run_id"].to_numpy()
    chosen = rng.choice(run_ids, size=max(1, int(len(run_ids) * share)), replace=False)
    rows_of = {t: tables[t].groupby("run_id", sort=False).indices for t in TABLES[1:]}
    done = []
    for k, run_id in enumerate(chosen):
        table, column, value = QUIRKS[k % len(QUIRKS)]
        rows = rows_of[table].get(run_id)
        if rows is not None:
            _quirk(tables[table], np.asarray(rows), column, value, k)
            done.append((run_id, table, column, value))
    for t, df in tables.items():
        df.to_csv(paths[t], index=False)
    return pd.DataFrame(done, columns=["run_id", "table", "column", "value"])


ID_COLUMNS = ("campaign_id", "clone_id", "run_id")
CAMPAIGN_PATTERN = r"^C(\d{2})"


def relabel_tables(tables: dict[str, pd.DataFrame], prefix: str) -> dict[str, pd.DataFrame]:
    """The tables with campaigns C01, C02, ... renamed ``prefix``01, ... in every id column.

    :func:`relabel_campaigns` for tables not yet written (any format).
    """
    out = {}
    for name, df in tables.items():
        df = df.copy()
        for col in ID_COLUMNS:
            if col in df.columns:
                df[col] = (
                    df[col].astype(str).str.replace(CAMPAIGN_PATTERN, prefix + r"\1", regex=True)
                )
        out[name] = df
    return out


def relabel_campaigns(folder: Path, prefix: str) -> None:
    """Rename campaigns C01, C02, ... to ``prefix``01, ... in every id column of a CSV set.

    A new campaign screened later has ids of its own; without this a second simulated set
    reuses the first one's run ids, and scoring would take its runs for training runs.
    """
    for path in sorted(folder.glob("*.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in ID_COLUMNS:
            if col in df.columns:
                df[col] = df[col].str.replace(CAMPAIGN_PATTERN, prefix + r"\1", regex=True)
        df.to_csv(path, index=False)

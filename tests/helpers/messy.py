"""A lab folder with the problems real exports have, each one known (for scoring tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simulator.campaign import SimulationConfig, simulate_set, write_set


def _edit(folder: Path, table: str, change) -> None:
    path = folder / f"{table}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(df).to_csv(path, index=False)


def messy_folder(root: Path) -> tuple[Path, dict[str, str]]:
    cfg = SimulationConfig(n_campaigns=4, clones_per_campaign=10, seed=13, deep_clone_share=0.0)
    folder = root / "lab"
    write_set(simulate_set(cfg), folder, cfg, "csv")
    (folder / "truth.csv").unlink()  # a lab has no truth table
    runs = pd.read_csv(folder / "runs.csv", dtype=str)["run_id"].tolist()
    bad = {"impossible": runs[3], "text": runs[10], "orphan": runs[20], "no_samples": runs[30]}

    def samples(df: pd.DataFrame) -> pd.DataFrame:
        df = df.drop(columns=["titer_g_l"])  # no titer at all (a seed-train export)
        df["do_setpoint_pct"] = "40"  # a constant column
        of = {k: (df["run_id"] == r).to_numpy() for k, r in bad.items()}
        day5 = df["day"].astype(float).between(4.5, 5.5).to_numpy()
        df.loc[of["impossible"] & day5, "viability_pct"] = "140"
        df.loc[of["text"] & day5, "ammonia_mm"] = "5,2"
        df = df[~of["no_samples"]]
        df.loc[df.index[[1, 40, 77]], "viability_pct"] = "100.4"  # counter overshoot
        df.loc[df.index[[2, 41]], "ammonia_mm"] = "<LOQ"
        df.loc[df.index[[5, 60]], "glucose_g_l"] = "<0.5"
        df.loc[df.index[[7]], "lactate_g_l"] = "n.d."
        df.loc[df.index[[8, 9]], "glutamine_mm"] = ["NA", ""]
        df.loc[df.index[[11]], "osmolality_mosm_kg"] = ">2000"
        ghost = df[df["run_id"] == runs[0]].assign(run_id="R-not-in-runs")
        return pd.concat([df, ghost])

    _edit(folder, "samples", samples)
    _edit(folder, "runs", lambda df: df.assign(working_volume_ml="15"))

    def orphan(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(clone_id=df["clone_id"].mask(df["run_id"] == bad["orphan"], "K-X"))

    _edit(folder, "runs", orphan)
    _edit(
        folder,
        "outcomes",
        lambda df: df.assign(man5_pct=df["man5_pct"].mask(df.index == 4, "<0.5")),
    )
    return folder, {**bad, "ghost": "R-not-in-runs"}

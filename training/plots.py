"""Figures logged as MLflow artifacts (PNG, drawn headless)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure  # object API: no pyplot state, no backend switch


def reliability_plot(table: pd.DataFrame, path: Path, title: str) -> Path:
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfectly calibrated")
    ax.plot(table["predicted_risk"], table["observed_out_of_spec"], "o-", label="model")
    ax.set_xlabel("predicted probability out of spec")
    ax.set_ylabel("observed share out of spec")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def horizon_plot(curve: pd.DataFrame, path: Path) -> Path:
    fig = Figure(figsize=(9, 3.8))
    axes = fig.subplots(1, 2)
    reg = curve[curve["target"] != "glyco_risk"]
    for target, grp in reg.groupby("target"):
        axes[0].plot(grp["horizon_day"], grp["r2"], "o-", label=target)
    axes[0].set_xlabel("horizon day (samples used up to)")
    axes[0].set_ylabel("grouped-CV R²")
    axes[0].legend(fontsize=7)
    risk = curve[curve["target"] == "glyco_risk"]
    if len(risk):
        axes[1].plot(risk["horizon_day"], risk["auroc"], "o-", label="AUROC")
        axes[1].plot(risk["horizon_day"], risk["brier"], "s-", label="Brier")
        axes[1].set_xlabel("horizon day")
        axes[1].set_title("glycan out-of-spec risk", fontsize=10)
        axes[1].legend(fontsize=8)
    else:
        axes[1].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path

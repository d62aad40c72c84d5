"""The API's JSON answers, built from the model's output columns and tables.

Every number goes through :func:`num`, so NaN and infinities come back as null, never as
invalid JSON.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from features.contract.spec import Limit
from models.conformal import LEVELS
from models.flags import LIMIT_RISK_PREFIX, limit_risk_column

# the text columns of the ranking frame; the others are numbers
_TEXT_COLUMNS = ("clone_id", "campaign_id", "flag", "flag_reason")


def num(x: object) -> float | None:
    """A JSON-safe float: NaN and infinities become null."""
    if x is None:
        return None
    f = float(x)  # type: ignore[arg-type]
    return f if math.isfinite(f) else None


def split_list(text: str) -> list[str]:
    """A comma-separated cell as a list (blank items dropped)."""
    return [p for p in (s.strip() for s in text.split(",")) if p] if text else []


def predictions(cols: dict[str, Any], j: int, targets: list[str]) -> dict[str, Any]:
    """Run ``j``'s predicted value and conformal intervals per target."""
    preds = {}
    for t in targets:
        p: dict[str, Any] = {"value": num(cols[t][j])}
        for lv in LEVELS:
            pct = round(lv * 100)
            p[f"pi{pct}"] = {
                "lo": num(cols[f"{t}_lo{pct}"][j]),
                "hi": num(cols[f"{t}_hi{pct}"][j]),
            }
        preds[t] = p
    return preds


def limit_risks(
    cols: dict[str, Any], j: int, limits: list[tuple[str, Limit]]
) -> list[dict[str, Any]]:
    """Run ``j``'s probability of falling outside each judged spec limit."""
    return [
        {
            "attribute": lim.attribute,
            "group": g,
            "min": num(lim.min),
            "max": num(lim.max),
            "unit": lim.unit,
            "probability_out": num(cols[limit_risk_column(lim.attribute)][j]),
        }
        for g, lim in limits
    ]


def ranking_frame(results: list[dict[str, Any]], titer: pd.DataFrame) -> pd.DataFrame:
    """Scored runs as the per-run table :func:`models.ranking.clone_table` pools.

    ``titer``: per run id, the latest measured titer and its day.
    """
    rows = []
    for r in results:
        y = r["predictions"].get("dsp_yield_pct", {})
        t = titer.loc[r["run_id"]] if r["run_id"] in titer.index else None
        rows.append(
            {
                "clone_id": r["clone_id"],
                "campaign_id": r["campaign_id"],
                "flag": r["flag"],
                "flag_reason": r["flag_reason"],
                "titer_g_l": np.nan if t is None else t["titer_g_l"],
                "titer_day": np.nan if t is None else t["titer_day"],
                "dsp_yield_pct": y.get("value"),
                "dsp_yield_pct_lo90": y.get("pi90", {}).get("lo"),
                "dsp_yield_pct_hi90": y.get("pi90", {}).get("hi"),
                "glycans_risk": r["risk"].get("glycans"),
                "downstream_risk": r["risk"].get("downstream"),
                **{
                    limit_risk_column(lim["attribute"]): lim["probability_out"]
                    for lim in r["limits"]
                },
            }
        )
    frame = pd.DataFrame(rows)
    numbers = frame.columns.difference(list(_TEXT_COLUMNS))
    frame[numbers] = frame[numbers].astype(float)
    return frame


def clone_places(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a clone table as the API's ``ClonePlace`` objects, in order."""
    out = []
    for rec in table.to_dict("records"):
        place: dict[str, Any] = {
            "limit_risks": {},
            "desirabilities": {},
        }
        for key, v in rec.items():
            k = str(key)
            if k.startswith(LIMIT_RISK_PREFIX):
                place["limit_risks"][k.removeprefix(LIMIT_RISK_PREFIX)] = num(v)
            elif k.startswith("d_"):
                place["desirabilities"][k[2:]] = num(v)
            elif k == "rank":
                place[k] = None if v is pd.NA or v is None else int(v)
            elif isinstance(v, str | bool | np.bool_):
                place[k] = v if isinstance(v, str) else bool(v)
            elif k in ("runs", "runs_unknown"):
                place[k] = int(v)
            else:
                place[k] = num(v)
        out.append(place)
    return out


def target_explanation(
    target: str, model: Any, A: np.ndarray, medians: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """One target's prediction for the one run of ``A`` as base value plus contributions.

    ``model`` is the target's fitted model (``contributions`` and ``predict`` on the
    feature matrix ``A``); contributions come largest first.
    """
    values = A.astype(float)[0]
    contrib = model.contributions(A)[0].astype(float)
    raw = float(model.predict(A)[0])
    order = np.argsort(-np.abs(contrib), kind="stable")
    return {
        "target": target,
        "base_value": raw - float(contrib.sum()),
        "prediction": raw,
        "contributions": [
            {
                "feature": names[k],
                "value": num(values[k]),
                "training_median": num(medians[k]),
                "contribution": float(contrib[k]),
            }
            for k in order
        ],
    }

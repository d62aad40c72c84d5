"""The ``/whatif`` endpoint's work: a JSON request in, :func:`models.whatif.whatif` out.

The same function as ``clonescout whatif``; only the input differs (the clone, its runs and
the candidates come in the request instead of a campaign folder).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from models.bundle import Bundle
from models.nextexp import propose
from models.whatif import DEFAULT_MAP, WhatIfError, whatif

TOP_CANDIDATES = 50  # candidates returned in full (best expected product first)


class NoProcessModel(WhatIfError):
    """The served bundle cannot answer what-if questions."""


def answer(bundle: Bundle, ref: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Score the request's clone under its candidates; notes say what was read how."""
    pm = bundle.process
    if pm is None:
        raise NoProcessModel(
            "the served model has no process model (trained before what-if existed, or on "
            "data with no varying conditions): retrain with `clonescout train`"
        )
    notes: list[str] = []
    clone = pd.Series(request["clone"])
    for col in pm.clone_columns:
        v = clone.get(col)
        if isinstance(v, str):
            number = pd.to_numeric(pd.Series([v]), errors="coerce").iloc[0]
            if pd.isna(number):
                notes.append(f"clone.{col} = {v!r} read as missing (not a number)")
            clone[col] = number
    runs = pd.DataFrame(
        [{"run_id": r["run_id"], **r["conditions"]} for r in request.get("runs", [])],
        columns=["run_id", *pm.factors],
    )
    for r in request.get("runs", []):
        unknown = sorted(set(r["conditions"]) - set(pm.factors))
        if unknown:
            raise WhatIfError(
                f"runs[{r['run_id']}].conditions: {unknown} are not process factors of this "
                f"model ({pm.factors})"
            )
    measured = [
        {**{t: v for t, v in r["outcomes"].items() if t in pm.targets}, "run_id": r["run_id"]}
        for r in request.get("runs", [])
    ]
    outcomes = pd.DataFrame(measured) if any(len(m) > 1 for m in measured) else None
    grid = None if request.get("candidates") is None else pd.DataFrame(request["candidates"])
    if grid is not None and grid.empty:
        raise WhatIfError("candidates: an empty list (omit it for a space-filling set)")
    result = whatif(
        pm,
        bundle.predictor.spec,
        clone,
        runs,
        outcomes,
        grid=grid,
        optimise=bool(request.get("optimise", False)),
        n_candidates=int(request.get("n_candidates", 500)),
        min_spec_prob=float(request.get("min_spec_prob", 0.0)),
        design_space=tuple(request.get("design_space", DEFAULT_MAP)),  # type: ignore[arg-type]
    )
    body = {"model": ref, "notes": notes, **result.to_dict(top=TOP_CANDIDATES)}
    k = int(request.get("next_experiments", 0))
    if k:
        plan = propose(pm, bundle.predictor.spec, clone, runs, outcomes, k=k, grid=grid)
        body["next_experiments"] = plan.to_dict()
    return body

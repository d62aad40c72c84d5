"""The ``/whatif`` endpoint's work: a JSON request in, :func:`models.whatif.whatif` out.

The same function as ``clonescout whatif``; only the input differs (the clone, its runs and
the candidates come in the request instead of a campaign folder).

The request is read through :class:`serving.schemas.WhatIfRequest`, so every field the
client left out takes the schema's default, however the body was dumped. Before any work
it is held to the data contract's physical ranges and to the served model: a clone assay,
measured condition or measured outcome outside its physical range (a doubling time of
0 h, an infinite titer), a run id given for two runs, a condition or candidate naming
something that is not a process factor of the model, candidates none of which names a
factor, or a design-space pair that is not two of the model's factors is a
:class:`RequestError` naming the field path (``request.clone.doubling_time_h``), the value
found and what was expected. A missing value (null, or NaN) stays allowed: it is read as
not measured. Candidates outside the training box are not refused: they come back in
``excluded`` with their reason, as from ``clonescout whatif``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features.contract.schemas import ANY_NUMBER, CONTRACTS, Bound
from models.bundle import Bundle
from models.nextexp import propose
from models.process import ProcessModel
from models.whatif import WhatIfError, json_value, whatif
from serving.guard import duplicate_runs, shown_value
from serving.schemas import WhatIfRequest

TOP_CANDIDATES = 50  # candidates returned in full (best expected product first)


class NoProcessModel(WhatIfError):
    """The served bundle cannot answer what-if questions."""


class RequestError(WhatIfError):
    """A what-if request the served model cannot read as sent: where, what, what instead.

    ``path`` is the field path in the request body (``request.runs[0].conditions``); the
    message starts with it, so it shows wherever only the message does.
    """

    def __init__(self, path: str, value: Any, expected: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.value, self.expected = path, shown_value(value), expected


def answer(
    bundle: Bundle, ref: dict[str, Any], request: WhatIfRequest | dict[str, Any]
) -> dict[str, Any]:
    """Score the request's clone under its candidates; notes say what was read how.

    ``request`` is the endpoint's ``request`` object (a model, or its dump with or without
    the unset fields). Raises :class:`RequestError` for a request this model cannot read.
    """
    pm = bundle.process
    if pm is None:
        raise NoProcessModel(
            "the served model has no process model (trained before what-if existed, or on "
            "data with no varying conditions): retrain with `clonescout train`"
        )
    req = request if isinstance(request, WhatIfRequest) else WhatIfRequest.model_validate(request)
    clone, notes = _clone(pm, req)
    check(pm, req, clone)
    runs = pd.DataFrame(
        [{"run_id": r.run_id, **r.conditions} for r in req.runs],
        columns=["run_id", *pm.factors],
    )
    outcomes = _outcomes(pm, req)
    grid = None if req.candidates is None else pd.DataFrame(req.candidates)
    spec, pair = bundle.predictor.spec, req.design_space
    # a candidate far outside the training box (1e308) overflows the domain's distance to
    # infinity: it is excluded with its reason, and numpy's warning about it says nothing more
    with np.errstate(over="ignore", invalid="ignore"):
        result = whatif(
            pm,
            spec,
            clone,
            runs,
            outcomes,
            grid=grid,
            optimise=req.optimise,
            n_candidates=int(req.n_candidates),
            min_spec_prob=float(req.min_spec_prob),
            design_space=None if pair is None else (pair[0], pair[1]),
        )
        body = {"model": ref, "notes": notes, **result.to_dict(top=TOP_CANDIDATES)}
        if req.next_experiments:
            plan = propose(pm, spec, clone, runs, outcomes, k=req.next_experiments, grid=grid)
            # with no measured run there is no best so far: NaN, sent as null
            body["next_experiments"] = {k: json_value(v) for k, v in plan.to_dict().items()}
    return body


def _outcomes(pm: ProcessModel, req: WhatIfRequest) -> pd.DataFrame | None:
    """The measured outcomes as a campaign's outcomes table has them, or None if none.

    Every target is a column, as in a file (a target no run measured is all NaN), so a
    request measuring only some targets reads as a campaign measuring only those.
    """
    measured = [
        {**{t: v for t, v in r.outcomes.items() if t in pm.targets}, "run_id": r.run_id}
        for r in req.runs
    ]
    if not any(len(m) > 1 for m in measured):
        return None
    outcomes = pd.DataFrame(measured)
    for t in pm.targets:
        if t not in outcomes:
            outcomes[t] = float("nan")
    return outcomes


def _clone(pm: ProcessModel, req: WhatIfRequest) -> tuple[pd.Series, list[str]]:
    """The clone as sent (absent assays stay absent), its numeric assays read as numbers.

    Held as objects: a clone sent all as text must still take a number where one is read.
    """
    notes: list[str] = []
    sent = req.clone.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
    clone = pd.Series(sent, dtype="object")
    for col in pm.clone_columns:
        v = clone.get(col)
        if isinstance(v, str):
            number = pd.to_numeric(pd.Series([v]), errors="coerce").iloc[0]
            if pd.isna(number):
                notes.append(f"clone.{col} = {v!r} read as missing (not a number)")
            clone[col] = number
    return clone, notes


def check(pm: ProcessModel, req: WhatIfRequest, clone: pd.Series) -> None:
    """Refuse what the served model cannot read, naming the first field at fault.

    ``clone`` is the request's clone as read (:func:`_clone`: its assays as numbers).

    Raises
    ------
    RequestError
        A clone assay, measured condition or measured outcome outside its physical range,
        a run id given twice, a condition or candidate naming something that is not a
        process factor of the model, candidates none of which names a factor, or a design
        space that is not two of the model's factors.
    """
    _in_range(clone.to_dict(), pm.clone_columns, "clones", "request.clone")
    factors = f"process factors of this model ({', '.join(pm.factors)})"
    for dup in duplicate_runs(req)[:1]:  # measured runs are matched to outcomes by id
        raise RequestError(
            f"request.{dup['path']}",
            dup["value"],
            dup["expected"],
            f"run id {dup['value']!r} is given for two runs",
        )
    for i, r in enumerate(req.runs):
        _known(r.conditions, pm, f"request.runs[{i}].conditions", factors)
        _in_range(r.conditions, pm.factors, "runs", f"request.runs[{i}].conditions")
        _in_range(r.outcomes, pm.targets, "outcomes", f"request.runs[{i}].outcomes")
    if req.candidates is not None:
        if not any(req.candidates):  # no candidate names a factor: nothing to score
            raise RequestError(
                "request.candidates",
                req.candidates,
                "at least one candidate naming a factor, or no 'candidates' field (a "
                "space-filling set)",
                "no candidate names a factor (omit the field for a space-filling set)",
            )
        for i, cand in enumerate(req.candidates):
            _known(cand, pm, f"request.candidates[{i}]", factors)
    pair = req.design_space
    if pair is not None and (pair[0] == pair[1] or not set(pair) <= set(pm.factors)):
        raise RequestError(
            "request.design_space",
            pair,
            f"two different {factors}",
            f"design-space factors must be two different {factors}; got {pair}",
        )


def _known(conditions: dict[str, Any], pm: ProcessModel, path: str, factors: str) -> None:
    unknown = sorted(set(conditions) - set(pm.factors))
    if unknown:
        raise RequestError(
            path,
            ", ".join(unknown),
            factors,
            f"{unknown} are not {factors}; an absent factor takes the platform value",
        )


def _in_range(values: Mapping[Any, Any], read: list[str], table: str, path: str) -> None:
    """Numbers the model reads (``read``) within the contract's physical range for ``table``.

    One the contract does not bound (a screen's glycan assay) must still be a number the
    model can read (:data:`ANY_NUMBER`). A missing value (None or NaN) passes: it is
    read as not measured.
    """
    bounds: dict[str, Bound] = CONTRACTS[table].known_numeric
    for name in read:
        v, bound = values.get(name), bounds.get(name, ANY_NUMBER)
        if not isinstance(v, numbers.Real) or isinstance(v, bool):
            continue
        v = float(v)  # a NumPy number (a clone assay read from text) as JSON takes it
        if math.isnan(v):
            continue
        low = -math.inf if bound.low is None else bound.low
        high = math.inf if bound.ceiling is None else bound.ceiling
        if not low <= v <= high:
            raise RequestError(
                f"{path}.{name}",
                v,
                bound.describe(),
                f"{v!r} is outside its range ({bound.describe()})",
            )

"""Request bodies of the HTTP API, built from the data contract.

The field lists, units and physical bounds come from :data:`features.contract.schemas.CONTRACTS`,
so the API documents exactly the contract the folder loader enforces. Two kinds of bad
input are told apart:

- a request that is not shaped like the API (not JSON, a missing ``run_id``, a list where
  an object belongs, a boolean where a measurement belongs, two runs with one id) is
  refused as a whole with a 4xx naming the field path, the value and what was expected;
- a run whose *data* break the contract (a value out of its physical range, days out of
  order, text such as ``'5,2'`` in a measurement) is a lab problem, not a client bug: the
  run comes back with ``status: "rejected"`` and its reasons, beside the scored runs.

Measurements accept the censored forms of the contract (``"<LOQ"``, ``"<0.5"``, ``">300"``,
``"NA"``), read exactly as from a file (see ``data/README.md``). The response bodies are in
:mod:`serving.answer_schemas`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from features.contract.schemas import CONTRACTS, Bound
from models.whatif import DEFAULT_MAP


def openapi30(schema: dict[str, Any]) -> None:
    """Rewrite pydantic's unions so BentoML's OpenAPI 3.0 keeps them (in place, recursive).

    BentoML flattens every ``anyOf`` to its first member, so ``float | None`` would be
    documented as a plain number and a ``null`` in a response would break its own schema
    (schemathesis found this). ``X | None`` becomes ``X`` with ``nullable: true`` (OpenAPI
    3.0); a union of several types becomes a ``oneOf``, which BentoML leaves alone.
    """
    if isinstance(schema, dict):
        members = schema.get("anyOf")
        if isinstance(members, list):
            kinds = [m for m in members if m != {"type": "null"}]
            nullable = len(kinds) < len(members)
            del schema["anyOf"]
            if len(kinds) == 1 and "$ref" not in kinds[0]:
                schema.update(kinds[0])
                if nullable:
                    schema["nullable"] = True
            else:
                if nullable:
                    kinds = [{**kinds[0], "nullable": True}, *kinds[1:]]
                schema["oneOf"] = kinds
        for value in schema.values():
            if isinstance(value, dict):
                openapi30(value)
            elif isinstance(value, list):
                for item in value:
                    openapi30(item)


class ApiModel(BaseModel):
    """Base of every request and response body: unions documented the OpenAPI 3.0 way."""

    model_config = ConfigDict(json_schema_extra=openapi30)  # type: ignore[typeddict-item]


# run, clone and sample records take extra columns (a lab's own assays); request bodies don't
_OPEN = ConfigDict(strict=True, allow_inf_nan=False, extra="allow", json_schema_extra=openapi30)
_CLOSED = ConfigDict(strict=True, extra="forbid", json_schema_extra=openapi30)

MAX_RUNS_PER_REQUEST = 1000
MAX_SAMPLES_PER_RUN = 500

Reading = float | str | None
Label = str | float | None


def _describe(unit_and_meaning: str, bound: Bound | None) -> str:
    rng = ""
    if bound is not None and (bound.low is not None or bound.high is not None):
        lo = "-inf" if bound.low is None else f"{bound.low:g}"
        hi = "inf" if bound.high is None else f"{bound.high:g}"
        rng = f" Physical range {lo} to {hi}"
        if bound.overshoot:
            rng += f" (up to {bound.ceiling:g} is read as instrument overshoot and clipped)"
        rng += "; a value outside it rejects this run, not the request."
    return unit_and_meaning + "." + rng


_SAMPLE_TEXT = {
    "day": "culture day since inoculation (float; increasing within a run)",
    "vcd_e6_ml": "viable cell density, 1e6 cells/mL",
    "viability_pct": "viability, %",
    "glucose_g_l": "glucose, g/L",
    "lactate_g_l": "lactate, g/L",
    "glutamine_mm": "glutamine, mM",
    "ammonia_mm": "ammonium, mM",
    "titer_g_l": "antibody titer (Protein A HPLC), g/L",
    "osmolality_mosm_kg": "osmolality, mOsm/kg",
    "ph": "offline pH",
    "temperature_c": "culture temperature, °C",
    "do_pct": "dissolved oxygen, % air saturation",
    "pco2_mmhg": "dissolved CO2, mmHg",
}
_RUN_TEXT = {
    "temp_shift_day": "culture day of the temperature shift; null = no shift",
    "temp_after_shift_c": "temperature after the shift, °C (36.5 = no shift)",
    "ph_setpoint": "pH set point",
    "feed_pct": "daily bolus feed from day 2, % of working volume per day",
    "mn_um": "MnCl2 supplement, µM",
    "galactose_mm": "galactose supplement, mM",
    "seed_density_e6_ml": "inoculation density, 1e6 cells/mL",
}
_CLONE_TEXT = {
    "ss_titer_g_l": "small-scale titer from the screen, g/L",
    "doubling_time_h": "doubling time in the screen, h",
    "stability_pct": "titer retained over 60 generations, %",
    "lc_hc_ratio": "light-chain : heavy-chain expression ratio",
    # the screen's glycan and aggregate assays (data/README.md): not bounded by the contract,
    # but declared so that every client sends them (BentoML's client drops undeclared fields)
    "ss_hmw_pct": "HMW of the small-scale Protein A eluate (HT-SEC), %",
    "ss_g0f_pct": "G0F of small-scale material (HT glycan method), % of N-glycans",
    "ss_man5_pct": "Man5 of small-scale material, % of N-glycans",
    "ss_afucosylated_pct": "afucosylated glycans of small-scale material, % of N-glycans",
}
_READING_NOTE = " A number, null, or a censored/flag text of the contract ('<LOQ', '<0.5', 'NA')."


def _fields(table: str, text: dict[str, str]) -> dict[str, Any]:
    contract = CONTRACTS[table]
    out: dict[str, Any] = {}
    for name, meaning in text.items():
        bound = contract.known_numeric.get(name)
        desc = _describe(meaning, bound) + _READING_NOTE
        out[name] = (Reading, Field(default=None, description=desc))
    return out


Sample = create_model(  # type: ignore[call-overload]
    "Sample",
    __config__=_OPEN,
    __doc__=(
        "One culture sample of a run. Other numeric measurements may be added under their own "
        "names (keep the unit in the name)."
    ),
    day=(
        float,
        Field(
            description=_describe(_SAMPLE_TEXT["day"], CONTRACTS["samples"].required_numeric["day"])
        ),
    ),
    **_fields("samples", {k: v for k, v in _SAMPLE_TEXT.items() if k != "day"}),
)


class CloneBase(ApiModel):
    """The clone a run belongs to, with its screening assays (extra assays allowed)."""

    model_config = _OPEN
    clone_id: Annotated[str, Field(min_length=1, max_length=200, description="clone identifier")]
    campaign_id: Annotated[
        str, Field(min_length=1, max_length=200, description="screening campaign")
    ]
    molecule: Annotated[
        str, Field(min_length=1, max_length=200, description="the antibody the clone expresses")
    ]


Clone = create_model(  # type: ignore[call-overload]
    "Clone",
    __base__=CloneBase,
    **_fields("clones", _CLONE_TEXT),
)


class RunBase(ApiModel):
    """One bioreactor run: its conditions, its clone and its samples."""

    model_config = _OPEN
    run_id: Annotated[
        str,
        Field(min_length=1, max_length=200, description="run identifier, unique in the request"),
    ]
    scale: Annotated[
        str, Field(min_length=1, max_length=100, description="bioreactor scale, e.g. 'ambr15'")
    ]
    clone: Clone  # type: ignore[valid-type]
    samples: Annotated[
        list[Sample],  # type: ignore[valid-type]
        Field(
            max_length=MAX_SAMPLES_PER_RUN,
            description="the run's samples (may be empty: the run is then rejected with why)",
        ),
    ]


Run = create_model(  # type: ignore[call-overload,misc]
    "Run",
    __base__=RunBase,
    **_fields("runs", _RUN_TEXT),
)


ReasonMode = Literal["all", "flagged", "none"]  # models.reasons.REASON_MODES
REASONS_HELP = (
    "which scored runs carry their top reasons (tree SHAP): 'all' (default), 'flagged' (runs "
    "at risk or near the edge of experience; every flag keeps its reasons) or 'none' "
    "(fastest); the others answer with empty reasons"
)


class ScoreRequest(ApiModel):
    """Runs to score (one or many)."""

    model_config = _CLOSED
    runs: Annotated[
        list[Run],  # type: ignore[valid-type]
        Field(min_length=1, max_length=MAX_RUNS_PER_REQUEST),
    ]
    reasons: Annotated[ReasonMode, Field(description=REASONS_HELP)] = "all"


class ExplainRequest(ApiModel):
    """One run to explain."""

    model_config = _CLOSED
    run: Run  # type: ignore[valid-type]


MAX_WHATIF_CANDIDATES = 5000
Condition = dict[str, float | None]


class MeasuredRun(ApiModel):
    """A run of the clone already made: its conditions and (optionally) measured outcomes."""

    model_config = _CLOSED
    run_id: Annotated[str, Field(min_length=1, max_length=200)]
    conditions: Annotated[
        Condition,
        Field(description="process factors of the run (" + ", ".join(_RUN_TEXT) + ")"),
    ]
    outcomes: Annotated[
        dict[str, float | None],
        Field(
            default_factory=dict,
            description="measured outcomes (e.g. final_titer_g_l, dsp_yield_pct, g0f_pct): "
            "the what-if predictions are anchored on them",
        ),
    ]


class WhatIfRequest(ApiModel):
    """A clone and the conditions to score it under (default: a space-filling set)."""

    model_config = _CLOSED
    clone: Clone  # type: ignore[valid-type]
    runs: Annotated[list[MeasuredRun], Field(default_factory=list, max_length=100)]
    candidates: Annotated[
        list[Condition] | None,
        Field(
            default=None,
            max_length=MAX_WHATIF_CANDIDATES,
            description="candidate conditions; absent factors take the platform value",
        ),
    ]
    optimise: bool = False
    n_candidates: Annotated[int, Field(default=500, ge=1, le=MAX_WHATIF_CANDIDATES)]
    min_spec_prob: Annotated[float, Field(default=0.0, ge=0.0, le=1.0)]
    design_space: Annotated[
        list[str] | None,
        Field(
            default_factory=lambda: list(DEFAULT_MAP),
            min_length=2,
            max_length=2,
            description="the two factors of the design-space map; null for no map (a "
            "single point answers faster without one)",
        ),
    ]
    next_experiments: Annotated[
        int,
        Field(
            default=0,
            ge=0,
            le=20,
            description="also propose this many next experiments (expected improvement on "
            "the clone's own surface, see models.nextexp); 0 for none",
        ),
    ]


class WhatIfBody(ApiModel):
    """The ``/whatif`` body as it arrives: the request under ``request``.

    BentoML keys a body by the endpoint's parameter names; this is what
    :class:`serving.guard.Guard` validates, so a misshapen what-if request gets the 422
    /score gets (``request.runs[0].conditions``: value found, what was expected). Other
    top-level keys are ignored, as BentoML ignores them.
    """

    model_config = ConfigDict(strict=True, extra="ignore", json_schema_extra=openapi30)
    request: WhatIfRequest

"""Response bodies of the HTTP API: scored and rejected runs, explanations, ranked clones.

The engine builds these answers as plain JSON (:mod:`serving.answers`); the models here
document them in the OpenAPI description, the way :class:`serving.schemas.ApiModel` keeps
``null`` where a number may be missing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from models.flags import Flag
from serving.schemas import ApiModel


class ModelRef(ApiModel):
    """The model that answered: name, version, and the hash of the data it was trained on."""

    name: str
    version: str
    uri: str
    data_hash: str
    horizon_day: float


class Interval(ApiModel):
    """A prediction interval; null bounds when the run is unknown."""

    lo: float | None
    hi: float | None


class Prediction(ApiModel):
    """A predicted outcome with split-conformal intervals (null when the run is unknown)."""

    value: float | None
    pi80: Interval
    pi90: Interval


class LimitRisk(ApiModel):
    """P(the attribute falls outside this spec limit), from the predictive distribution."""

    attribute: str
    group: Literal["glycans", "downstream"]
    min: float | None
    max: float | None
    unit: str
    probability_out: float | None


class ScoredRun(ApiModel):
    """A run the model scored (its flag may still be 'unknown': then no numbers)."""

    status: Literal["scored"]
    run_id: str
    prediction_id: str = Field(
        description="names this prediction in the prediction log: the same model version and "
        "the same inputs give the same id (outcomes can be joined to it)"
    )
    clone_id: str
    campaign_id: str
    flag: Flag
    flag_reason: str
    predictions: dict[str, Prediction]
    risk: dict[str, float | None]
    limits: list[LimitRisk]
    not_judged: list[str]
    reasons: dict[str, list[str]]
    applicability: str
    t2: float
    dmodx: float
    missing_families: list[str]
    extrapolation: dict[str, float]
    seen_in_training: str
    model: ModelRef


class RejectedRun(ApiModel):
    """A run set aside before the model, with every reason (data contract or features)."""

    status: Literal["rejected"]
    run_id: str
    stage: str
    reasons: list[str]
    model: ModelRef


RunResult = Annotated[ScoredRun | RejectedRun, Field(discriminator="status")]


class ScoreResponse(ApiModel):
    """One result per run sent, in order, and the model that answered."""

    model: ModelRef
    runs_in: int
    scored: int
    rejected: int
    results: list[RunResult]


class Contribution(ApiModel):
    """One feature's additive contribution to one prediction (target units)."""

    feature: str
    value: float | None
    training_median: float | None
    contribution: float


class TargetExplanation(ApiModel):
    """base_value + sum(contributions) = prediction (before clipping to bounds)."""

    target: str
    base_value: float
    prediction: float
    contributions: list[Contribution]


class ExplainResponse(ApiModel):
    """The run's result and every feature's contribution per target."""

    model: ModelRef
    run: RunResult
    explanations: list[TargetExplanation]


class ClonePlace(ApiModel):
    """A clone's place (``models.ranking``): replicates pooled, desirability, Pareto front.

    Unknown clones (every run ``unknown``) have ``rank`` null and no numbers.
    """

    rank: int | None
    clone_id: str
    campaign_id: str
    status: Literal["ranked", "unknown"]
    flag: Flag
    runs: int
    runs_unknown: int
    titer_g_l: float | None = Field(description="latest measured titer, mean over known runs, g/L")
    titer_sd_g_l: float | None
    titer_day: float | None
    dsp_yield_pct: float | None
    dsp_yield_sd_pct: float | None
    dsp_yield_lo90: float | None
    dsp_yield_hi90: float | None
    expected_product_g_l: float | None = Field(description="titer x predicted yield, g/L")
    expected_product_lo90: float | None
    expected_product_hi90: float | None
    glycans_risk: float | None
    downstream_risk: float | None
    limit_risks: dict[str, float | None] = Field(description="P(outside each spec limit)")
    desirabilities: dict[str, float | None] = Field(description="one per criterion, 0-1")
    desirability: float | None = Field(description="weighted geometric mean, 0-1")
    pareto: bool
    criteria_used: str
    reasons: str


class MovedColumn(ApiModel):
    """A feature (or T², DModX, the outside share) whose campaign mean left experience."""

    column: str
    new_mean: float | None
    training_campaigns_mean: float | None
    t: float | None = Field(description="Student's t against the training campaigns' spread")
    p_adjusted: float = Field(description="Benjamini-Hochberg adjusted p-value")


class BeyondRange(ApiModel):
    """A process condition a campaign ran beyond the range of every training run."""

    column: str
    trained: list[float | None] = Field(description="lowest and highest in training")
    campaign: list[float | None] = Field(description="lowest and highest in this campaign")


class CampaignDrift(ApiModel):
    """One campaign's drift verdict against the training campaigns (models.drift)."""

    campaign_id: str
    verdict: Literal["none", "drift", "outside experience"]
    drifted: list[str]
    sentence: str
    runs: int
    outside_share: float
    nominal_outside_share: float
    fdr: float
    tests: int
    not_measured: list[str] = Field(description="features the campaign did not measure")
    beyond_trained_range: list[BeyondRange] = Field(
        default_factory=list,
        description="process conditions run beyond the trained range (outside experience)",
    )
    moved: list[MovedColumn]


class DriftAnswer(ApiModel):
    """Drift before outcomes, per campaign; unavailable for models trained before it."""

    available: bool
    why: str | None = None
    method: str | None = None
    campaigns: list[CampaignDrift] = Field(default_factory=list)


class CampaignResponse(ApiModel):
    """A scored campaign: ranked clones, every run scored or rejected."""

    model: ModelRef
    runs_in: int
    scored: int
    rejected: int
    clones: list[ClonePlace]
    drift: DriftAnswer
    rejects: list[RejectedRun]
    results: list[RunResult]


class ModelInfo(ApiModel):
    """What is served: identity, cross-validated metrics, spec, features."""

    model: ModelRef
    alias: str | None
    targets: list[str]
    metrics: dict[str, Any]
    spec: dict[str, Any]
    features: list[str]
    required_families: dict[str, list[str]]
    training_runs: int
    manifest: dict[str, Any]

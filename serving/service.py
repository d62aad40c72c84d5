"""The clonescout HTTP API: a BentoML 1.4 class service around :class:`serving.engine.Engine`.

Start it with ``clonescout serve`` (or ``bentoml serve serving.app:Clonescout``); it is
configured through environment variables (:mod:`serving.config`), read when the service is
built (:func:`build`, called by the server's entry module :mod:`serving.app`) and when each
worker starts, never when this module is imported. Each worker loads the
model once, in the background: ``/livez`` answers at once, ``/readyz`` only when the model
is loaded, and the scoring endpoints answer 503 until then.

Endpoints (JSON unless said): ``/score`` (one or many runs), ``/score_campaign`` (a
campaign file upload, multipart, read by :mod:`serving.upload`), ``/whatif`` (a clone
under candidate process conditions), ``/explain`` (one run, every feature's contribution),
``/outcomes`` (measured outcomes of runs scored earlier, joined to the prediction log),
``/monitor`` (what the served version delivered on them beside its promise), ``/model``
(what is served), ``/livez``, ``/readyz``, ``/metrics`` (Prometheus) and the
OpenAPI description at ``/docs.json``.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import Field

from models.reasons import REASON_MODES
from serving.answer_schemas import CampaignResponse, ExplainResponse, ModelInfo, ScoreResponse
from serving.batching import Batcher
from serving.config import UI_PREFIX, Settings
from serving.deadline import install as install_deadline
from serving.examples import EXAMPLE_RUN
from serving.guard import NOT_READY, Guard, error_response, json_response
from serving.schemas import (
    MAX_RUNS_PER_REQUEST,
    REASONS_HELP,
    ExplainRequest,
    ReasonMode,
    Run,
    ScoreRequest,
    WhatIfBody,
    WhatIfRequest,
)
from serving.upload import UploadError, campaign, check_upload, outcomes
from serving.web.app import attach as attach_pages
from serving.web.app import web_app

log = logging.getLogger("clonescout.serving")
NAME = "clonescout"
REQUEST_TIMEOUT_S = 120  # a request not answered by then gets a 504 (serving.deadline)


# the prediction log, counted per worker process (bentoml.metrics: multiprocess-safe)
PREDICTIONS_LOGGED = bentoml.metrics.Counter(
    name="clonescout_predictions_logged",
    documentation="scored runs appended to the prediction log",
)
PREDICTIONS_NOT_LOGGED = bentoml.metrics.Counter(
    name="clonescout_predictions_not_logged",
    documentation="scored runs whose prediction-log write failed (answered unless the log "
    "is required: CLONESCOUT_PREDICTION_LOG_REQUIRED)",
)


def _count_log(logged: int, failed: int) -> None:
    if logged:
        PREDICTIONS_LOGGED.inc(logged)
    if failed:
        PREDICTIONS_NOT_LOGGED.inc(failed)


class Clonescout:
    """Loads the model once per worker and scores runs, campaigns and explanations.

    The plain class: :func:`build` makes it a BentoML service.
    """

    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self.engine: Any = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score")
        self.batchers: dict[str, Batcher] = {}  # one per reasons mode
        attach_pages(self)
        threading.Thread(target=self._load, name="load-model", daemon=True).start()

    def _load(self) -> None:
        from models.registry import use_tracking
        from serving.engine import load_engine
        from serving.predlog import open_sink

        try:
            sink = open_sink(use_tracking())  # a required log that cannot open: no start
            if sink.open_error:
                log.error("%s: answering without it (counted in /metrics)", sink.open_error)
            engine = load_engine(self.settings.model_uri, sink.log, sink.required, sink.open_error)
            engine.warm_up(self.settings.threads)
            engine.log_tally.on_log = _count_log
        except Exception as exc:  # reported by /readyz staying 503 and in the log
            log.error("cannot load the model %s: %s", self.settings.model_uri, exc)
            return
        self.batchers = {
            mode: Batcher(
                functools.partial(engine.score, reasons=mode),
                self.executor,
                self.settings.max_batch_runs,
            )
            for mode in REASON_MODES
        }
        # the loaded libraries and model are millions of long-lived objects: moved out of the
        # collector's reach, a full collection no longer walks them mid-request (p99 spikes)
        gc.collect()
        gc.freeze()
        self.engine = engine
        log.info("serving %s (version %s)", engine.served.uri, engine.served.version)

    def __is_ready__(self) -> bool:
        return self.engine is not None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    @bentoml.api(route="/score")
    async def score(
        self,
        runs: Annotated[
            list[Run],  # type: ignore[valid-type]
            Field(
                min_length=1,
                max_length=MAX_RUNS_PER_REQUEST,
                description="runs to score, each with its clone and samples",
                examples=[[EXAMPLE_RUN]],
            ),
        ],
        reasons: Annotated[ReasonMode, Field(description=REASONS_HELP)] = "all",
    ) -> ScoreResponse:
        """Score one or many runs: predictions with intervals, spec risk, flag and reasons.

        A run whose data break the contract comes back with status 'rejected' and its
        reasons, beside the scored ones; the request itself succeeds.
        """
        if self.engine is None or not self.batchers:
            return error_response(503, NOT_READY)  # type: ignore[return-value]
        from serving.engine import LogRefused

        records = [r.model_dump(exclude_unset=True) for r in runs]  # type: ignore[attr-defined]
        try:
            if self.settings.batching:
                results = await self.batchers[reasons].submit(records)
            else:
                results = await self._run(self.engine.score, records, reasons)
        except LogRefused as exc:
            return error_response(503, str(exc))  # type: ignore[return-value]
        n_rej = sum(r["status"] == "rejected" for r in results)
        body = {
            "model": self.engine.ref,
            "runs_in": len(results),
            "scored": len(results) - n_rej,
            "rejected": n_rej,
            "results": results,
        }
        return json_response(body)  # type: ignore[return-value]

    @bentoml.api(route="/explain")
    async def explain(
        self,
        run: Annotated[
            Run,  # type: ignore[valid-type]
            Field(description="the run to explain", examples=[EXAMPLE_RUN]),
        ],
    ) -> ExplainResponse:
        """Every feature's contribution (tree SHAP plus the ridge trend) for each target."""
        if self.engine is None:
            return error_response(503, NOT_READY)  # type: ignore[return-value]
        record = run.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        body = await self._run(self.engine.explain, record)
        return json_response(body)  # type: ignore[return-value]

    @bentoml.api(route="/model")
    async def model(self) -> ModelInfo:
        """What is served: name, version, alias, CV metrics, spec, features, data hash."""
        if self.engine is None:
            return error_response(503, NOT_READY)  # type: ignore[return-value]
        return json_response(self.engine.info)  # type: ignore[return-value]

    @bentoml.api(route="/whatif")
    async def whatif(
        self,
        request: Annotated[
            WhatIfRequest,
            Field(description="the clone, its measured runs and the candidate conditions"),
        ],
    ) -> dict:
        """Score a clone under candidate process conditions; recommend one, map the space.

        Only candidates inside the training box and the model's domain are scored; the
        others come back in ``excluded`` with their reason. The recommendation has the
        highest expected purified product among candidates whose P(meet every spec limit)
        is at least the platform's (and ``min_spec_prob``).
        """
        from models.whatif import WhatIfError
        from serving.whatif_api import NoProcessModel, RequestError, answer

        if self.engine is None:
            return error_response(503, NOT_READY)  # type: ignore[return-value]
        try:
            out = await self._run(answer, self.engine.bundle, self.engine.ref, request)
        except NoProcessModel as exc:
            return error_response(501, str(exc))  # type: ignore[return-value]
        except RequestError as exc:
            return error_response(422, str(exc), exc.path, exc.value, exc.expected)  # type: ignore[return-value]
        except WhatIfError as exc:
            return error_response(422, str(exc), "request", None, "see the error")  # type: ignore[return-value]
        return json_response(out)  # type: ignore[return-value]

    @bentoml.api(route="/score_campaign")
    async def score_campaign(
        self,
        file: Annotated[
            Path,
            Field(
                description=(
                    "a .zip of a campaign folder (the contract's tables clones, runs, samples "
                    "[, outcomes] as CSV or Parquet), or one CSV/Parquet file in a foreign "
                    "layout together with 'mapping'"
                )
            ),
        ],
        mapping: Annotated[
            str | None,
            Field(
                default=None,
                description="name of an import mapping shipped with the service, e.g. "
                "'peer_emulator' (data/mappings/<name>.yaml)",
                examples=["peer_emulator"],
            ),
        ] = None,
        reasons: Annotated[ReasonMode, Field(description=REASONS_HELP)] = "all",
    ) -> CampaignResponse:
        """Score a whole campaign file: every run scored or rejected, clones ranked."""
        if self.engine is None:
            return error_response(503, NOT_READY)  # type: ignore[return-value]
        from serving.engine import LogRefused

        try:
            check_upload(file, mapping)
            body = await self._run(campaign, self.engine, file, mapping, reasons)
        except UploadError as exc:
            return error_response(exc.status, str(exc), exc.path, exc.value, exc.expected)  # type: ignore[return-value]
        except LogRefused as exc:
            return error_response(503, str(exc))  # type: ignore[return-value]
        return json_response(body)  # type: ignore[return-value]

    def _log_or_error(self) -> Any:
        """The prediction log, or the error answer saying why there is none (or no model)."""
        if self.engine is None:
            return None, error_response(503, NOT_READY)
        log = self.engine.log_tally.log
        if log is not None:
            return log, None
        why = self.engine.log_tally.open_error or (
            "the prediction log is off (CLONESCOUT_PREDICTION_LOG=off)"
        )
        return None, error_response(
            409,
            f"{why}: outcomes and the monitor join to logged predictions",
            "CLONESCOUT_PREDICTION_LOG",
            None,
            "the service started with its prediction log on",
        )

    @bentoml.api(route="/outcomes")
    async def outcomes(
        self,
        file: Annotated[
            Path,
            Field(
                description="an outcomes table as .csv or .parquet in the contract's shape: "
                "run_id, measured endpoints (e.g. dsp_yield_pct, g0f_pct), optionally "
                "prediction_id to name the prediction each row answers"
            ),
        ],
    ) -> dict:
        """Outcomes of runs scored earlier, joined to their logged predictions and appended.

        As ``clonescout outcomes add``: a row that breaks the contract or answers no logged
        prediction is set aside with its reason; a row already recorded is not appended
        again; nothing in the log is rewritten.
        """
        log, refusal = self._log_or_error()
        if refusal is not None:
            return refusal  # type: ignore[no-any-return]
        try:
            body = await self._run(outcomes, log, file)
        except UploadError as exc:
            return error_response(exc.status, str(exc), exc.path, exc.value, exc.expected)  # type: ignore[return-value]
        return json_response(body)  # type: ignore[return-value]

    @bentoml.api(route="/monitor")
    async def monitor(
        self,
        since: Annotated[
            str | None,
            Field(
                default=None,
                description="only predictions logged on or after this UTC date (YYYY-MM-DD)",
                examples=["2026-11-01"],
            ),
        ] = None,
    ) -> dict:
        """What the served model version delivered on the outcomes that came back.

        Its realized figures overall and per campaign beside the nested figures it was
        promoted on, each with a verdict (holds / degraded / too few outcomes), and
        whether retraining is due. ``clonescout monitor`` gives the same for every version
        and logs it to MLflow.
        """
        log, refusal = self._log_or_error()
        if refusal is not None:
            return refusal  # type: ignore[no-any-return]
        try:
            start = parse_since(since)
        except ValueError as exc:
            return error_response(422, str(exc), "since", since, "a date such as 2026-11-30")  # type: ignore[return-value]
        body = await self._run(monitor_served, log, self.engine, start)
        return json_response(body)  # type: ignore[return-value]


def parse_since(text: str | None) -> Any:
    """A YYYY-MM-DD (or ISO date-time) as a UTC datetime; None stays None."""
    import datetime as dt

    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    except ValueError:
        raise ValueError(f"{text!r} is not a date") from None


def monitor_served(log: Any, engine: Any, since: Any) -> dict[str, Any]:
    """The monitor's result for the served version (:func:`serving.monitor.monitor_joined`)."""
    from serving.monitor import Promise, monitor_joined
    from serving.outcomes import joined_frame

    served, bundle = engine.served, engine.bundle
    joined = joined_frame(log, served.name, since)
    if not joined.empty:
        joined = joined[joined["model_version"].astype(str) == str(served.version)]
    promise = Promise(bundle.manifest.get("cv_metrics", {}), bundle.predictor.spec, bundle.targets)
    versions = monitor_joined(joined, lambda _n, _v: promise)
    return {
        "model": engine.ref,
        "since": None if since is None else since.isoformat(),
        "result": versions[0] if versions else None,
        "note": "" if versions else "no logged prediction of this version has an outcome yet",
    }


def build(settings: Settings | None = None) -> Any:
    """The BentoML service: :class:`Clonescout` with its workers, deadline and guard.

    ``settings`` default to the environment's (:meth:`Settings.from_env`). BentoML's own
    timeout middleware keeps every request alive for the whole timeout, so the request
    deadline (:mod:`serving.deadline`) is put in its place first: BentoML reads the class
    when it builds the app, after this.
    """
    settings = Settings.from_env() if settings is None else settings
    install_deadline()
    service = bentoml.service(
        name=NAME,
        description=(
            "Purification yield and glycosylation risk of CHO clones from early fed-batch "
            "data, with conformal intervals, spec risk, an honest 'unknown' and reasons."
        ),
        workers=settings.workers,
        traffic={"timeout": REQUEST_TIMEOUT_S},
    )(Clonescout)
    service.add_asgi_middleware(
        Guard,
        models={"/score": ScoreRequest, "/explain": ExplainRequest, "/whatif": WhatIfBody},  # type: ignore[dict-item]
        uploads={
            "/score_campaign": ("file",),
            "/outcomes": ("file",),
            "/ui/api/jobs": ("file",),
        },
    )
    service.mount_asgi_app(web_app(), path=UI_PREFIX)  # the pages (serving.web)
    return service

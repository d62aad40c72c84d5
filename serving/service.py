"""The clonescout HTTP API: a BentoML 1.4 class service around :class:`serving.engine.Engine`.

Start it with ``clonescout serve`` (or ``bentoml serve serving.service:Clonescout``); it is
configured through environment variables (:mod:`serving.config`). Each worker loads the
model once, in the background: ``/livez`` answers at once, ``/readyz`` only when the model
is loaded, and the scoring endpoints answer 503 until then.

Endpoints (JSON unless said): ``/score`` (one or many runs), ``/score_campaign`` (a
campaign file upload, multipart), ``/whatif`` (a clone under candidate process
conditions), ``/explain`` (one run, every feature's contribution),
``/model`` (what is served), ``/livez``, ``/readyz``, ``/metrics`` (Prometheus) and the
OpenAPI description at ``/docs.json``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import shutil
import tempfile
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import Field
from starlette.responses import Response

from serving.batching import Batcher
from serving.config import Settings
from serving.deadline import install as install_deadline
from serving.examples import EXAMPLE_RUN
from serving.guard import Guard, error_body
from serving.schemas import (
    MAX_RUNS_PER_REQUEST,
    CampaignResponse,
    ExplainRequest,
    ExplainResponse,
    ModelInfo,
    Run,
    ScoreRequest,
    ScoreResponse,
    WhatIfRequest,
)

log = logging.getLogger("clonescout.serving")
SETTINGS = Settings.from_env()
MAPPINGS = Path(__file__).resolve().parents[1] / "data" / "mappings"
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
MAX_UNZIPPED_BYTES = 2 * 1024**3


def json_response(body: Any, status: int = 200) -> Response:
    """Serialise once, strictly (no NaN in JSON), without a second pydantic pass."""
    return Response(
        json.dumps(body, allow_nan=False, ensure_ascii=False).encode(),
        status_code=status,
        media_type="application/json",
    )


def error_response(status: int, error: str, path: str = "", value: Any = None, expected: str = ""):
    problems = [{"path": path, "value": value, "expected": expected}] if path else []
    return json_response(error_body(error, problems), status)


# BentoML's own timeout middleware keeps every request alive for the whole timeout
install_deadline()

NOT_READY = "the model is still loading (or failed to load: see the server log); retry shortly"


@bentoml.service(
    name="clonescout",
    description=(
        "Purification yield and glycosylation risk of CHO clones from early fed-batch data, "
        "with conformal intervals, spec risk, an honest 'unknown' and reasons."
    ),
    workers=SETTINGS.workers,
    traffic={"timeout": 120},
)
class Clonescout:
    """Loads the model once per worker and scores runs, campaigns and explanations."""

    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self.engine: Any = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score")
        self.batcher: Batcher | None = None
        threading.Thread(target=self._load, name="load-model", daemon=True).start()

    def _load(self) -> None:
        from clonescout_cli.modelcmds import setup_mlflow
        from serving.engine import load_engine

        try:
            setup_mlflow(None)
            engine = load_engine(self.settings.model_uri)
            engine.warm_up()
        except Exception as exc:  # reported by /readyz staying 503 and in the log
            log.error("cannot load the model %s: %s", self.settings.model_uri, exc)
            return
        self.batcher = Batcher(engine.score, self.executor, self.settings.max_batch_runs)
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
    ) -> ScoreResponse:
        """Score one or many runs: predictions with intervals, spec risk, flag and reasons.

        A run whose data break the contract comes back with status 'rejected' and its
        reasons, beside the scored ones; the request itself succeeds.
        """
        if self.engine is None or self.batcher is None:
            return error_response(503, NOT_READY)  # type: ignore[return-value]
        records = [r.model_dump(exclude_unset=True) for r in runs]  # type: ignore[attr-defined]
        if self.settings.batching:
            results = await self.batcher.submit(records)
        else:
            results = await self._run(self.engine.score, records)
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
        from serving.whatif_api import NoProcessModel, answer

        if self.engine is None:
            return error_response(503, NOT_READY)  # type: ignore[return-value]
        body = request.model_dump(exclude_unset=True)
        try:
            out = await self._run(answer, self.engine.bundle, self.engine.ref, body)
        except NoProcessModel as exc:
            return error_response(501, str(exc))  # type: ignore[return-value]
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
    ) -> CampaignResponse:
        """Score a whole campaign file: every run scored or rejected, clones ranked."""
        if self.engine is None:
            return error_response(503, NOT_READY)  # type: ignore[return-value]
        problem = check_upload(file, mapping)
        if problem is not None:
            return problem  # type: ignore[return-value]
        try:
            body = await self._run(campaign, self.engine, file, mapping)
        except UploadError as exc:
            return error_response(422, str(exc), exc.path, exc.value, exc.expected)  # type: ignore[return-value]
        return json_response(body)  # type: ignore[return-value]


class UploadError(ValueError):
    """An uploaded campaign that cannot be read, with where and what is expected."""

    def __init__(self, message: str, path: str, value: Any, expected: str):
        super().__init__(message)
        self.path, self.value, self.expected = path, value, expected


def mapping_names() -> list[str]:
    return sorted(p.stem for p in MAPPINGS.glob("*.yaml"))


def check_upload(file: Path, mapping: str | None) -> Response | None:
    """Cheap checks before any work: size, kind of file, mapping name."""
    size = file.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        return error_response(
            413, "upload too large", "file", f"{size} bytes", f"at most {MAX_UPLOAD_BYTES} bytes"
        )
    suffix = file.suffix.lower()
    if mapping is not None and mapping not in mapping_names():
        return error_response(
            422, "unknown mapping", "mapping", mapping, f"one of {mapping_names()}"
        )
    if suffix == ".zip":
        return None
    if suffix in (".csv", ".parquet"):
        if mapping is None:
            return error_response(
                422,
                "one file needs a mapping",
                "mapping",
                None,
                "the name of an import mapping for this layout; the contract's own tables "
                "go in a .zip of the campaign folder",
            )
        return None
    return error_response(
        422, "unsupported file", "file", file.name, "a .zip of a campaign folder, .csv or .parquet"
    )


def _unzip(file: Path, into: Path) -> Path:
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile:
        raise UploadError("not a zip archive", "file", file.name, "a valid .zip") from None
    with archive:
        total = sum(i.file_size for i in archive.infolist())
        if total > MAX_UNZIPPED_BYTES:
            raise UploadError(
                "archive too large unpacked", "file", f"{total} bytes", "at most 2 GiB unpacked"
            )
        for info in archive.infolist():
            target = (into / info.filename).resolve()
            if not target.is_relative_to(into.resolve()):
                raise UploadError(
                    "archive member outside its folder", "file", info.filename, "relative paths"
                )
        archive.extractall(into)
    tables = list(into.rglob("runs.csv")) + list(into.rglob("runs.parquet"))
    if len(tables) != 1:
        raise UploadError(
            "no single campaign folder in the archive",
            "file",
            f"{len(tables)} runs tables",
            "one folder with clones, runs and samples (CSV or Parquet)",
        )
    return tables[0].parent


def campaign(engine: Any, file: Path, mapping: str | None) -> dict[str, Any]:
    """Load the upload through the contract (or a mapping), then score it."""
    from features.contract import ContractError
    from features.loader import load_campaign
    from features.mapping import import_mapped
    from features.mappingfile import load_mapping

    work = Path(tempfile.mkdtemp(prefix="clonescout-upload-"))
    try:
        try:
            if file.suffix.lower() == ".zip":
                data = load_campaign(_unzip(file, work))
            else:
                # the mapping reads files by their names: give the upload its own suffix
                local = work / f"upload{file.suffix.lower()}"
                shutil.copyfile(file, local)
                data = import_mapped(local, load_mapping(MAPPINGS / f"{mapping}.yaml")).data
        except ContractError as exc:
            raise UploadError(
                "the campaign breaks the data contract",
                "file",
                file.name,
                "; ".join(str(v) for v in exc.violations),
            ) from None
        except UploadError:
            raise
        except Exception as exc:  # an unreadable upload is the file's problem, never a 500
            log.warning("upload %s could not be read", file.name, exc_info=True)
            layout = "a .zip of a campaign folder" if mapping is None else f"the {mapping} layout"
            raise UploadError(
                f"the file could not be read ({type(exc).__name__}: {exc})",
                "file",
                file.name,
                f"a readable {file.suffix.lower().lstrip('.')} file in {layout}",
            ) from None
        return engine.score_campaign(data)
    finally:
        shutil.rmtree(work, ignore_errors=True)


Clonescout.add_asgi_middleware(  # type: ignore[attr-defined]
    Guard,
    models={"/score": ScoreRequest, "/explain": ExplainRequest},  # type: ignore[dict-item]
)

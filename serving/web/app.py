"""The pages' own routes: a Starlette app mounted on the service at ``/ui``.

The pages are static files (``serving/web/static``: HTML, one style sheet, plain
JavaScript, and plotly.js from the installed ``plotly`` package: no CDN, no build step).
They call the service's API as any client does (``/whatif``, ``/model``, ``/monitor``)
plus the few routes here, which exist because a browser needs them:

- ``POST /ui/api/jobs``: a campaign upload becomes a background job with progress
  (:mod:`serving.web.jobs`); ``GET /ui/api/jobs/{id}`` its state, and once done its
  ranking, rejects, drift and summary; ``GET /ui/api/jobs/{id}/files/{key}`` the scores,
  clones, rejects, summary and report files to download;
- ``GET /ui/api/jobs/{id}/clones/{clone}``: one clone's runs as scored, its what-if request
  (its assays, its runs' conditions and outcomes) and the model's process factors with
  their training box;
- ``GET /ui/api/mappings``: the import mappings a single-file upload may name;
- ``GET``/``POST /ui/login`` and ``POST /ui/logout``: the sign-in form that turns an API
  key into the pages' cookie (:data:`serving.config.KEY_COOKIE`, HttpOnly, SameSite=Strict)
  so no key ever sits in a URL. The key check itself is the service's
  (:class:`serving.guard.Guard`), in front of these routes as of every other.

Every error is JSON with the service's error body (what, where, what would be right):
the pages show it, never a stack trace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from models.whatif import json_value
from serving.config import KEY_COOKIE, Settings
from serving.guard import NOT_READY, error_response, json_response, key_matches
from serving.web.jobs import FILES, Job, JobError, campaign_tables, submit

STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"": "campaign.html", "clone": "clone.html", "model": "model.html"}
ASSETS = ("app.css", "common.js", "campaign.js", "clone.js", "model.js")
SECURITY_HEADERS = {
    # nothing from elsewhere; plotly writes inline styles, nothing else is inline
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; frame-ancestors 'self'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
DOWNLOAD_TYPES = {".csv": "text/csv", ".json": "application/json", ".html": "text/html"}

_SERVICE: list[Any] = []  # the service instance of this worker (attach)


def attach(service: Any) -> None:
    """Give the pages this worker's service (its engine, once the model is loaded)."""
    _SERVICE[:] = [service]


def _engine() -> Any:
    return _SERVICE[0].engine if _SERVICE else None


def _json(body: Any, status: int = 200) -> Response:
    return json_response(body, status, {"cache-control": "no-store"})


def _error(status: int, error: str, path: str = "", value: Any = None, expected: str = ""):
    return error_response(status, error, path, value, expected, {"cache-control": "no-store"})


def _page(name: str) -> Response:
    return FileResponse(STATIC / name, media_type="text/html", headers=SECURITY_HEADERS)


async def page(request: Request) -> Response:
    return _page(PAGES[request.path_params.get("name", "")])


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "plotly.min.js":
        return FileResponse(plotly_js(), media_type="text/javascript")
    if name not in ASSETS:
        return _error(404, f"no such file: {name}", "name", name, f"one of {list(ASSETS)}")
    kind = "text/css" if name.endswith(".css") else "text/javascript"
    return FileResponse(STATIC / name, media_type=kind, headers={"cache-control": "no-cache"})


def plotly_js() -> Path:
    """plotly.js as the installed ``plotly`` package ships it (the report inlines the same)."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


# -- sign-in ---------------------------------------------------------------------------
async def login_page(request: Request) -> Response:
    return _page("login.html")


async def login(request: Request) -> Response:
    """Check the key sent by the form; a good one becomes the pages' cookie."""
    form = await request.form()
    key = str(form.get("key", "")).strip()
    keys = tuple(k.encode() for k in Settings.from_env().api_keys)
    if keys and not key_matches(key.encode(), keys):
        return RedirectResponse("/ui/login?failed=1", status_code=303)
    out = RedirectResponse("/ui/", status_code=303)
    if keys:
        out.set_cookie(
            KEY_COOKIE,
            key,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return out


async def logout(request: Request) -> Response:
    out = RedirectResponse("/ui/login", status_code=303)
    out.delete_cookie(KEY_COOKIE, path="/")
    return out


# -- campaign jobs ---------------------------------------------------------------------
async def mappings(request: Request) -> Response:
    from serving.upload import mapping_names

    return _json({"mappings": mapping_names()})


async def create_job(request: Request) -> Response:
    """Save the upload and start scoring it; 202 with the job id, or why it cannot be read."""
    from serving.upload import UploadError, check_upload

    engine = _engine()
    if engine is None:
        return _error(503, NOT_READY)
    form = await request.form()
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return _error(422, "no file", "file", None, "a .zip of a campaign folder, .csv or .parquet")
    mapping = str(form.get("mapping") or "").strip() or None
    name = Path(file.filename).name
    job = Job.create()
    upload = job.folder / "upload" / name
    upload.parent.mkdir()
    with upload.open("wb") as out:
        while block := await file.read(1 << 20):
            out.write(block)
    try:
        check_upload(upload, mapping)
    except UploadError as exc:
        job.write_status("failed", error=str(exc))
        return _error(exc.status, str(exc), exc.path, exc.value, exc.expected)
    submit(job, upload, mapping, engine)
    return _json({"job": job.id, "state": "queued"}, 202)


def _job(request: Request) -> Job:
    return Job.open(request.path_params["job"])


async def job_status(request: Request) -> Response:
    """The job's state; once done, its ranking, rejects, drift and summary too."""
    try:
        job = _job(request)
    except JobError as exc:
        return _error(404, str(exc), "job", request.path_params["job"], "a job id from an upload")
    status = job.status()
    if status["state"] == "done":
        status.update(results(job))
    return _json(status)


def results(job: Job) -> dict[str, Any]:
    """What the campaign page shows: the clones as ranked, the rejects, the summary."""
    clones = _records(pd.read_csv(job.file("clones"), keep_default_na=False, na_values=[""]))
    rejects_file = job.file("rejects")
    rejects = (
        _records(pd.read_csv(rejects_file, keep_default_na=False, na_values=[""]))
        if rejects_file.exists()
        else []
    )
    summary = json.loads(job.file("summary").read_text())
    return {"clones": clones, "rejects": rejects, "summary": _clean(summary)}


async def job_file(request: Request) -> Response:
    try:
        job = _job(request)
    except JobError as exc:
        return _error(404, str(exc), "job", request.path_params["job"], "a job id from an upload")
    key = request.path_params["key"]
    if key not in FILES or not job.file(key).exists():
        have = [k for k in FILES if job.file(k).exists()]
        return _error(404, f"job {job.id} has no {key} file", "key", key, f"one of {have}")
    path = job.file(key)
    if key == "report" and request.query_params.get("inline") == "1":  # shown in the page
        return FileResponse(path, media_type="text/html", headers={"cache-control": "no-store"})
    return FileResponse(
        path,
        media_type=DOWNLOAD_TYPES[path.suffix],
        filename=path.name,
        headers={"cache-control": "no-store"},
    )


async def clone_detail(request: Request) -> Response:
    """One clone: its runs as scored, its what-if request, the process factors' box."""
    engine = _engine()
    if engine is None:
        return _error(503, NOT_READY)
    try:
        job = _job(request)
        body = clone_view(job, request.path_params["clone"], engine.bundle)
    except JobError as exc:
        return _error(404, str(exc), "clone", request.path_params["clone"], "a clone of the job")
    return _json(body)


def clone_view(job: Job, clone_id: str, bundle: Any) -> dict[str, Any]:
    """The clone page's data (:func:`clone_detail`); :class:`JobError` for an unknown clone."""
    if job.status()["state"] != "done":
        raise JobError(f"job {job.id} is not scored yet")
    tables = campaign_tables(job)
    clones = tables["clones"]
    assert clones is not None
    hit = clones[clones["clone_id"].astype(str) == clone_id]
    if hit.empty:
        raise JobError(f"clone {clone_id!r} is not in job {job.id}")
    ranked = pd.read_csv(job.file("clones"), keep_default_na=False, na_values=[""])
    ranked = ranked[ranked["clone_id"].astype(str) == clone_id]
    scores = pd.read_csv(job.file("scores"), keep_default_na=False, na_values=[""])
    runs = scores[scores["clone_id"].astype(str) == clone_id]
    rejects = []
    if job.file("rejects").exists():
        rej = pd.read_csv(job.file("rejects"), keep_default_na=False, na_values=[""])
        if "clone_id" in rej:
            rejects = _records(rej[rej["clone_id"].astype(str) == clone_id])
    return {
        "clone_id": clone_id,
        "ranking": _records(ranked)[0] if len(ranked) else None,
        "runs": _records(runs),
        "rejects": rejects,
        "targets": list(bundle.targets),
        "limits": _clean(bundle.predictor.limit_table()),
        "process": process_view(bundle),
        "whatif": whatif_request(bundle, hit.iloc[0], tables, clone_id),
    }


def process_view(bundle: Any) -> dict[str, Any] | None:
    """The process factors with their training box and platform value (None: no model)."""
    pm = bundle.process
    if pm is None:
        return None
    return {
        "factors": [
            {
                "name": f,
                "low": float(pm.box[f][0]),
                "high": float(pm.box[f][1]),
                "platform": _value(pm.reference.get(f)),
            }
            for f in pm.factors
        ],
        "targets": list(pm.targets),
    }


def whatif_request(
    bundle: Any, clone: pd.Series, tables: dict[str, pd.DataFrame | None], clone_id: str
) -> dict[str, Any] | None:
    """The clone as ``/whatif`` takes it: its assays, its runs' conditions and outcomes."""
    pm = bundle.process
    if pm is None:
        return None
    runs = tables["runs"]
    assert runs is not None
    mine = runs[runs["clone_id"].astype(str) == clone_id]
    outcomes = tables["outcomes"]
    measured = (
        outcomes.set_index(outcomes["run_id"].astype(str))
        if outcomes is not None
        else pd.DataFrame()
    )
    sent_runs = []
    for row in mine.to_dict(orient="records"):
        rid = str(row["run_id"])
        conditions = {f: _value(row.get(f)) for f in pm.factors if f in row}
        got = measured.loc[rid] if rid in measured.index else None
        obs = {} if got is None else {t: _value(got.get(t)) for t in pm.targets if t in got}
        sent_runs.append(
            {
                "run_id": rid,
                "conditions": {k: v for k, v in conditions.items() if v is not None},
                "outcomes": {k: v for k, v in obs.items() if v is not None},
            }
        )
    assays = {c: _value(clone.get(c)) for c in clone.index}
    return {
        "clone": {k: v for k, v in assays.items() if v is not None},
        "runs": sent_runs,
    }


def _value(v: Any) -> Any:
    """``v`` as strict JSON takes it (:func:`models.whatif.json_value`; pandas' NA as null)."""
    return None if v is pd.NA or v is pd.NaT else json_value(v)


def _clean(obj: Any) -> Any:
    """``obj`` as strict JSON takes it (NaN and infinity as null, NumPy as Python)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return _value(obj)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def web_app() -> Starlette:
    """The pages and their routes (mounted at ``/ui`` by :func:`serving.service.build`)."""
    return Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/{name:str}", page_or_404, methods=["GET"]),
            Route("/static/{name:str}", asset, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/api/mappings", mappings, methods=["GET"]),
            Route("/api/jobs", create_job, methods=["POST"]),
            Route("/api/jobs/{job:str}", job_status, methods=["GET"]),
            Route("/api/jobs/{job:str}/files/{key:str}", job_file, methods=["GET"]),
            Route("/api/jobs/{job:str}/clones/{clone:str}", clone_detail, methods=["GET"]),
        ]
    )


async def page_or_404(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "login":
        return await login_page(request)
    if name not in PAGES:
        return _error(404, f"no page {name!r}", "page", name, f"one of {sorted(PAGES)}")
    return _page(PAGES[name])

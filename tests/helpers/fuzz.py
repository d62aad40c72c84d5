"""Fuzzing the HTTP API: requests drawn by hypothesis, sent in process or over HTTP.

Two sources of requests, one way of sending and judging them:

- :func:`schema_requests`: schemathesis cases of every operation the served OpenAPI
  description lists (half fitting the description, half breaking it);
- hand-made strategies for what a description cannot say: real runs with edge values in
  their cells (:func:`score_requests`), what-if requests naming the model's real factors
  and targets, with NaN, infinities, zeros and repeated run ids (:func:`whatif_requests`),
  and campaign uploads whose tables are damaged (:func:`upload_requests`).

A seed fixes every request drawn (:func:`draw`: hypothesis with no example database), so
the CI test replays the same cases on every run and ``bench/bench_fuzz.py`` can print
the seed of a run that found something. A request that gets a 5xx is kept described in
full (:meth:`Request.describe`), to become a fixed regression test.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as fixed_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

JSON = "application/json"
BOUNDARY = "clonescout-fuzz-boundary"  # fixed, so a drawn upload is the same bytes each run
# what an in-process client cannot call: BentoML's /metrics hangs under it (STACK.md)
IN_PROCESS_SKIP = frozenset({("GET", "/metrics")})


@dataclass(frozen=True)
class Request:
    """One HTTP request as bytes: what was sent, whatever strategy drew it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    case: Any = None  # the schemathesis case it came from (for response-schema checks)

    def describe(self) -> str:
        """The request in full: method, path, content type and body (to replay it)."""
        ctype = self.headers.get("Content-Type", self.headers.get("content-type", ""))
        try:
            text = self.body.decode()
        except UnicodeDecodeError:
            text = repr(self.body)
        return f"{self.method} {self.path}\nContent-Type: {ctype}\n\n{text}"


def json_request(path: str, body: Any) -> Request:
    """A POST of ``body`` as JSON; NaN and infinities go out as the tokens Python writes."""
    return Request("POST", path, {"Content-Type": JSON}, json.dumps(body).encode())


def upload_request(path: str, name: str, content: bytes, mapping: str | None = None) -> Request:
    """A multipart POST of one file (and a mapping name), as a browser or curl sends it."""
    from urllib3 import encode_multipart_formdata

    fields: dict[str, Any] = {"file": (name, content, "application/octet-stream")}
    if mapping is not None:
        fields["mapping"] = mapping
    body, ctype = encode_multipart_formdata(fields, boundary=BOUNDARY)
    return Request("POST", path, {"Content-Type": ctype}, body)


def from_case(case: Any) -> Request:
    """A schemathesis case as the bytes it sends (its body serialised as it would be)."""
    import requests

    kw = case.as_transport_kwargs(base_url="http://x")
    keep = ("method", "url", "headers", "params", "data", "json", "files", "cookies")
    prepared = requests.Request(**{k: v for k, v in kw.items() if k in keep}).prepare()
    headers = {k: v for k, v in prepared.headers.items() if k.lower() == "content-type"}
    path = prepared.path_url
    body = prepared.body or b""
    return Request(
        prepared.method or "GET",
        path,
        headers,
        body.encode() if isinstance(body, str) else body,
        case,
    )


def draw(strategy: st.SearchStrategy, n: int, seed: int) -> list[Any]:
    """Up to ``n`` examples of ``strategy``; the same ones for the same seed.

    Fewer when the strategy has fewer distinct examples (a body-less GET), none when it
    has none (no request can break the description of an operation that takes nothing).
    """
    out: list[Any] = []

    @fixed_seed(seed)
    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        out.append(example)

    with contextlib.suppress(Unsatisfiable):
        collect()
    return out


def schema_requests(
    schema: Any,
    n: int,
    seed: int,
    skip: Iterable[tuple[str, str]] = (),
    only: Iterable[tuple[str, str]] | None = None,
) -> dict[str, list[Request]]:
    """``n`` requests per operation of ``schema`` (a loaded schemathesis schema).

    Half fit the description (they reach our code), half break it (its validation);
    keyed by ``"METHOD /path"``. ``skip`` and ``only`` name operations as (method, path).
    """
    from schemathesis.generation.modes import GenerationMode

    out: dict[str, list[Request]] = {}
    for result in schema.get_all_operations():
        op = result.ok()
        key = (op.method.upper(), op.path)
        if key in set(skip) or (only is not None and key not in set(only)):
            continue
        cases = draw(op.as_strategy(generation_mode=GenerationMode.POSITIVE), n - n // 2, seed)
        cases += draw(op.as_strategy(generation_mode=GenerationMode.NEGATIVE), n // 2, seed)
        out[f"{op.method.upper()} {op.path}"] = [from_case(c) for c in cases]
    return out


# -- values at the edges --------------------------------------------------------------------
EDGE_NUMBERS = (0.0, -0.0, -1.0, 1e-300, 5e-324, 1e300, -1e300, 1.7976931348623157e308)
EDGE_NUMBERS += (float("nan"), float("inf"), float("-inf"), 10**20, -(10**20))
EDGE_TEXTS = ("", " ", "\u00a0", "NA", "<LOQ", "<0.5", ">300", "5,2", "x", "1e999", "nan")
EDGE_TEXTS += ("inf", "-0", " 7 ", "0x10", "\x00", "é" * 3)


def numbers() -> st.SearchStrategy:
    """Any number JSON (as Python writes it) can carry, the awkward ones often."""
    return st.one_of(
        st.sampled_from(EDGE_NUMBERS),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**20), 10**20),
    )


def cells() -> st.SearchStrategy:
    """A value a client may put in a measurement: a number, text, null or a boolean."""
    return st.one_of(numbers(), st.none(), st.sampled_from(EDGE_TEXTS), st.booleans(), st.text())


def ids() -> st.SearchStrategy:
    """Identifiers, repeated often (so runs collide) and sometimes blank-looking."""
    return st.one_of(
        st.sampled_from(["R1", "R2", "R1", "x"]), st.sampled_from(EDGE_TEXTS), st.text()
    )


# -- /score and /explain --------------------------------------------------------------------
@st.composite
def damaged_run(draw_: Callable, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A real run (JSON, as a client sends it) with a few cells, keys or samples changed."""
    run = copy.deepcopy(draw_(st.sampled_from(runs)))
    for _ in range(draw_(st.integers(0, 4))):
        part = draw_(st.sampled_from(["run", "clone", "sample", "samples", "run_id"]))
        if part == "run_id":
            run["run_id"] = draw_(ids())
        elif part == "samples":
            run["samples"] = _reshuffled(draw_, run["samples"])
        elif part == "sample" and run["samples"]:
            i = draw_(st.integers(0, len(run["samples"]) - 1))
            _damage(draw_, run["samples"][i], protected=())
        elif part in ("run", "clone"):
            target = run if part == "run" else run["clone"]
            _damage(draw_, target, protected=("clone", "samples", "run_id"))
    return run


def _damage(draw_: Callable, record: dict[str, Any], protected: tuple[str, ...]) -> None:
    """Set one cell to an awkward value, or drop one key (in place)."""
    keys = [k for k in record if k not in protected]
    key = draw_(st.one_of(st.sampled_from(keys), st.text(max_size=12))) if keys else "extra"
    if draw_(st.booleans()) or key not in record:
        record[key] = draw_(cells())
    else:
        del record[key]


def _reshuffled(draw_: Callable, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    how = draw_(st.sampled_from(["empty", "one", "reverse", "repeat", "same_day", "permute"]))
    if how == "empty" or not samples:
        return []
    if how == "one":
        return samples[:1]
    if how == "reverse":
        return samples[::-1]
    if how == "repeat":
        return samples + samples[-1:]
    if how == "same_day":
        return [{**s, "day": samples[0].get("day")} for s in samples]
    return draw_(st.permutations(samples))


def score_requests(runs: list[dict[str, Any]]) -> st.SearchStrategy:
    """``/score`` requests: one to four damaged real runs."""
    many = st.lists(damaged_run(runs), min_size=1, max_size=4)
    return many.map(lambda rs: json_request("/score", {"runs": rs}))


def explain_requests(runs: list[dict[str, Any]]) -> st.SearchStrategy:
    """``/explain`` requests: one damaged real run."""
    return damaged_run(runs).map(lambda r: json_request("/explain", {"run": r}))


# -- /whatif ----------------------------------------------------------------------------------
def _factor_values(box: dict[str, tuple[float, float]], factor: str) -> st.SearchStrategy:
    lo, hi = box.get(factor, (0.0, 1.0))
    span = max(hi - lo, 1.0)
    inside = st.floats(lo, hi) if lo < hi else st.just(lo)
    return st.one_of(inside, inside, st.floats(lo - span, hi + span), numbers(), st.none())


def _conditions(box: dict[str, tuple[float, float]], factors: list[str]) -> st.SearchStrategy:
    named = st.fixed_dictionaries({}, optional={f: _factor_values(box, f) for f in factors})
    stranger = st.dictionaries(st.sampled_from(["rpm", "", "Feed_pct"]), numbers(), max_size=1)
    return st.one_of(
        named, named, named, st.tuples(named, stranger).map(lambda t: {**t[0], **t[1]})
    )


def whatif_requests(
    clones: list[dict[str, Any]],
    box: dict[str, tuple[float, float]],
    targets: list[str],
) -> st.SearchStrategy:
    """``/whatif`` requests for real clones (damaged at times), real factors and targets.

    ``box``: each process factor's training range (its keys are the factors).
    """
    factors = list(box)
    clone = st.sampled_from(clones).flatmap(lambda c: st.one_of(st.just(c), _damaged_clone(c)))
    outcome_names = st.sampled_from([*targets, "titer", "final_titer_g_l"])
    outcomes = st.dictionaries(outcome_names, st.one_of(st.floats(0, 120), numbers(), st.none()))
    run = st.fixed_dictionaries(
        {"run_id": ids(), "conditions": _conditions(box, factors)}, optional={"outcomes": outcomes}
    )
    pair = st.lists(st.sampled_from([*factors, "rpm"]), min_size=2, max_size=2)
    optional = {
        "runs": st.lists(run, max_size=4),
        "candidates": st.one_of(st.none(), st.lists(_conditions(box, factors), max_size=4)),
        "optimise": st.booleans(),
        "n_candidates": st.integers(1, 24),
        "min_spec_prob": st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0])),
        "design_space": st.one_of(pair, st.permutations(factors).map(lambda f: f[:2])),
        "next_experiments": st.integers(0, 3),
    }
    inner = st.fixed_dictionaries({"clone": clone}, optional=optional)
    return inner.map(lambda body: json_request("/whatif", {"request": body}))


@st.composite
def _damaged_clone(draw_: Callable, clone: dict[str, Any]) -> dict[str, Any]:
    out = dict(clone)
    for _ in range(draw_(st.integers(1, 3))):
        _damage(draw_, out, protected=("clone_id", "campaign_id"))
    return out


# -- /score_campaign ---------------------------------------------------------------------------
def upload_requests(tables: dict[str, list[dict[str, Any]]]) -> st.SearchStrategy:
    """Zipped campaign folders (CSV) with damaged tables, and files that are not one.

    ``tables``: a small campaign's tables (``clones``, ``runs``, ``samples``) as records.
    """
    zipped = _zip_campaign(tables)
    other = st.one_of(
        st.tuples(
            st.sampled_from(["c.zip", "c.csv", "c.parquet", "c.ZIP"]), st.binary(max_size=64)
        ),
        st.tuples(st.just("c.csv"), st.text(max_size=200).map(str.encode)),
    )
    plain = other.map(lambda t: (t[0], t[1], None))
    mapped = st.tuples(other, st.sampled_from(["peer_emulator", "nope", ""])).map(
        lambda t: (t[0][0], t[0][1], t[1])
    )
    files = st.one_of(zipped, zipped, zipped, plain, mapped)
    return files.map(lambda t: upload_request("/score_campaign", *t))


@st.composite
def _zip_campaign(
    draw_: Callable, tables: dict[str, list[dict[str, Any]]]
) -> tuple[str, bytes, None]:
    edited = {name: [dict(r) for r in rows] for name, rows in tables.items()}
    for _ in range(draw_(st.integers(0, 4))):
        name = draw_(st.sampled_from(sorted(edited)))
        rows = edited[name]
        how = draw_(
            st.sampled_from(["cell", "cell", "drop_row", "repeat_row", "drop_col", "empty"])
        )
        if how == "empty":
            edited[name] = []
        elif rows and how == "drop_row":
            del rows[draw_(st.integers(0, len(rows) - 1))]
        elif rows and how == "repeat_row":
            rows.append(dict(rows[draw_(st.integers(0, len(rows) - 1))]))
        elif rows and how == "drop_col":
            col = draw_(st.sampled_from(sorted(rows[0])))
            for r in rows:
                r.pop(col, None)
        elif rows:
            r = rows[draw_(st.integers(0, len(rows) - 1))]
            r[draw_(st.sampled_from(sorted(r)))] = draw_(cells())
    folder = draw_(st.sampled_from(["camp/", "", "a/b/"]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in sorted(edited):
            if draw_(st.integers(0, 19)) or name == "runs":  # a table left out at times
                z.writestr(f"{folder}{name}.csv", _csv(edited[name]))
    return "camp.zip", buf.getvalue(), None


def _csv(rows: list[dict[str, Any]]) -> str:
    import csv

    cols = list(dict.fromkeys(k for r in rows for k in r)) or ["run_id"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols)
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


# -- everything, per endpoint ------------------------------------------------------------------
@dataclass(frozen=True)
class Material:
    """What the hand-made strategies start from: a campaign and the served process model."""

    runs: list[dict[str, Any]]  # the campaign's runs as JSON (what a client sends)
    clones: list[dict[str, Any]]  # the clones table's rows
    box: dict[str, tuple[float, float]]  # each process factor's training range
    targets: list[str]  # the process model's outcomes
    tables: dict[str, list[dict[str, Any]]]  # a two-clone campaign's tables (for uploads)


def material(data: Any, process: Any, upload_clones: int = 2) -> Material:
    """:class:`Material` from a loaded campaign and a :class:`models.process.ProcessModel`."""
    from serving.engine import runs_from_campaign

    keep = set(data.clones["clone_id"].iloc[:upload_clones])
    runs = data.runs[data.runs["clone_id"].isin(keep)]
    tables = {
        "clones": _records(data.clones[data.clones["clone_id"].isin(keep)]),
        "runs": _records(runs),
        "samples": _records(data.samples[data.samples["run_id"].isin(set(runs["run_id"]))]),
    }
    return Material(
        runs=runs_from_campaign(data),
        clones=_records(data.clones),
        box={f: (float(lo), float(hi)) for f, (lo, hi) in process.box.items()},
        targets=list(process.targets),
        tables=tables,
    )


def _records(df: Any) -> list[dict[str, Any]]:
    """Rows as plain Python values, a missing cell as None."""
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    return [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows]


def endpoint_requests(
    schema: Any, stuff: Material, n: int, seed: int, skip: Iterable[tuple[str, str]] = ()
) -> dict[str, list[Request]]:
    """Every operation's ``n`` schemathesis requests, plus ``n`` hand-made ones where made.

    Keyed by ``"METHOD /path"``; the same requests for the same seed.
    """
    out = schema_requests(schema, n, seed, skip)
    made = {
        "POST /score": score_requests(stuff.runs),
        "POST /explain": explain_requests(stuff.runs),
        "POST /whatif": whatif_requests(stuff.clones, stuff.box, stuff.targets),
        "POST /score_campaign": upload_requests(stuff.tables),
    }
    for key, strategy in made.items():
        if key in out:
            out[key] = out[key] + draw(strategy, n, seed)
    return out


# -- sending and judging ---------------------------------------------------------------------
Sender = Callable[[Request], tuple[int, str]]


def asgi_sender(client: Any) -> Sender:
    """Send through a Starlette ``TestClient`` (in process)."""

    def send(req: Request) -> tuple[int, str]:
        r = client.request(req.method, req.path, headers=req.headers, content=req.body)
        return r.status_code, r.text

    return send


def http_sender(base_url: str, timeout: float = 120.0) -> Sender:
    """Send over HTTP to a running server."""
    import requests

    session = requests.Session()

    def send(req: Request) -> tuple[int, str]:
        r = session.request(
            req.method, base_url + req.path, headers=req.headers, data=req.body, timeout=timeout
        )
        return r.status_code, r.text

    return send


@dataclass
class Tally:
    """What one endpoint answered to the requests sent to it."""

    cases: int = 0
    statuses: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # each request and its answer
    unnamed_422: list[str] = field(default_factory=list)  # a 422 naming no field path

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_errors": len(self.server_errors),
            "unnamed_422": len(self.unnamed_422),
        }


def fuzz(send: Sender, requests_: Iterable[Request], tally: Tally | None = None) -> Tally:
    """Send each request; count the statuses and keep every 5xx described in full.

    A 422 must name at least one field path (``problems[].path``) in its body.
    """
    tally = tally or Tally()
    for req in requests_:
        status, text = send(req)
        tally.cases += 1
        tally.statuses[status] += 1
        if status >= 500:
            tally.server_errors.append(f"{req.describe()}\n--> {status} {text[:2000]}")
        elif status == 422 and not _names_a_path(text):
            tally.unnamed_422.append(f"{req.describe()}\n--> {status} {text[:2000]}")
    return tally


def _names_a_path(text: str) -> bool:
    try:
        problems = json.loads(text).get("problems") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(p, dict) and p.get("path") for p in problems)

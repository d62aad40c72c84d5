"""Fuzzing the HTTP API at length: a new seed each run, over a thousand requests per endpoint.

The CI test (``tests/service/test_serving_fuzz.py``) replays one fixed seed, a few dozen
requests per endpoint. This draws new ones on every run: the service in process (BentoML's
ASGI app, a Starlette test client) on a small registered model (6 simulated campaigns, a
small tuning budget, :func:`benchio.small_registered_model`), and for each endpoint that
takes input (``/score``, ``/explain``, ``/model``, ``/whatif``, ``/score_campaign``):

- half the requests from schemathesis on the served ``/docs.json`` (half of those fit the
  description, half break it);
- half hand-made where the description cannot say enough (:mod:`tests.helpers.fuzz`):
  real runs with damaged cells, what-if requests naming the model's real factors and
  targets with NaN, infinities and repeated run ids, damaged campaign zips. ``/model``
  takes no input: its requests are all schemathesis'.

Reported per endpoint: the requests sent and how many got a server error (target 0), and
how many 422s named no field path (target 0). The seed is printed first and kept in the
result; ``--seed SEED`` replays a run exactly (the same requests, in the same order). Each
request that got a 5xx is printed in full, to become a fixed regression test in
``tests/service/test_serving_fuzz.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/helpers/fuzz.py draws and judges the requests
from benchio import finish, row, small_registered_model  # noqa: E402  (bench/ is on the path)

from tests.helpers import fuzz  # noqa: E402

CASES = 1000  # per endpoint (issue 22: at least 1,000)
GETS = frozenset(("/healthz", "/livez", "/readyz", "/metrics"))  # no input to fuzz


def start(model_uri: str, tracking_uri: str):
    """The service in process, configured as ``clonescout serve`` configures it; ready."""
    from starlette.testclient import TestClient

    from serving.service import build

    os.environ.update({"MLFLOW_TRACKING_URI": tracking_uri, "CLONESCOUT_MODEL": model_uri})
    os.environ.pop("CLONESCOUT_API_KEYS", None)
    os.environ.pop("CLONESCOUT_API_KEYS_FILE", None)
    client = TestClient(build().to_asgi(), raise_server_exceptions=False)
    client.__enter__()
    deadline = time.time() + 300
    while client.get("/readyz").status_code != 200:
        if time.time() > deadline:
            raise SystemExit("the service never became ready (see its log above)")
        time.sleep(0.2)
    return client


def plan(client, model_uri: str, data, cases: int, seed: int) -> dict[str, list[fuzz.Request]]:
    """``cases`` requests for each endpoint that takes input, drawn from ``seed``."""
    import schemathesis

    from models.registry import load_pinned

    process = load_pinned(model_uri).bundle.process
    schema = schemathesis.openapi.from_dict(client.get("/docs.json").json())
    skip = [("GET", p) for p in GETS]
    per_source = cases // 2
    out = fuzz.endpoint_requests(schema, fuzz.material(data, process), per_source, seed, skip)
    model = ("POST", "/model")  # no input of its own: all its requests are schemathesis'
    out.update(fuzz.schema_requests(schema, cases, seed, only=[model]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cases", type=int, default=CASES, help="requests per endpoint")
    ap.add_argument("--seed", type=int, default=None, help="replay a run (default: a new one)")
    args = ap.parse_args()
    seed = secrets.randbelow(2**32) if args.seed is None else args.seed
    replay = f"python bench/bench_fuzz.py --seed {seed} --cases {args.cases} --out OUT"
    print(f"fuzz seed {seed} (replay: {replay})", flush=True)
    root = Path(tempfile.mkdtemp(prefix="bench-fuzz-"))
    model_uri, data = small_registered_model(root, name="clonescout-fuzz")
    client = start(model_uri, f"sqlite:///{root}/mlflow.db")
    t0 = time.perf_counter()
    requests_ = plan(client, model_uri, data, args.cases, seed)
    draw_s = time.perf_counter() - t0
    send = fuzz.asgi_sender(client)
    endpoints, failures = {}, []
    for endpoint, batch in requests_.items():
        t0 = time.perf_counter()
        tally = fuzz.fuzz(send, batch)
        endpoints[endpoint] = {**tally.as_dict(), "seconds": round(time.perf_counter() - t0, 1)}
        print(endpoint, endpoints[endpoint], flush=True)
        for text in tally.server_errors + tally.unnamed_422:
            print(f"\n=== {endpoint}, seed {seed}, a request to keep as a test:\n{text}\n")
            failures.append(f"{endpoint}: {text}")
    client.__exit__(None, None, None)
    shutil.rmtree(root, ignore_errors=True)
    result = {
        "benchmark": "the HTTP API fuzzed in process (schemathesis and hand-made requests)",
        "machine": f"{platform.machine()}, {platform.python_version()}, {sys.platform}",
        "seed": seed,
        "replay": replay,
        "cases_per_endpoint": args.cases,
        "draw_s": round(draw_s, 1),
        "endpoints": endpoints,
        "failures": failures,
        "targets": {"server_errors": 0, "unnamed_422": 0},
    }
    result["meets_target"] = not failures
    return finish(result, args.out, _table(result), hide=("failures",))


def _table(r: dict) -> list[dict]:
    rows = []
    for endpoint, e in r["endpoints"].items():
        rows.append(
            row(
                f"{endpoint}: server errors in {e['cases']} fuzzed requests (seed {r['seed']})",
                e["server_errors"],
                "requests",
                target="0",
                met=e["server_errors"] == 0,
            )
        )
        rows.append(
            row(
                f"{endpoint}: 422 answers naming no field path",
                e["unnamed_422"],
                "requests",
                target="0",
                met=e["unnamed_422"] == 0,
            )
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())

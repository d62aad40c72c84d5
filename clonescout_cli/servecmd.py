"""``clonescout serve``: check everything, pin the model version, then start BentoML."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from models.registry import load_pinned, use_tracking

SERVICE = "serving.app:Clonescout"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def serve_env(args: argparse.Namespace, pinned_uri: str) -> dict[str, str]:
    """The service's environment: the pinned model and the options of this command."""
    import mlflow

    from serving.config import Settings

    env = dict(os.environ)
    env["CLONESCOUT_MODEL"] = pinned_uri
    env["MLFLOW_TRACKING_URI"] = mlflow.get_tracking_uri()
    if args.workers is not None:
        env["CLONESCOUT_WORKERS"] = str(args.workers)
    # the workers share the cores out: a thread pool per worker (OpenMP in XGBoost, BLAS)
    # as wide as the machine only fights the other workers (2 workers went 240 -> 68 req/s)
    threads = Settings.from_env(env).threads
    for var in THREAD_VARS:
        env.setdefault(var, str(threads))
    if args.api_keys_file is not None:
        env["CLONESCOUT_API_KEYS_FILE"] = str(args.api_keys_file.resolve())
    if args.no_batching:
        env["CLONESCOUT_BATCHING"] = "off"
    env["BENTOML_HOME"] = str(service_home(env, args.port))
    return env


def service_home(env: dict[str, str], port: int) -> Path:
    """BentoML's home for the service on ``port``: its own, under the user's BENTOML_HOME.

    ``bentoml serve`` empties ``$BENTOML_HOME/prometheus_multiproc_dir`` when it starts
    (``bentoml.serving.ensure_prometheus_dir``), so a second service sharing the home would
    zero the first one's /metrics. Two live services on one machine never share a port.
    """
    base = Path(env.get("BENTOML_HOME") or Path.home() / "bentoml").expanduser()
    return base / "clonescout" / f"port-{port}"


def cmd_serve(args: argparse.Namespace) -> int:
    """Preconditions first (config, port, model), then exec ``bentoml serve``."""
    try:
        import bentoml  # noqa: F401
    except ImportError:
        raise ValueError("BentoML is not installed: pip install -e '.[serve]'") from None
    from serving.config import Settings

    if not _port_free(args.host, args.port):
        raise ValueError(f"--port {args.port}: {args.host}:{args.port} is in use; pick another")
    use_tracking()
    pinned = load_pinned(args.model)  # fails here, clearly, if there is no model
    uri, version = pinned.uri, pinned.version
    env = serve_env(args, uri)
    settings = Settings.from_env(env)  # a bad setting fails now, not in every worker
    auth = "on" if settings.api_keys else "off"
    base = f"http://{args.host}:{args.port}"
    print(
        f"pages for people at {base}/ui/ (campaign, clone, model); serving {uri} (version "
        f"{version or '-'}, from {args.model}) on {base}  auth {auth}; {settings.n_workers} "
        f"worker(s) x {settings.threads} thread(s); API description at / and /docs.json, "
        "ready at /readyz",
        file=sys.stderr,
        flush=True,
    )
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    argv = [str(bentoml_cli), "serve", SERVICE, "--host", args.host, "--port", str(args.port)]
    os.execve(str(bentoml_cli), argv, env)
    return 0  # not reached


def add_serve_parser(sub: argparse._SubParsersAction, default_model: str, positive_int) -> None:
    p = sub.add_parser("serve", help="start the HTTP API (BentoML) on the pinned model")
    p.add_argument("--port", type=positive_int, default=3000, help="TCP port (default 3000)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 to serve the network)",
    )
    p.add_argument(
        "--model",
        default=default_model,
        help=f"model URI (default {default_model}); an alias is pinned to its version at start",
    )
    p.add_argument(
        "--workers",
        help="worker processes: a number or 'cpu_count' (default: one per core; each gets "
        "its share of the cores as XGBoost threads)",
        default=None,
    )
    p.add_argument(
        "--api-keys-file",
        type=Path,
        help="file with one API key per line: requests then need the X-API-Key header",
    )
    p.add_argument(
        "--no-batching",
        action="store_true",
        help="score each request alone instead of batching concurrent requests",
    )
    p.set_defaults(func=cmd_serve)

"""What every benchmark does last: write its JSON result with its table rows, and show it.

Each benchmark keeps its full result and adds ``table``: the rows that ``bench/collect.py``
puts into ``bench/results.json`` and ``BENCHMARKS.md`` (a figure, ours beside the baseline
measured in the same run, their ratio, the target and whether it is met). A missed target
is a row that says so, not a failed command: ``make bench`` stops only when a benchmark
breaks.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any


def row(
    figure: str,
    value: float,
    unit: str,
    baseline: float | None = None,
    baseline_is: str = "",
    target: str = "",
    met: bool | None = None,
) -> dict:
    """One line of the benchmark table; ``ratio`` is ours / baseline when there is one.

    >>> row("whatif, 500 candidates", 0.2, "s", 10.0, "one call per candidate")["ratio"]
    0.02
    """
    ratio = None if baseline in (None, 0) else round(value / baseline, 3)
    return {
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_is": baseline_is,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


@contextlib.contextmanager
def patched(module: Any, **values: Any) -> Iterator[None]:
    """Module attributes set to ``values`` for the block (a twin's constant, a DOE box)."""
    old = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


def map_histories(
    work: Callable[..., Any], histories: list[int], jobs: int = 0, **kw: Any
) -> tuple[list, int]:
    """``work(h, threads=..., **kw)`` for every training history, ``jobs`` processes at once.

    0 jobs: one per core, at most one per history. Each process gets its share of the cores
    as XGBoost and BLAS threads (pools as wide as the machine in every process spun idle: a
    training took 11 min instead of 2.5); spawned, since XGBoost and MLflow run threads.
    Returns the results in the order of ``histories`` and the number of jobs.
    """
    from clonescout_cli.servecmd import THREAD_VARS

    cores = os.cpu_count() or 1
    jobs = jobs or min(len(histories), cores)
    threads = max(1, cores // jobs)
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        return list(pool.map(partial(work, threads=threads, **kw), histories)), jobs


def finish(result: dict, out: Path, table: list[dict], hide: tuple[str, ...] = ()) -> int:
    """Write ``result`` and its ``table`` to ``out``; print it without the ``hide`` keys."""
    result = {**result, "table": table}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in hide}, indent=2))
    return 0


def demo_registered_model(root: Path, name: str = "clonescout-demo"):
    """The model ``make demo`` trains (default set, day 7, 15 trials), in a throw-away store.

    For speed figures users will meet: a small model has fewer and shallower trees. The
    learning curve is left out (it does not change the registered model). Returns the model
    URI and the training data.
    """
    from clonescout_cli.demo import DemoSettings

    demo = DemoSettings()
    return _registered_model(
        root,
        demo.config,
        name,
        horizon_day=demo.horizon_day,
        trials=demo.trials,
        seed=demo.config.seed,
    )


def small_registered_model(root: Path, name: str = "clonescout-bench"):
    """Train and register a model in a throw-away MLflow store under ``root``.

    6 simulated campaigns and a small tuning budget: speed does not depend on accuracy.
    Returns the model URI and the training data.
    """
    from simulator.campaign import SimulationConfig

    cfg = SimulationConfig(n_campaigns=6, clones_per_campaign=30, seed=21, deep_clone_share=0.0)
    return _registered_model(root, cfg, name, trials=3, n_folds=3, inner_folds=2)


def _registered_model(root: Path, cfg, name: str, **settings):
    """Simulate ``cfg`` under ``root``, train on it into a store there and register ``name``."""
    import mlflow

    from features.contract.loader import load_campaign
    from features.contract.spec import DEFAULT_SPEC_PATH
    from simulator.campaign import simulate_set, write_set
    from training.pipeline import train
    from training.settings import TrainSettings

    write_set(simulate_set(cfg), root / "set", cfg, "parquet")
    data = load_campaign(root / "set", require_outcomes=True)
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    mlflow.create_experiment("bench", artifact_location=str(root / "artifacts"))
    mlflow.set_experiment("bench")
    train(
        data,
        TrainSettings(spec_path=DEFAULT_SPEC_PATH, curve_horizons=(), model_name=name, **settings),
    )
    return f"models:/{name}/1", data

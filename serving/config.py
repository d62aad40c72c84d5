"""Service configuration, from environment variables (set by ``clonescout serve``).

=============================  ===========================================================
``CLONESCOUT_MODEL``           model URI; default ``models:/clonescout@champion`` (an alias
                               is pinned to its version when the worker loads it)
``MLFLOW_TRACKING_URI``        where the registry is; default ``sqlite:///mlflow.db`` in the
                               working directory, as for every other command
``CLONESCOUT_API_KEYS``        comma-separated API keys; auth is on when any is set
``CLONESCOUT_API_KEYS_FILE``   a file with one key per line (``#`` comments), instead
``CLONESCOUT_WORKERS``         worker processes: a number or ``cpu_count`` (the default: one
                               per core); each gets ``cores // workers`` XGBoost threads
``CLONESCOUT_BATCHING``        ``on`` (default) or ``off``: score concurrent requests together
``CLONESCOUT_MAX_BATCH_RUNS``  most runs scored in one batch (default 256)
=============================  ===========================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from models.registry import DEFAULT_MODEL_URI

API_KEY_HEADER = "X-API-Key"
KEY_COOKIE = "clonescout_key"  # the pages' session: the key, HttpOnly, SameSite=Strict
OPEN_PATHS = frozenset(("/livez", "/readyz", "/ui/login"))
UI_PREFIX = "/ui"  # the pages (serving.web), mounted on the service
OPEN_PREFIXES = ("/ui/static/",)  # the pages' style sheet and scripts hold no data


def is_open(path: str) -> bool:
    """A path anyone may ask for, key or not.

    >>> is_open("/livez"), is_open("/ui/static/app.css"), is_open("/ui/"), is_open("/score")
    (True, True, False, False)
    """
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def is_page(path: str) -> bool:
    """A page of the web application (not its JSON API).

    >>> is_page("/ui/clone"), is_page("/ui/api/jobs"), is_page("/score")
    (True, False, False)
    """
    return (path == UI_PREFIX or path.startswith(UI_PREFIX + "/")) and not path.startswith(
        UI_PREFIX + "/api/"
    )


class ConfigError(ValueError):
    """A setting that cannot be used, naming the variable and what would be right."""


def _keys(env: dict[str, str]) -> tuple[str, ...]:
    keys = [k.strip() for k in env.get("CLONESCOUT_API_KEYS", "").split(",")]
    path = env.get("CLONESCOUT_API_KEYS_FILE")
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"CLONESCOUT_API_KEYS_FILE={path}: no such file")
        lines = (line.split("#", 1)[0].strip() for line in p.read_text().splitlines())
        keys += list(lines)
    keys = [k for k in keys if k]
    short = [i for i, k in enumerate(keys) if len(k) < 16]
    if short:
        raise ConfigError(
            f"API keys must have at least 16 characters ({len(short)} shorter); "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return tuple(keys)


def cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _workers(text: str) -> int | str:
    if text == "cpu_count":
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise ConfigError(f"CLONESCOUT_WORKERS={text!r}: give a number >= 1 or 'cpu_count'")


@dataclass(frozen=True)
class Settings:
    """The service's settings (see the module docstring for the variables)."""

    model_uri: str
    api_keys: tuple[str, ...]
    workers: int | str
    batching: bool
    max_batch_runs: int

    @property
    def n_workers(self) -> int:
        """The worker processes BentoML starts (``cpu_count``: one per core)."""
        return cores() if self.workers == "cpu_count" else int(self.workers)

    @property
    def threads(self) -> int:
        """XGBoost (OpenMP) threads per worker: the cores shared out, at least one.

        Workers that each used every core fought over them: 2 workers went from 240 to
        68 req/s (issue 25).
        """
        return max(1, cores() // self.n_workers)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        batching = env.get("CLONESCOUT_BATCHING", "on").lower()
        if batching not in ("on", "off"):
            raise ConfigError(f"CLONESCOUT_BATCHING={batching!r}: give 'on' or 'off'")
        max_runs = env.get("CLONESCOUT_MAX_BATCH_RUNS", "256")
        if not max_runs.isdigit() or int(max_runs) < 1:
            raise ConfigError(f"CLONESCOUT_MAX_BATCH_RUNS={max_runs!r}: give a number >= 1")
        return cls(
            model_uri=env.get("CLONESCOUT_MODEL", DEFAULT_MODEL_URI),
            api_keys=_keys(env),
            workers=_workers(env.get("CLONESCOUT_WORKERS", "cpu_count")),
            batching=batching == "on",
            max_batch_runs=int(max_runs),
        )

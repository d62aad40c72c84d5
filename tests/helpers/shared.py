"""Build an expensive test input once per test run, even when xdist runs several workers.

A session fixture runs once per worker process; the trained bundles must not be trained
once per worker. :func:`built_once` builds into a folder that every worker of the run sees
(beside the workers' own temporary folders), under a file lock: the first worker builds,
the others wait for it and then read what it wrote.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

DONE = ".built"


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name`` after ``build(folder)`` has run in exactly one process of the run."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # one process: nothing to share
        root = factory.mktemp(name, numbered=False)
        build(root)
        return root
    base = factory.getbasetemp().parent  # the run's folder, above each worker's own
    root = base / name
    with FileLock(str(base / f"{name}.lock")):
        if not (root / DONE).is_file():
            shutil.rmtree(root, ignore_errors=True)  # a half-built folder of a failed build
            root.mkdir()
            build(root)
            (root / DONE).touch()
    return root

"""Importing clonescout does no work: no settings read, no patching, no global filters.

Every module of the product is imported in a fresh interpreter with a setting that would
fail if it were read (``CLONESCOUT_WORKERS=many``); the interpreter's warning filters and
BentoML's timeout middleware must be as they were. Only the process entry points
(:mod:`serving.app`, :func:`clonescout_cli.entry.main`) set a process up.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers.paths import REPO

PACKAGES = ("features", "simulator", "models", "training", "serving", "clonescout_cli", "twineval")
ENTRY_POINTS = ("serving.app", "clonescout_cli.entry")

# warning filters installed by our own code are recorded (libraries install their own)
CHECK = f"""
import importlib, pkgutil, sys, warnings
from bentoml._internal.server.http import traffic
ours = []
def recording(original):
    def install(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.split(".")[0] in {PACKAGES!r}:
            ours.append((caller, args, kwargs))
        return original(*args, **kwargs)
    return install
warnings.filterwarnings = recording(warnings.filterwarnings)
warnings.simplefilter = recording(warnings.simplefilter)
timeout_class = traffic.TimeoutMiddleware
names = []
for pkg in {PACKAGES!r}:
    mod = importlib.import_module(pkg)
    names.append(pkg)
    for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
        if info.name in {ENTRY_POINTS!r}:
            continue
        importlib.import_module(info.name)
        names.append(info.name)
assert not ours, ours
assert traffic.TimeoutMiddleware is timeout_class, traffic.TimeoutMiddleware
print(len(names))
"""


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_importing_every_module_changes_nothing_in_the_process() -> None:
    done = _python(CHECK, CLONESCOUT_WORKERS="many")
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) > 100  # every module was imported


def test_the_server_entry_point_reads_its_settings_when_it_starts() -> None:
    done = _python("import serving.app", CLONESCOUT_WORKERS="many")
    assert done.returncode != 0
    assert "CLONESCOUT_WORKERS" in done.stderr  # the error names the setting

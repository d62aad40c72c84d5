"""The Bento carries only what serving needs, and the service starts from it alone.

``bentoml build`` packages the service (bentofile.yaml) into a scratch BentoML home. The
Bento's source holds no training, simulator or CLI code, and the service is then started
from that source in an interpreter that sees the installed libraries but not this checkout
(no editable install of clonescout): a missing file or an import of an excluded package
fails here, not in a deployment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest
import yaml

from serving.engine import runs_from_campaign
from serving.ready import stop, wait_until_ready
from tests.helpers.paths import REPO

pytest.importorskip("bentoml")
BIN = Path(sys.executable).parent
EXCLUDED = ("training", "simulator", "clonescout_cli", "twineval", "tests", "bench")


@pytest.fixture(scope="module")
def bento_src(tmp_path_factory) -> Path:
    """bentofile.yaml built as it is, except that the package versions are not locked.

    Locking (``python.lock_packages``, on by default) resolves the requirements against the
    package index, which takes a minute and the network; the Bento's contents and the
    service's start do not depend on it.
    """
    home = tmp_path_factory.mktemp("bentoml_home")
    config = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    config["python"]["lock_packages"] = False
    bentofile = home / "bentofile.yaml"
    bentofile.write_text(yaml.safe_dump(config))
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}
    done = subprocess.run(
        [str(BIN / "bentoml"), "build", "-f", str(bentofile), "."],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    (src,) = (home / "bentos" / "clonescout").glob("*/src")
    return src


@pytest.fixture(scope="module")
def isolated_python(tmp_path_factory) -> Path:
    """A venv that sees the installed libraries but not clonescout's editable install."""
    venv = tmp_path_factory.mktemp("isolated") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    # a path line adds the directory, and its own .pth files (the editable finder) stay unread
    (site / "libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin" / "python"


def test_the_bento_holds_no_training_simulator_or_cli_code(bento_src: Path) -> None:
    top = {p.name for p in bento_src.iterdir()}
    assert not top & set(EXCLUDED), top
    for needed in ("serving/app.py", "serving/batch/pipeline.py", "serving/report/__init__.py",
                   "models/bundle.py", "features/contract/loader.py", "data/spec.yaml",
                   "data/ranking.yaml", "data/mappings/peer_emulator.yaml"):  # fmt: skip
        assert (bento_src / needed).is_file(), needed


def test_the_service_starts_from_the_built_bento(bento_src, isolated_python, trained, tmp_path):
    probe = subprocess.run(
        [str(isolated_python), "-c", "import bentoml, serving.app; import training"],
        cwd=bento_src, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CLONESCOUT_MODEL": "x", "PYTHONPATH": ""},
    )  # fmt: skip
    assert "No module named 'training'" in probe.stderr, probe.stderr[-2000:]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": "",
        "MLFLOW_TRACKING_URI": trained.tracking_uri,
        "CLONESCOUT_MODEL": "models:/clonescout-test/1",
        "BENTOML_HOME": str(tmp_path / "bentoml_home"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    env.pop("CLONESCOUT_API_KEYS", None)
    env.pop("CLONESCOUT_API_KEYS_FILE", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(isolated_python), "-m", "bentoml", "serve", "serving.app:Clonescout",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=bento_src, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, proc, timeout=240)
        runs = runs_from_campaign(trained.data)[:3]
        resp = httpx.post(f"{url}/score", json={"runs": runs}, timeout=60)
        assert resp.status_code == 200, resp.text[:2000]
        assert resp.json()["scored"] == 3
    except Exception:
        print(log.read_text()[-5000:])
        raise
    finally:
        stop(proc)

"""The registry side of a model: where MLflow is, which model is meant, and loading it pinned.

Every user of a registered model goes through here (the CLI's ``score``, ``whatif``,
``process`` and ``serve``, the HTTP service, promotion's re-evaluation), so "which model
answers" has one answer: an alias such as ``models:/clonescout@champion`` is resolved to
its version *once*, when the model is loaded, and that version is what every output names
(DESIGN §1: serving loads a pinned model, never "latest").

Nothing here runs at import: :func:`use_tracking` is called by a command or a service at
its start.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.bundle import Bundle

DEFAULT_STORE = "mlflow.db"  # MLflow's embedded default: sqlite:///mlflow.db + ./mlruns
MODEL_NAME = "clonescout"  # the registered model `train` registers and `promote` promotes
CHAMPION = "champion"  # the alias `promote` moves and every command serves by default
DEFAULT_MODEL_URI = f"models:/{MODEL_NAME}@{CHAMPION}"


def use_tracking(experiment: str | None = None) -> str:
    """Point MLflow at the embedded store unless ``MLFLOW_TRACKING_URI`` says otherwise.

    The embedded store is ``sqlite:///<cwd>/mlflow.db``, absolute, so that it is the store
    of the folder the command runs in. Inside ``mlflow run`` the experiment is chosen by
    ``--experiment-name`` (setting it there errors), so ``experiment`` is then left alone.
    Returns the tracking URI in use.
    """
    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(f"sqlite:///{Path.cwd() / DEFAULT_STORE}")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if experiment and not os.environ.get("MLFLOW_RUN_ID"):
        mlflow.set_experiment(experiment)
    return str(mlflow.get_tracking_uri())


def registered_name(uri: str) -> str:
    """The registered model's name in ``models:/NAME/VERSION`` (any other URI as it is).

    >>> registered_name("models:/clonescout/3")
    'clonescout'
    >>> registered_name("runs:/abc/model")
    'runs:/abc/model'
    """
    return uri[len("models:/") :].split("/", 1)[0] if uri.startswith("models:/") else uri


def version_uri(name: str, version: str) -> str:
    """The pinned URI of one registered version.

    >>> version_uri("clonescout", "3")
    'models:/clonescout/3'
    """
    return f"models:/{name}/{version}"


def alias_of(uri: str) -> str | None:
    """The alias a URI asks for (``champion`` in ``models:/clonescout@champion``), if any.

    >>> alias_of("models:/clonescout@champion"), alias_of("models:/clonescout/2")
    ('champion', None)
    """
    return uri.split("@", 1)[1] if uri.startswith("models:/") and "@" in uri else None


@dataclass(frozen=True)
class Pinned:
    """A loaded model and the version it was pinned to.

    ``uri`` is the pinned URI (``models:/NAME/VERSION`` when the request was an alias or a
    version; the URI as given otherwise), ``version`` the registry version or ``None`` for a
    URI outside the registry, ``requested`` what the user asked for.
    """

    model: Any  # the mlflow.pyfunc.PyFuncModel
    bundle: Bundle
    uri: str
    version: str | None
    requested: str

    @property
    def name(self) -> str:
        return registered_name(self.uri)

    @property
    def alias(self) -> str | None:
        return alias_of(self.requested)


def load_pinned(uri: str) -> Pinned:
    """Load the model ``uri`` names, an alias resolved to its version once, here.

    Raises ``ValueError`` saying which store was asked and what would help when the model
    cannot be found or loaded.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    requested, version = uri, None
    try:
        alias = alias_of(uri)
        if alias is not None:
            name = registered_name(uri.split("@", 1)[0])
            version = str(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
            uri = version_uri(name, version)
        elif uri.startswith("models:/") and uri.rsplit("/", 1)[-1].isdigit():
            version = uri.rsplit("/", 1)[-1]  # already pinned
        model = _load_with_installed_code(uri)
    except MlflowException as exc:
        raise ValueError(
            f"cannot load model {uri} from {mlflow.get_tracking_uri()} ({exc.message}); "
            "train one with `clonescout train` and `clonescout promote`, or pass --model"
        ) from None
    return Pinned(model, model.unwrap_python_model().bundle, uri, version, requested)


def _load_with_installed_code(uri: str) -> Any:
    """``mlflow.pyfunc.load_model``, leaving ``sys.path`` as it was.

    MLflow puts the model's logged copy of the project's code first on ``sys.path`` (for a
    process that has none). Here the installed project is already imported; left there,
    a module imported later - or by a spawned child process, which inherits the path -
    would come from the copy and mix two versions of the code.
    """
    import mlflow

    before = list(sys.path)
    try:
        return mlflow.pyfunc.load_model(uri)
    finally:
        sys.path[:] = before


def load_bundle(uri: str) -> Bundle:
    """Only the bundle of :func:`load_pinned` (for code that needs no identity)."""
    return load_pinned(uri).bundle

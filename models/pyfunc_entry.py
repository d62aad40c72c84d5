"""MLflow "models from code" entry: the bundle is logged without pickling any object."""

import mlflow.models

from models.bundle import ClonescoutModel

mlflow.models.set_model(ClonescoutModel())

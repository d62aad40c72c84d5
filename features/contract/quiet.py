"""The one known-harmless warning of the stack, silenced by the processes' entry points.

pandera imports ``pyspark.pandas`` whenever pyspark is installed (it is, for ``score
--engine spark``), and pyspark 4.3 then warns that pandas 3 is "not yet fully supported".
Nothing in clonescout uses pandas-on-Spark, so the warning would only be noise on every
command. The filter is installed by the entry points (the CLI's
:func:`clonescout_cli.entry.main`, the server's :mod:`serving.app`; the test suite's is in
``pyproject.toml``), never at import: a library that imports clonescout keeps its own
warning filters.
"""

from __future__ import annotations

import warnings

PANDAS_ON_SPARK = "PySpark does not yet fully support pandas"


def ignore_pandas_on_spark_warning() -> None:
    """Ignore pyspark's pandas-3 FutureWarning (before pandera is first imported)."""
    warnings.filterwarnings("ignore", message=PANDAS_ON_SPARK, category=FutureWarning)

"""The server process's entry point: what ``bentoml serve`` and the Bento start.

``clonescout serve`` runs ``bentoml serve serving.app:Clonescout``, and ``bentofile.yaml``
names the same. Like a ``main``, importing this module sets the process up: it silences
the stack's one known-harmless warning, reads the ``CLONESCOUT_*`` settings and builds the
service (:func:`serving.service.build`). Nothing in clonescout imports it; code that needs
the service without a server process (tests, the benchmarks) calls ``build()`` itself.
"""

from __future__ import annotations

from features.contract.quiet import ignore_pandas_on_spark_warning

ignore_pandas_on_spark_warning()

from serving.service import build  # noqa: E402  (after the warning filter)

Clonescout = build()

"""The ``clonescout`` console script: the process's own setup, then the command.

Kept apart from :mod:`clonescout_cli.main` so that the setup (warning filters) happens
before any of the stack is imported, and so that importing the CLI's modules changes
nothing in the importing process.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from features.contract.quiet import ignore_pandas_on_spark_warning

    ignore_pandas_on_spark_warning()
    from clonescout_cli.main import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())

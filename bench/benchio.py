"""What every benchmark does last: write its JSON result, show it, exit 1 if it missed."""

from __future__ import annotations

import json
from pathlib import Path


def finish(result: dict, out: Path, hide: tuple[str, ...] = ()) -> int:
    """Write ``result`` to ``out``; print it without the ``hide`` keys; 0 if on target."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in hide}, indent=2))
    return 0 if result["meets_target"] else 1

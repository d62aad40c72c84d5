"""Benchmark: ``clonescout report`` for 1,000 and 10,000 clones (target < 5 s at 10,000).

The inputs are synthetic but schema-exact (``tests/helpers/report_set.py``: 3 runs per clone,
50 clones per campaign, 5 % unknown clones, 1 rejected run per 20 clones), written once
per size outside the timing. Timed: :func:`serving.report.write_report`, i.e. reading and
checking the four files, building the tables and the three figures, and writing the page
(best of ``--repeats``). Reported with the page's size: plotly.js alone is ~4.8 MB, the
rest grows with the clones. What a browser then takes to draw the page is not timed here.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/helpers/report_set.py makes the inputs
from benchio import finish, row  # noqa: E402  (bench/ is on the path when a benchmark runs)

from serving.report import write_report  # noqa: E402
from tests.helpers.report_set import write_report_set  # noqa: E402

TARGET_S = 5.0  # for the largest size; a campaign lead re-runs it after every scoring


def measure(n_clones: int, repeats: int, root: Path) -> dict:
    rs = write_report_set(
        root / f"n{n_clones}",
        n_clones=n_clones,
        n_campaigns=max(1, n_clones // 50),
        n_unknown=n_clones // 20,
        n_rejects=n_clones // 20,
    )
    out = root / f"report_{n_clones}.html"
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        write_report(rs.scores, out)
        times.append(time.perf_counter() - t0)
    return {
        "clones": n_clones,
        "runs": 3 * n_clones,
        "write_report_s": round(min(times), 3),
        "all_s": [round(t, 3) for t in times],
        "html_mb": round(out.stat().st_size / 2**20, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clones", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        sizes = [measure(n, args.repeats, Path(tmp)) for n in args.clones]
    largest = max(sizes, key=lambda s: s["clones"])
    result = {
        "benchmark": "report",
        "what": "read + check + render + atomic write of the HTML page (best of repeats)",
        "sizes": sizes,
        "target_s": TARGET_S,
        "target_at_clones": largest["clones"],
        "meets_target": largest["write_report_s"] < TARGET_S,
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    return finish(result, args.out, _table(result))


def _table(r: dict) -> list[dict]:
    return [
        row(
            f"campaign report, {s['clones']} clones / {s['runs']} runs (best of repeats)",
            s["write_report_s"],
            "s",
            target=f"< {TARGET_S:g} s" if s["clones"] == r["target_at_clones"] else "",
            met=s["write_report_s"] < TARGET_S if s["clones"] == r["target_at_clones"] else None,
        )
        for s in r["sizes"]
    ]


if __name__ == "__main__":
    sys.exit(main())

"""Gather every benchmark's result into ``bench/results.json`` and ``BENCHMARKS.md``.

``make bench`` runs each benchmark (each writes ``bench/results/<name>.json`` with its full
result and its ``table`` rows), then this. The Markdown table is written from the JSON it
writes, each number printed exactly as JSON prints it, so the two files cannot disagree;
``tests/unit/test_benchmarks.py`` checks that they do not.

``--update NAME`` puts one benchmark run on its own into the existing files (its section
says when and at which commit it ran), for a benchmark added after the last full run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ORDER = (
    "simulate",
    "features",
    "load",
    "train",
    "regimes",
    "weak_sets",
    "serve",
    "score",
    "report",
    "whatif",
    "drift",
    "monitor",
    "lifecycle",
    "retraining",
    "web",
    "fuzz",
)
COLUMNS = ("figure", "ours", "unit", "baseline", "baseline is", "ours / baseline", "target", "met")


def machine() -> dict:
    mem_kb = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0].split()
        mem_kb = int(first[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def collect(folder: Path) -> dict:
    """Every benchmark's table, in the order ``make bench`` runs them; missing ones said."""
    benchmarks, missing = {}, []
    for name in ORDER:
        path = folder / f"{name}.json"
        if not path.exists():
            missing.append(name)
            continue
        result = json.loads(path.read_text())
        if "table" not in result:
            raise ValueError(f"{path}: no 'table' (written by an older benchmark; re-run it)")
        benchmarks[name] = {
            "meets_target": result["meets_target"],
            "table": result["table"],
            "details": {k: v for k, v in result.items() if k != "table"},
        }
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "machine": machine(),
        "benchmarks": benchmarks,
        "missing": missing,
    }


def cell(value: object) -> str:
    """A number exactly as JSON writes it (so the table equals the JSON), else the text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int | float):
        return json.dumps(value)
    return str(value).replace("|", "\\|")


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {results['date']} at commit {results['commit']}: "
        f"{m['cpus']} CPUs, {m['memory_gib']} GiB, {m['machine']}, {m['system']}, "
        f"Python {m['python']}. Each figure is measured beside its baseline in the same run; "
        "the ratio is ours / baseline (below 1 is faster for times, above 1 is more for "
        "throughputs). The same numbers, with every detail, are in `bench/results.json`.",
        "",
    ]
    if results["missing"]:
        lines += [f"Not run: {', '.join(results['missing'])}.", ""]
    for name, block in results["benchmarks"].items():
        verdict = "every target met" if block["meets_target"] else "a target is NOT met"
        lines += [f"## {name} ({verdict})", ""]
        if "run" in block:
            run = block["run"]
            lines += [f"Run on its own on {run['date']} at commit {run['commit']}.", ""]
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for r in block["table"]:
            values = (r["figure"], r["value"], r["unit"], r["baseline"], r["baseline_is"])
            values += (r["ratio"], r["target"], r["met"])
            lines.append("| " + " | ".join(cell(v) for v in values) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results.json")
    ap.add_argument("--markdown", type=Path, default=REPO / "BENCHMARKS.md")
    ap.add_argument("--update", metavar="NAME", help="add one benchmark run on its own")
    args = ap.parse_args()
    if args.update:
        results = json.loads(args.json.read_text())
        one = collect(args.results)["benchmarks"].get(args.update)
        if one is None:
            raise SystemExit(f"no {args.results / args.update}.json: run that benchmark first")
        one["run"] = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
        one["run"]["commit"] = commit()
        merged = {n: results["benchmarks"].get(n) for n in ORDER}
        merged[args.update] = one
        results["benchmarks"] = {n: b for n, b in merged.items() if b is not None}
        results["missing"] = [n for n in ORDER if n not in results["benchmarks"]]
    else:
        results = collect(args.results)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    args.markdown.write_text(markdown(results))
    met = sum(b["meets_target"] for b in results["benchmarks"].values())
    print(
        f"{len(results['benchmarks'])} benchmarks, {met} on every target -> {args.json}, "
        f"{args.markdown}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

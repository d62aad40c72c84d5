"""The benchmark table: BENCHMARKS.md says exactly what bench/results.json says."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

sys.path.insert(0, str(REPO / "bench"))
from benchio import row
from collect import COLUMNS, ORDER, cell, collect, markdown


def _tables(md: str) -> dict[str, list[list[str]]]:
    """Each section's table rows, as the cells' text."""
    out: dict[str, list[list[str]]] = {}
    name = None
    for line in md.splitlines():
        if line.startswith("## "):
            name = line[3:].split(" (")[0]
            out[name] = []
        elif name and line.startswith("| ") and not line.startswith("| figure"):
            out[name].append([c.strip() for c in line.strip("|").split(" | ")])
    return out


def _expected(r: dict) -> list[str]:
    values = (r["figure"], r["value"], r["unit"], r["baseline"], r["baseline_is"])
    return [cell(v).strip() for v in (*values, r["ratio"], r["target"], r["met"])]


def _check(results: dict, md: str) -> None:
    tables = _tables(md)
    assert list(tables) == list(results["benchmarks"])
    for name, block in results["benchmarks"].items():
        assert len(tables[name]) == len(block["table"]), name
        for shown, r in zip(tables[name], block["table"], strict=True):
            assert len(shown) == len(COLUMNS)
            assert shown == _expected(r), (name, r["figure"])


def test_markdown_prints_every_figure_as_the_json_does(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    table = [
        row("what-if | 500 candidates", 0.177, "s", 9.33, "one call each", "< 1 s", True),
        row("peak memory", 1.2345678901, "GB", target="< 2 GB", met=False),
    ]
    (folder / "whatif.json").write_text(json.dumps({"meets_target": False, "table": table}))
    results = collect(folder)
    assert results["missing"] == [name for name in ORDER if name != "whatif"]
    md = markdown(results)
    _check(json.loads(json.dumps(results)), md)
    assert "1.2345678901" in md and "**no**" in md and "a target is NOT met" in md
    assert table[0]["ratio"] == round(0.177 / 9.33, 3)


def test_a_result_without_a_table_is_refused(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text(json.dumps({"meets_target": True}))
    with pytest.raises(ValueError, match="no 'table'"):
        collect(tmp_path)


def test_committed_benchmarks_md_equals_results_json() -> None:
    results = json.loads((REPO / "bench" / "results.json").read_text())
    md = (REPO / "BENCHMARKS.md").read_text()
    _check(results, md)
    assert md == markdown(results)  # written from that JSON, not edited by hand
    # a benchmark added after the last full `make bench` may be missing (or run on its own,
    # `collect.py --update`): the table says so on its first lines, never silently
    if results["missing"]:
        assert f"Not run: {', '.join(results['missing'])}." in md
    for name, block in results["benchmarks"].items():
        if "run" in block:
            assert f"Run on its own on {block['run']['date']}" in md, name


def test_the_table_gathers_every_benchmark_make_bench_runs() -> None:
    """A benchmark added to ``make bench`` but not to ``collect.ORDER`` would go unreported."""
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    written = re.findall(r"--out bench/results/(\w+)\.json", makefile)
    assert sorted(written) == sorted(ORDER)

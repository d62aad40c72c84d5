"""``clonescout report``: checked inputs, escaping, atomic write, and the page in a real browser.

The browser test opens the page in Debian's Chromium driven by Playwright
(``executable_path``, so Playwright never downloads a browser of its own).
"""

from __future__ import annotations

import argparse
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from clonescout_cli.reportcmd import add_report_parser
from serving.report import render_report, sibling, write_report
from tests.helpers.browser import PLOTS_JS, opened, shoot
from tests.helpers.report_set import NASTY_ID, NASTY_REASON, ReportSet, write_report_set


@pytest.fixture()
def report_set(tmp_path: Path) -> ReportSet:
    return write_report_set(tmp_path / "scored")


def _edit_summary(rs: ReportSet, edit) -> None:
    path = sibling(rs.scores, "summary.json")
    summary = json.loads(path.read_text())
    edit(summary)
    path.write_text(json.dumps(summary))


# -- without a browser ------------------------------------------------------------------
def test_clone_ids_and_reasons_are_escaped(report_set: ReportSet) -> None:
    page = render_report(report_set.scores)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert html.escape(NASTY_ID) in page and html.escape(NASTY_REASON) in page
    tags = re.findall(r"<script\b[^>]*>", page)
    assert tags.count("<script>") == 3  # plotly.js, the plot loader, the table sorter
    data = [t for t in tags if t != "<script>"]
    assert len(data) == 3 and all('type="application/json" class="plot-data"' in t for t in data)
    for block in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S):
        assert not set("<>&") & set(block)
        assert json.loads(block)["data"]


class _Links(HTMLParser):
    """Every attribute that could make a browser fetch something."""

    FETCHING: ClassVar[set[str]] = {
        "src",
        "href",
        "action",
        "formaction",
        "poster",
        "data",
        "srcset",
        "background",
    }

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [v or "" for k, v in attrs if k in self.FETCHING]


def test_page_loads_nothing_from_outside(report_set: ReportSet) -> None:
    page = render_report(report_set.scores)
    links = _Links()
    links.feed(page)
    assert links.urls and all(u.startswith("#") for u in links.urls), links.urls
    assert not links.tags & {"link", "img", "iframe", "object", "embed", "base", "source"}
    css = re.search(r"<style>(.*?)</style>", page, re.S)
    assert css is not None and "url(" not in css.group(1) and "@import" not in css.group(1)
    assert "default-src 'none'" in page  # the CSP forbids any fetch the markup might hide
    assert page.count("plotly.js v") == 1  # inlined once


@pytest.mark.parametrize("part", ["clones.parquet", "summary.json", "rejects.csv"])
def test_missing_sibling_file_is_named(report_set: ReportSet, tmp_path: Path, part: str) -> None:
    sibling(report_set.scores, part).unlink()
    out = tmp_path / "report.html"
    with pytest.raises(ValueError, match=re.escape(f"scores.{part}: file not found")):
        write_report(report_set.scores, out)
    assert not out.exists() and not out.with_name("report.html.tmp").exists()


def test_missing_scores_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nothing\.parquet: file not found"):
        render_report(tmp_path / "nothing.parquet")


@pytest.mark.parametrize(
    "where",
    [
        ("model", "training_data_hash"),
        ("ranking", "criteria"),
        ("flags",),
        ("spec", "limits", 2, "unit"),
    ],
)
def test_summary_key_missing_is_named(report_set: ReportSet, where: tuple) -> None:
    def drop(summary: dict) -> None:
        node = summary
        for k in where[:-1]:
            node = node[k]
        del node[where[-1]]

    _edit_summary(report_set, drop)
    key = ".".join(str(k) for k in where).replace(".2.", "[2].")
    with pytest.raises(ValueError, match=re.escape(f"key '{key}' is missing")):
        render_report(report_set.scores)


def test_clone_table_column_missing_is_named(report_set: ReportSet) -> None:
    path = sibling(report_set.scores, "clones.parquet")
    pd.read_parquet(path).drop(columns=["desirability"]).to_parquet(path)
    with pytest.raises(ValueError, match=r"clones.parquet: column\(s\) desirability missing"):
        render_report(report_set.scores)


def test_files_from_different_runs_are_refused(report_set: ReportSet) -> None:
    _edit_summary(report_set, lambda s: s.update(clones_ranked=s["clones_ranked"] + 1))
    with pytest.raises(ValueError, match="different runs of `clonescout score`"):
        render_report(report_set.scores)


def test_write_is_atomic_and_keeps_the_old_page_on_error(
    report_set: ReportSet, tmp_path: Path
) -> None:
    out = tmp_path / "new" / "report.html"
    assert write_report(report_set.scores, out) == out
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
    before = out.read_bytes()
    sibling(report_set.scores, "summary.json").unlink()
    with pytest.raises(ValueError):
        write_report(report_set.scores, out)
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
    with pytest.raises(ValueError, match=r"\.html file"):
        write_report(report_set.scores, tmp_path / "report.pdf")


def test_csv_set_with_downstream_risk_and_many_rejects(tmp_path: Path) -> None:
    rs = write_report_set(tmp_path, fmt="csv", n_rejects=250, downstream_judged=True, seed=3)
    page = render_report(rs.scores)
    assert "… and 50 more rejected runs" in page
    assert "Downstream risk" in page and "dsp_yield_pct ≥ 65 % of harvested antibody" in page
    assert "hmw_pct ≤ 8 % of Protein A eluate (SEC)" in page  # not judged, said so
    assert all(html.escape(c) in page for c in rs.ranked_ids + rs.unknown_ids)


def test_no_clone_at_all(report_set: ReportSet) -> None:
    pd.DataFrame().to_parquet(sibling(report_set.scores, "clones.parquet"))
    _edit_summary(report_set, lambda s: s.update(clones=0, clones_ranked=0, clones_unknown=0))
    page = render_report(report_set.scores)
    assert "No clone could be ranked." in page and "No ranked clone to plot." in page


def test_cli_prints_one_line(report_set: ReportSet, tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser(prog="clonescout")
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "report.html"
    args = parser.parse_args(["report", "--scores", str(report_set.scores), "--out", str(out)])
    assert args.func(args) == 0
    n_ranked, n_unknown = len(report_set.ranked_ids), len(report_set.unknown_ids)
    assert (
        capsys.readouterr().out
        == f"report: {n_ranked} clones ranked, {n_unknown} unknown -> {out}\n"
    )


# -- in headless Chromium ---------------------------------------------------------------
COLUMN_JS = """([table, col]) => Array.from(document.querySelectorAll('#' + table + ' tbody tr'))
  .map(r => r.cells[col].getAttribute('data-v'))"""


def _sorted_by(page, header: str, col: int) -> list[str]:
    page.locator("#ranked-table thead th", has_text=header).click()
    return page.evaluate(COLUMN_JS, ["ranked-table", col])


def _check_sorting(page, n_ranked: int) -> None:
    ranks = [int(v) for v in page.evaluate(COLUMN_JS, ["ranked-table", 0])]
    assert ranks == list(range(1, n_ranked + 1))  # as written: by rank
    _sorted_by(page, "Rank", 0)
    assert [int(v) for v in _sorted_by(page, "Rank", 0)] == ranks[::-1]  # numeric: 10 > 9
    up = _sorted_by(page, "Expected product", 7)
    down = _sorted_by(page, "Expected product", 7)
    for values, reverse in ((up, False), (down, True)):
        known = [float(v) for v in values if v]  # the clone without a titer has no product
        assert len(known) == n_ranked - 1 and values[-1] == ""  # missing: last either way
        assert known == sorted(known, reverse=reverse)


@pytest.mark.slow
def test_page_in_headless_chromium(report_set: ReportSet, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # paths as a user types them: the page shows them
    out = write_report(report_set.scores.relative_to(tmp_path), Path("report.html")).resolve()
    with opened(out) as (page, seen):
        plots = {plot["id"]: plot for plot in page.evaluate(PLOTS_JS)}
        ranked = page.evaluate(
            "() => Array.from(document.querySelectorAll('#ranked-table td.clone'))"
            ".map(td => td.textContent)"
        )
        unknown = page.evaluate(
            "() => Array.from(document.querySelectorAll('#unknown-table td.clone'))"
            ".map(td => td.textContent)"
        )
        ticks = page.evaluate(
            "() => Array.from(document.querySelectorAll('#risk .ytick text'))"
            ".map(t => t.textContent)"
        )
        shot = shoot(page, tmp_path)  # in rank order, as the lead first sees it
        _check_sorting(page, len(report_set.ranked_ids))
    assert seen.problems == [] and seen.dialogs == []
    assert seen.fetched() == {out.as_uri()}
    assert set(plots) == {"pareto", "yield-titer", "risk"}
    for plot in plots.values():
        assert plot["svg"] and plot["traces"], plot
    with_product = len(report_set.ranked_ids) - 1  # one ranked clone has no titer
    assert plots["pareto"]["points"] == with_product == plots["yield-titer"]["points"]
    assert plots["risk"]["heatmaps"] == 1
    assert ranked == report_set.ranked_ids and sorted(unknown) == sorted(report_set.unknown_ids)
    assert any("<script>alert" in t for t in ticks)  # shown as text, not run, not "&lt;"
    assert shot.stat().st_size > 50_000


def test_summary_says_how_far_to_trust_the_ranking(tmp_path: Path) -> None:
    """The model's learner per target and its held-out clone choice, beside PLS and truth."""
    rs = write_report_set(tmp_path, fmt="csv", n_rejects=0, downstream_judged=True, seed=4)
    path = sibling(rs.scores, "summary.json")
    summary = json.loads(path.read_text())
    figures = {"pairwise": 0.807, "pairs": 1800, "pairwise_all": 0.75}
    summary["model_quality"] = {
        "families": {"dsp_yield_pct": {"family": "ridge", "why": "a tie"}},
        "clone_choice": {
            "dsp_yield_pct": {
                "noise_gap": 2.3,
                "best_by": "noise-free truth",
                "model": {**figures, "top10_in_top10": 0.53, "top10_in_top20": 0.82},
                "pls": {
                    **figures,
                    "pairwise": 0.794,
                    "top10_in_top10": 0.48,
                    "top10_in_top20": 0.75,
                },
                "truth": {
                    **figures,
                    "pairwise": 0.977,
                    "top10_in_top10": 1.0,
                    "top10_in_top20": 1.0,
                },
            }
        },
    }
    path.write_text(json.dumps(summary))
    page = render_report(rs.scores)
    assert "How far to trust the ranking" in page and 'id="clone-choice"' in page
    assert "<code>dsp_yield_pct</code> ridge" in page
    for text in ("80.7 %", "79.4 %", "97.7 %", "noise-free truth (the ceiling)", "PLS"):
        assert text in page, text
    del summary["model_quality"]  # a model from before issue 23: no section, no error
    path.write_text(json.dumps(summary))
    assert "How far to trust the ranking" not in render_report(rs.scores)

"""A page open in headless Chromium (Debian's, driven by Playwright; no browser download)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

CHROMIUM = Path("/usr/bin/chromium")
PLOTS_JS = """() => Array.from(document.querySelectorAll('div.plot')).map(d => ({
  id: d.id,
  svg: d.querySelectorAll('svg.main-svg').length,
  traces: (d.data || []).length,
  points: d.querySelectorAll('.scatterlayer .trace .point').length,
  heatmaps: d.querySelectorAll('.heatmaplayer image').length,
}))"""


def _browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium "
            "(apt-get install -y --no-install-recommends chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "playwright is not installed: `make test` installs it (pip install -e '.[dev]')"
        )
    return sync_playwright()


@dataclass
class Seen:
    """What the browser reported while the page was open."""

    problems: list[str] = field(default_factory=list)  # console errors, page errors
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def fetched(self) -> set[str]:
        return {u for u in self.requests if not u.startswith(("data:", "blob:"))}


@contextlib.contextmanager
def opened(path: Path):
    """The page open in headless Chromium, once every plot has drawn, and what it reported."""
    seen = Seen()
    with _browser() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on(
                "console", lambda m: seen.problems.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: seen.problems.append(str(e)))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-plots=drawn]", timeout=60_000)
            yield page, seen
        finally:
            browser.close()


def shoot(page, tmp_path: Path, readme: bool = False) -> Path:
    """A full-page screenshot; the README's (docs/report.png) when asked and allowed.

    Only a real campaign's page goes in the README (test_stream_score renders one); set
    CLONESCOUT_UPDATE_SCREENSHOT=1 to rewrite it.
    """
    if readme and os.environ.get("CLONESCOUT_UPDATE_SCREENSHOT") == "1":
        shot = REPO / "docs" / "report.png"
        shot.parent.mkdir(exist_ok=True)
    else:
        shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    return shot

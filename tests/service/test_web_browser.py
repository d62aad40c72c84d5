"""The pages in a real browser: Playwright drives Debian's Chromium against `clonescout serve`.

The whole path a scientist takes, each step asserted on what the page shows:
upload the demo's lab export, read the ranking (sort, filter), open the top clone, move a
slider (the numbers shown equal `/whatif`'s answer for that point, asked separately), click
the design map (the sliders move to the cell), download the plan (its rows are the page's).
A bad upload shows its reasons and no stack trace; with an API key the pages refuse until
the key is given in the sign-in form. axe-core checks every page: no serious or critical
violation. Screenshots of each step are kept in ``test-artifacts/web/`` (and, with
CLONESCOUT_UPDATE_SCREENSHOT=1, the README's in ``docs/``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from pathlib import Path

import pytest
import requests

pytest.importorskip("bentoml")

from tests.helpers.browser import CHROMIUM, _browser
from tests.helpers.paths import REPO
from tests.helpers.service import KEY, served
from tests.helpers.web import lab_export, zipped

pytestmark = pytest.mark.slow
ARTIFACTS = REPO / "test-artifacts" / "web"
IMPACTS = ("serious", "critical")
# the answer shown is the one for the latest point asked (older answers are dropped)
SETTLED = (
    "(b) => { const a = document.querySelector('#answer'); return a.dataset.point !== b "
    "&& a.dataset.point === a.dataset.asked && !a.hasAttribute('aria-busy'); }"
)


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    with served(trained, tmp_path_factory.mktemp("web")) as (url, log):
        yield url, log


@pytest.fixture(scope="module")
def lab_zip(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lab")
    return zipped(lab_export(root), root / "lab_export.zip")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with _browser() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM))
        yield b
        b.close()


@contextlib.contextmanager
def page_of(browser, problems: list[str]):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()


def shoot(page, name: str, readme: str = "", part: str = "") -> None:
    """The page (or its ``part``, a selector) in test-artifacts; the README's when asked."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if readme and os.environ.get("CLONESCOUT_UPDATE_SCREENSHOT") == "1":
        target = page.locator(part) if part else page
        target.screenshot(path=str(REPO / "docs" / readme))


def accessible(page, where: str) -> None:
    """axe-core's serious and critical violations on this page: none."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in IMPACTS]
    assert not bad, f"{where}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in bad
    )


def _point(page) -> dict:
    return json.loads(page.get_attribute("#answer", "data-point"))


def test_the_whole_path_from_upload_to_plan(server, lab_zip, browser, tmp_path):
    url, _log = server
    problems: list[str] = []
    with page_of(browser, problems) as page:
        # 1. upload the demo's lab export, watch it scored
        page.goto(f"{url}/ui/")
        accessible(page, "campaign page, empty")
        page.set_input_files("#file", str(lab_zip))
        page.click("#go")
        page.wait_for_selector("#results:not([hidden])", timeout=180_000)
        status = page.text_content("#status")
        assert status.startswith("Done:") and "scored" in status
        job = page.evaluate("window.location.hash").split("=")[1]
        state = requests.get(f"{url}/ui/api/jobs/{job}", timeout=30).json()
        assert f"{state['runs_in']} runs in, {state['scored']} scored" in status
        # 2. the ranking: every ranked clone a row, sortable, filterable; rejects with reasons
        rows = page.locator("#ranked-table tbody tr")
        assert rows.count() == state["summary"]["clones_ranked"]
        assert page.locator("#rejects-table tbody tr").count() == state["rejected"]
        assert "line" in page.text_content("#rejects-table tbody tr >> nth=0")
        page.focus("#ranked-table th:nth-child(1) button")  # by keyboard: rank, ascending
        page.keyboard.press("Enter")
        assert page.get_attribute("#ranked-table th:nth-child(1)", "aria-sort") == "ascending"
        top = page.text_content("#ranked-table tbody tr:first-child td:nth-child(2)")
        top_clone = next(c for c in state["clones"] if c["rank"] == 1)
        assert top == top_clone["clone_id"]
        page.fill("#filter", top)
        assert page.locator("#ranked-table tbody tr").count() == 1
        page.fill("#filter", "")
        links = [a.get_attribute("href") for a in page.locator("#downloads a").all()]
        assert len(links) == len(state["files"])
        frame = page.frame_locator("#report")  # the full report, shown in the page
        assert "Ranked clones" in frame.locator("#ranked h2").text_content()
        accessible(page, "campaign page, ranked")
        shoot(page, "1-campaign", readme="ui-campaign.png")
        # 3. open the top clone
        page.focus("#ranked-table tbody tr:first-child a.clone-link")
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        assert page.text_content("#title") == f"Clone {top}"
        assert page.locator("#runs-table tbody tr").count() >= 1
        assert page.locator("#limits-table tbody tr").count() >= 1
        sliders = page.locator("#sliders input[type=range]")
        assert sliders.count() >= 2
        accessible(page, "clone page")
        shoot(page, "2-clone")
        # 4. move a slider by keyboard: the numbers become /whatif's for that point
        before = _point(page)
        first = sliders.nth(0)
        first.focus()
        for _ in range(15):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(SETTLED, arg=json.dumps(before))
        moved = _point(page)
        assert moved != before
        view = requests.get(f"{url}/ui/api/jobs/{job}/clones/{top}", timeout=30).json()
        answer = requests.post(
            f"{url}/whatif",
            json={"request": {**view["whatif"], "candidates": [moved], "design_space": None}},
            timeout=60,
        ).json()
        shown = page.get_attribute("#answer", "data-state")
        hit = [c for c in answer["candidates"] if c.get("source") not in ("platform",)]
        hit = [c for c in hit if not str(c.get("source", "")).startswith("run ")]
        if shown == "inside":
            assert len(hit) == 1
            assert page.text_content("#ans-epp") == _sig(hit[0]["expected_product_g_l"])
            assert page.text_content("#ans-pspec") == f"{100 * hit[0]['p_meet_spec']:.0f} %"
            for t in view["process"]["targets"]:
                if t in hit[0]:
                    cell = page.text_content(f'#answer-table tr[data-key="{t}"] td:nth-child(2)')
                    assert cell == _sig(hit[0][t]), t
        else:
            assert not hit and answer["excluded"]
            assert page.text_content("#outside-reason") == answer["excluded"][0]["reason"]
        shoot(page, "3-slider")
        # 5. click the design map: the sliders move to the cell, the numbers follow
        page.wait_for_function("() => document.querySelector('#map').dataset.cells > 0")
        # the map's numbers as a table too (screen readers, keyboard): one per cell inside
        cells = int(page.get_attribute("#map", "data-cells"))
        shown = page.locator("#map-cells tbody td").all_text_contents()
        assert sum(v != "–" for v in shown) == cells
        assert all(0 <= float(v) <= 1 for v in shown if v != "–")
        at = _point(page)
        page.locator("#map").scroll_into_view_if_needed()
        box = page.locator("#map .nsewdrag").first.bounding_box()
        x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6
        page.mouse.move(x, y)  # plotly picks the cell under the pointer on hover
        page.mouse.click(x, y)
        page.wait_for_function(SETTLED, arg=json.dumps(at))
        clicked = _point(page)
        fx, fy = page.input_value("#map-x"), page.input_value("#map-y")
        assert clicked[fx] != at[fx] or clicked[fy] != at[fy]
        shoot(page, "4-map", readme="ui-clone.png", part="#process-section")
        # 6. download the plan: the file's rows are the page's plan
        assert page.locator("#plan-table tbody tr").count() >= 1
        with page.expect_download() as got:
            page.click("#download-plan")
        path = tmp_path / "plan.csv"
        got.value.save_as(path)
        plan = list(csv.DictReader(io.StringIO(path.read_text())))
        assert len(plan) == page.locator("#plan-table tbody tr").count()
        assert fx in plan[0] and fy in plan[0]
        # 7. the model page
        page.goto(f"{url}/ui/model")
        page.wait_for_selector("body[data-ready=true]")
        assert "clonescout-test version 1" in page.text_content("#card")
        assert page.locator("#metrics-table tbody tr").count() == len(view["targets"])
        assert page.text_content("#monitor-verdict")
        accessible(page, "model page")
        shoot(page, "5-model")
    assert not problems, problems


def _sig(v: float) -> str:
    """The page's 3-significant-digit form (common.js CS.sig) for 0.001 <= |v| < 1000."""
    return f"{float(f'{v:.3g}'):.10g}"


def test_a_bad_upload_shows_its_reasons_and_never_a_trace(server, lab_zip, browser, tmp_path):
    url, _log = server
    problems: list[str] = []
    with page_of(browser, problems) as page:
        page.goto(f"{url}/ui/")
        runs = tmp_path / "runs.csv"
        runs.write_text("run_id,clone_id\nR1,C1\n")
        page.set_input_files("#file", str(runs))
        page.click("#go")
        page.wait_for_selector("#error:not([hidden])")
        text = page.text_content("#error")
        assert "mapping" in text and "Traceback" not in text
        broken = tmp_path / "broken.zip"
        broken.write_bytes(b"PK this is no zip")
        page.set_input_files("#file", str(broken))
        page.click("#go")
        page.wait_for_function("() => document.querySelector('#error').textContent.includes('zip')")
        text = page.text_content("#error")
        assert "not a zip archive" in text and "Traceback" not in text
        shoot(page, "6-bad-upload")
    # a refused request is a console error of the browser's own: nothing else
    assert all("status of 422" in p or "Failed to load" in p for p in problems), problems


def test_with_a_key_the_pages_refuse_until_signed_in(trained, browser, tmp_path):
    with served(trained, tmp_path, keys=KEY) as (url, _log):
        assert requests.get(f"{url}/ui/api/mappings", timeout=30).status_code == 401
        problems: list[str] = []
        with page_of(browser, problems) as page:
            page.goto(f"{url}/ui/")
            assert page.url.endswith("/ui/login")
            accessible(page, "sign-in page")
            page.fill("#key", "wrong-key-wrong-key")
            page.keyboard.press("Enter")
            page.wait_for_selector("#failed:not([hidden])")
            page.fill("#key", KEY)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/ui/")
            page.wait_for_selector("#mapping option >> nth=1", state="attached")
            assert KEY not in page.url
            assert page.text_content("h1") == "Score a screening campaign"

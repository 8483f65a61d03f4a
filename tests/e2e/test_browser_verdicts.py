"""Real browser: mark three events, re-tune the threshold from the verdicts, reload, and find it all again.

With UPDATE_DOCS_SCREENSHOT=1 the Compare page is also saved as docs/screenshot_compare.png.
"""

from __future__ import annotations

import os
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest

from core.workspace import Workspace
from tests.e2e.browser_support import choose, idle, open_sample, shot
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.timeout(420)

ROW_HEIGHT = 35  # Streamlit's data grid: header and rows


def _select_row(page, grid, index: int, attempts: int = 3) -> None:
    """Tick the selection box of row ``index`` (0 = first under the header) of a data grid.

    A rerun may redraw the grid under the pointer, so the grid is found again when it went away.
    """
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(attempts):
        idle(page)
        try:
            grid.scroll_into_view_if_needed()
            box = grid.bounding_box()
        except PlaywrightError:
            if attempt == attempts - 1:
                raise
            continue
        page.mouse.click(box["x"] + 14, box["y"] + ROW_HEIGHT * (index + 1) + ROW_HEIGHT / 2)
        break
    idle(page, 1.0)


def _train(page, family: str | None = None, method: str | None = None) -> None:
    page.get_by_role("link", name="Train").first.click()
    page.get_by_role("heading", name="Train", exact=True).wait_for()
    idle(page)
    if family:
        page.get_by_text(family, exact=True).click()
        idle(page)
    if method:
        choose(page, "Method", method)
    page.get_by_test_id("stBaseButton-primary").click()
    page.get_by_role("heading", name="Over time", exact=True).wait_for()
    page.get_by_text("at this threshold").wait_for()
    idle(page, 1.5)


def _mark_event(page, index: int, verdict: str, note: str) -> None:
    events = page.get_by_test_id("stDataFrame").first
    _select_row(page, events, index)
    form = page.get_by_text("Verdict on this event")
    form.first.wait_for()
    # while the fragment reruns, the previous run's form can still be on the page beside the new one
    for _ in range(100):
        if form.count() == 1:
            break
        page.wait_for_timeout(100)
    assert form.count() == 1, "one verdict form for the selected event"
    page.get_by_test_id("stRadio").filter(has_text="Verdict on this event").get_by_text(verdict, exact=True).click()
    idle(page)
    page.get_by_placeholder("why (optional)").first.fill(note)
    page.get_by_placeholder("why (optional)").first.press("Enter")
    idle(page)
    page.get_by_role("button", name="Save verdict").first.click()
    page.get_by_text(re.compile("Verdict saved: this event is")).wait_for()
    idle(page)


def test_three_event_verdicts_retune_the_threshold_and_survive_a_reload(page, app_url):
    open_sample(page, app_url, "sensor.csv")
    _train(page)
    run_id = parse_qs(urlparse(page.url).query)["run"][0]
    events = int(re.search(r"([\d,]+) at this threshold", page.get_by_text("at this threshold").inner_text())
                 .group(1).replace(",", ""))
    assert events >= 3, f"the sample gives {events} events"
    page.get_by_role("textbox", name="Your name (on verdicts)").fill("Robin")
    page.get_by_role("textbox", name="Your name (on verdicts)").press("Enter")
    idle(page)
    _mark_event(page, 0, "real anomaly", "pressure spike")
    _mark_event(page, 1, "real anomaly", "second spike")
    _mark_event(page, 2, "false alarm", "maintenance")
    store = Workspace()
    saved = store.annotations(run_id)
    assert sorted(saved["verdict"]) == ["false_alarm", "real", "real"]
    assert set(saved["author"]) == {"Robin"} and "maintenance" in set(saved["note"])
    before = store.run_record(run_id).threshold

    page.get_by_role("button", name="Re-tune the threshold: best F1 on my verdicts").click()
    page.get_by_text(re.compile("Threshold re-tuned to")).wait_for()
    idle(page, 1.0)
    record = store.run_record(run_id)
    assert record.threshold_policy["strategy"] == "best_f1_verdicts" and record.threshold != before
    shot(page, "e2e_verdicts_retuned.png", 3600)

    page.reload()
    page.get_by_role("heading", name="Results", exact=True).wait_for()
    page.get_by_text("Your verdicts").wait_for()
    idle(page, 1.5)
    assert parse_qs(urlparse(page.url).query)["run"][0] == run_id
    page.get_by_text("F1 on verdicts").wait_for()
    page.get_by_text(re.compile("Trained with best F1 on the analyst's verdicts")).wait_for()
    assert len(store.annotations(run_id)) == 3
    number = page.get_by_role("spinbutton", name="Exact value")
    assert float(number.input_value()) == pytest.approx(record.threshold, rel=1e-4)

    # two more methods, and the runs side by side on the Compare page
    _train(page, "Classical ML", "Isolation Forest")
    _train(page, "Statistical")
    page.get_by_role("link", name="Compare").first.click()
    page.get_by_role("heading", name="Compare", exact=True).wait_for()
    page.get_by_role("heading", name="Where they disagree most").or_(page.get_by_text("Where they disagree most")).first.wait_for()
    idle(page, 2.0)
    shot(page, "e2e_compare.png", 2600)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        page.mouse.move(2, 2)
        page.set_viewport_size({"width": 1440, "height": 1700})
        time.sleep(1.5)
        page.screenshot(path=str(ROOT / "docs" / "screenshot_compare.png"))
        page.set_viewport_size({"width": 1440, "height": 1000})

"""Real browser: a time-series sample, its series view, and a range dragged into the Train page.

With UPDATE_DOCS_SCREENSHOT=1 the Results page is also saved as docs/screenshot_results.png.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.e2e.browser_support import choose, idle, open_sample, shot
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.timeout(300)


def test_sample_series_results(page, app_url):
    """A time-series sample: the series view, events, and a Results screenshot for the README."""
    open_sample(page, app_url, "sensor.csv")
    shot(page, "e2e_7_data_series.png")
    page.get_by_role("link", name="Train").first.click()
    page.get_by_role("heading", name="Train", exact=True).wait_for()
    idle(page)
    page.get_by_text("Classical ML").click()
    idle(page)
    choose(page, "Method", "k-nearest neighbours")
    page.get_by_test_id("stBaseButton-primary").click()
    page.get_by_role("heading", name="Over time", exact=True).wait_for()
    page.get_by_text("at this threshold").wait_for()
    idle(page, 2.0)
    shot(page, "e2e_8_results_series.png", 3200)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        page.mouse.move(2, 2)
        page.set_viewport_size({"width": 1440, "height": 1500})
        time.sleep(1.0)
        page.screenshot(path=str(ROOT / "docs" / "screenshot_results.png"))
        page.set_viewport_size({"width": 1440, "height": 1000})

    # a range dragged on the series is drawn again with every reading in it
    _drag(page, 0.45, 0.55)
    page.get_by_text(re.compile(r"readings, every one drawn")).wait_for()
    idle(page, 1.0)
    shot(page, "e2e_8b_results_zoomed.png", 2000)
    page.get_by_role("button", name="Show the whole series").click()
    idle(page, 1.0)
    assert not page.get_by_text(re.compile(r"readings, every one drawn")).is_visible()

    # in the other mode, a range dragged on the series becomes the normal training range
    page.get_by_text("Pick a normal range for training").click()
    idle(page, 1.0)
    _drag(page, 0.2, 0.4)
    page.get_by_role("button", name="Train on this range").click()
    page.get_by_text("Range taken from your selection").wait_for()
    assert page.get_by_role("radio", name="a time range").is_checked()


def _drag(page, start: float, end: float) -> None:
    """Drag across the series chart from ``start`` to ``end`` (shares of its width)."""
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.scroll_into_view_if_needed()
    panel = chart.locator(".nsewdrag").first  # the first panel's plot area: a drag must start inside one
    box = panel.bounding_box()
    x0, x1, y0 = box["x"] + box["width"] * start, box["x"] + box["width"] * end, box["y"] + box["height"] * 0.2
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, y0 + box["height"] * 0.3, steps=10)
    page.mouse.move(x1, y0 + box["height"] * 0.6, steps=10)
    page.mouse.up()

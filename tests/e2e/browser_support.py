"""Helpers shared by the browser tests."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd

from tests.e2e.conftest import SCREENSHOTS


def machines_csv(tmp_path):
    rng = np.random.default_rng(4)
    n = 600
    X = rng.normal(size=(n, 3))
    status = np.where(rng.uniform(size=n) < 0.1, "fault", "ok")
    X[status == "fault"] += rng.choice([-4.0, 4.0], size=((status == "fault").sum(), 3))
    frame = pd.DataFrame({"speed": X[:, 0].round(3), "load": X[:, 1].round(3), "vibration": X[:, 2].round(3),
                          "status": status})
    path = tmp_path / "machines.csv"
    frame.to_csv(path, index=False)
    return path, frame


def idle(page, settle: float = 0.5):
    """Wait until Streamlit has finished running the script."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    time.sleep(settle)


def shot(page, name: str, height: int = 2600):
    page.mouse.move(2, 2)  # no hover toolbars or tooltips in the picture
    page.set_viewport_size({"width": 1440, "height": height})
    time.sleep(1.0)
    page.screenshot(path=str(SCREENSHOTS / name))
    page.set_viewport_size({"width": 1440, "height": 1000})


def choose(page, label: str, option: str, attempts: int = 3):
    """Pick ``option`` in the select box ``label``.

    A rerun that lands just after the click can redraw the widget and close its list, so the list
    is opened again (up to ``attempts`` times) when the option does not show up.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    wanted = page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}")).first
    for attempt in range(attempts):
        idle(page)
        page.get_by_role("combobox", name=label, exact=True).click()
        try:
            wanted.click(timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
    idle(page)


def confusion_text(page) -> str:
    chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="Confusion matrix").first
    chart.wait_for()
    return re.sub(r"\s+", " ", chart.inner_text())


def open_sample(page, app_url: str, name: str):
    """Open the app and load the bundled sample ``name`` from the Data page."""
    page.goto(app_url)
    page.get_by_role("heading", name="Data", exact=True).wait_for()
    idle(page)
    page.get_by_role("tab", name="Sample datasets").click()
    choose(page, "Sample", name)
    page.get_by_role("button", name="Load sample").click()
    page.get_by_text("Ready:").wait_for()
    idle(page)


def set_training_length(page, epochs: int, batch_size: int) -> None:
    """Open the Train page's parameters and set a deep model's epochs and batch size."""
    from core.registry import PLAIN_LABELS

    page.get_by_text("Parameters (").click()
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        box = page.get_by_role("spinbutton", name=PLAIN_LABELS[name], exact=True)
        box.fill(str(value))
        box.press("Enter")
        idle(page)

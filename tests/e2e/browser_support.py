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


def choose(page, label: str, option: str):
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}")).first.click()
    idle(page)


def confusion_text(page) -> str:
    chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="Confusion matrix").first
    chart.wait_for()
    return re.sub(r"\s+", " ", chart.inner_text())

"""Real browser, busy machine: every training ends on the Results page with its metrics drawn.

Two CPU-bound processes run beside the server for the whole module, as on a machine shared with
other work; the page switch after training must not depend on how fast the browser and the
server answer each other.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tests.e2e.browser_support import idle, open_sample, set_training_length

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def burners(app_url):
    """Two processes that keep a core busy each, started after the server and stopped at the end."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield processes
    for process in processes:
        process.kill()
        process.wait(10)


def _results_with_metrics(page):
    """Wait for the Results page and its metric cards; return when they were drawn."""
    page.get_by_role("heading", name="Results", exact=True).wait_for(timeout=90_000)
    page.get_by_test_id("stMetric").filter(has_text="ROC-AUC").first.wait_for(timeout=90_000)
    page.get_by_text("Where each rule puts it").wait_for(timeout=90_000)
    return time.time()


def _open_train_page(page):
    page.get_by_role("link", name="Train").first.click()
    page.get_by_role("heading", name="Train", exact=True).wait_for()
    idle(page)


def test_quick_training_opens_results_with_metrics(page, app_url, burners):
    open_sample(page, app_url, "sensor.csv")
    _open_train_page(page)
    assert all(p.poll() is None for p in burners)  # still burning
    clicked = time.time()
    page.get_by_test_id("stBaseButton-primary").click()  # the method selected at first
    shown = _results_with_metrics(page)
    print(f"Results with metrics {shown - clicked:.1f} s after the click (two busy cores beside)")
    metric = page.get_by_test_id("stMetric").filter(has_text="F1").first.inner_text()
    assert re.search(r"\d\.\d{3}", metric), metric


def test_deep_training_ends_on_results_with_metrics(page, app_url, burners):
    open_sample(page, app_url, "heartbeats.csv")
    _open_train_page(page)
    page.get_by_text("Deep learning").click()
    page.get_by_text("Device:").wait_for()
    idle(page)
    set_training_length(page, 20, 16)
    page.get_by_test_id("stBaseButton-primary").click()
    page.get_by_text(re.compile(r"Epoch \d+/20")).wait_for(timeout=90_000)  # training under way, followed
    followed = time.time()
    shown = _results_with_metrics(page)
    assert page.get_by_test_id("stMetric").count() >= 6
    print(f"deep: Results with metrics {shown - followed:.1f} s after its first epoch was shown (20 epochs)")

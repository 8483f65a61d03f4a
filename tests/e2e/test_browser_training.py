"""Real browser: a deep model trains with a live progress bar and loss curve, and Cancel stops it."""

from __future__ import annotations

import re

import pytest

from tests.e2e.browser_support import idle, open_sample, set_training_length, shot

pytestmark = pytest.mark.timeout(300)


def test_deep_training_shows_progress_and_can_be_cancelled(page, app_url):
    open_sample(page, app_url, "heartbeats.csv")
    page.get_by_role("link", name="Train").first.click()
    page.get_by_role("heading", name="Train", exact=True).wait_for()
    idle(page)
    page.get_by_text("Deep learning").click()
    page.get_by_text("Device:").wait_for()
    idle(page)
    set_training_length(page, 500, 16)
    page.get_by_test_id("stBaseButton-primary").click()
    page.get_by_text(re.compile(r"Epoch \d+/500")).wait_for()
    page.get_by_text("Loss per epoch").wait_for()
    shot(page, "e2e_9_train_progress.png", 1400)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Training was cancelled").wait_for()
    idle(page)
    shot(page, "e2e_10_train_cancelled.png", 1000)
    assert page.get_by_test_id("stBaseButton-primary").is_enabled()

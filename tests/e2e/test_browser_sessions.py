"""Real server and browser: a session's threads end with the session, and a reload finds its training again.

The server's own log is the witness: the session watchdog writes one line when it has stopped a
thread of an ended session, saying whether the thread has ended.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.browser_support import idle, open_sample, set_training_length
from tests.e2e.conftest import _free_port, serve_dashboard

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    with open(log_path, "w") as log:
        for url in serve_dashboard(_free_port(), log):
            yield url, log_path


def _wait_for_log(log_path, pattern: str, seconds: float = 60) -> str:
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = re.search(pattern, log_path.read_text())
        if found:
            return found.group(0)
        time.sleep(0.5)
    raise AssertionError(f"no log line matching {pattern!r} in {seconds} s:\n{log_path.read_text()[-2000:]}")


def _open_train_page(page):
    page.get_by_role("link", name="Train").first.click()
    page.get_by_role("heading", name="Train", exact=True).wait_for()
    idle(page)


def test_a_looping_replay_stops_when_its_tab_is_closed(browser, server):
    url, log_path = server
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    open_sample(page, url, "sensor.csv")
    _open_train_page(page)
    page.get_by_test_id("stBaseButton-primary").click()
    page.get_by_role("heading", name="Results", exact=True).wait_for()
    idle(page)
    page.get_by_role("link", name="Live").first.click()
    page.get_by_role("heading", name="Live", exact=True).wait_for()
    idle(page)
    page.get_by_text("Loop at the end").click()
    idle(page)
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"· running")).wait_for()
    assert "Stopped live stream" not in log_path.read_text()
    context.close()  # the tab goes away with its session; the replay would loop for ever
    line = _wait_for_log(log_path, r"Stopped live stream \(replay[^\n]*")
    assert line.endswith("(thread ended)"), line


def test_reload_mid_training_finds_the_job_and_closing_the_tab_ends_it(browser, server):
    url, log_path = server
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    open_sample(page, url, "heartbeats.csv")
    _open_train_page(page)
    page.get_by_text("Deep learning").click()
    page.get_by_text("Device:").wait_for()
    idle(page)
    set_training_length(page, 1000, 1)  # minutes of training: still running at the end
    page.get_by_test_id("stBaseButton-primary").click()
    # the progress line: "Training… N s" until the first epoch ends, then "Epoch N/1000 · ..."
    progress = re.compile(r"Training… \d+ s|Epoch \d+/1000")
    page.get_by_text(progress).wait_for()
    assert "job=" in page.url  # the address names the job
    page.reload()
    # a reload is a new session, which picks the job up from the address: progress, data and sidebar agree
    page.get_by_role("heading", name="Training Dense autoencoder (PyTorch)").wait_for()
    page.get_by_text(progress).wait_for()
    idle(page, settle=2.0)
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_text("heartbeats.csv").first.is_visible()
    assert not sidebar.get_by_text("No data loaded yet.").is_visible()
    time.sleep(12)  # longer than the watchdog's grace: the old session's end must not stop the adopted job
    assert "Stopped train-dense_ae" not in log_path.read_text()
    assert page.get_by_text(progress).is_visible()
    context.close()  # now the tab goes away for good: the job ends with its session
    line = _wait_for_log(log_path, r"Stopped train-dense_ae-[^\n]*")
    assert line.endswith("(thread ended)"), line

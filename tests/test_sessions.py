"""Threads belong to their session: the watchdog stops them when it ends, and not before.
Torch's thread count is chosen once, from the free cores."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd

from core.data import Roles, prepare
from core.device import choose_threads
from dashboard.jobs import SessionWatchdog, TrainingJob
from tests.app_support import ROOT


def _slow_job() -> TrainingJob:
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(400, 4)), columns=list("abcd"))
    return TrainingJob(prepare(frame, Roles()), "dense_ae", {"epochs": 1000, "batch_size": 1})


def test_watchdog_stops_a_job_only_after_its_session_has_been_gone_for_the_grace():
    sessions = {"tab-1": True, "tab-2": True}
    watchdog = SessionWatchdog(is_active=sessions.__getitem__, grace=0.3, period=0.05)
    mine, other = _slow_job(), _slow_job()
    mine.thread.start()
    other.thread.start()
    watchdog.watch("tab-1", "mine", mine.stop, lambda: mine.running)
    watchdog.watch("tab-2", "other", other.stop, lambda: other.running)
    try:
        time.sleep(0.3)
        assert mine.running and other.running
        sessions["tab-1"] = False  # a blip shorter than the grace changes nothing
        time.sleep(0.1)
        sessions["tab-1"] = True
        time.sleep(0.4)
        assert mine.running
        sessions["tab-1"] = False
        deadline = time.time() + 30
        while mine.running and time.time() < deadline:
            time.sleep(0.05)
        assert not mine.running and mine.cancelled, mine.error
        assert other.running and watchdog.watched() == ["other"]
    finally:
        other.stop()
    time.sleep(0.2)
    assert watchdog.watched() == []


def test_thread_count_leaves_busy_cores_to_their_work():
    assert choose_threads(cores=2, load=0.0) == 2
    assert choose_threads(cores=2, load=1.3) == 1
    assert choose_threads(cores=2, load=6.0) == 1
    assert choose_threads(cores=16, load=3.6) == 12


def test_thread_count_is_set_once_for_every_thread():
    code = ("import threading, torch; from core.device import load_torch; load_torch(); seen = [];"
            "t = threading.Thread(target=lambda: seen.append(torch.get_num_threads())); t.start(); t.join();"
            "print(torch.get_num_threads(), seen[0])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"AD_TORCH_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]


def test_loading_new_data_cancels_the_training_on_the_old_data():
    from tests.app_support import PAGE, csv_bytes, labelled_rows, start, upload

    at = upload(start(), "first.csv", csv_bytes(labelled_rows(300)))
    at.switch_page(PAGE["train"]).run()
    at.radio(key="train_family").set_value("deep").run()
    at.selectbox(key="train_method_deep").set_value("dense_ae").run()
    at.number_input(key="param_dense_ae_epochs").set_value(1000)
    at.number_input(key="param_dense_ae_batch_size").set_value(1).run()
    at.button(key="train_start").click().run()
    job = at.session_state["ad_job"]
    assert job.running
    at.switch_page(PAGE["data"]).run()
    upload(at, "second.csv", csv_bytes(labelled_rows(200, seed=1)))
    assert "ad_job" not in at.session_state
    job.thread.join(60)
    assert not job.running and job.cancelled


def test_a_job_is_done_with_its_result_prepared_while_saving_it_goes_on():
    import threading

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(300, 3)), columns=list("abc"))
    job = TrainingJob(prepare(frame, Roles()), "zscore", {})
    saving_may_end = threading.Event()
    seen = {}

    def name_it(result):
        seen["published before naming"] = job.result is not None
        result.table_name = "named"

    def save(result):  # slow, as the first save after a server starts
        seen["done while saving"] = job.done
        saving_may_end.wait(30)

    job.when_done(save, prepare=name_it)
    job.start()
    assert job.wait(30)
    assert job.result.table_name == "named" and seen["published before naming"] is False
    assert job.running  # still saving: the page shows the result meanwhile
    saving_may_end.set()
    job.thread.join(30)
    assert not job.running and seen["done while saving"] is True


def test_a_failed_job_is_done_too():
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    job = TrainingJob(prepare(frame, Roles()), "no_such_method", {}).start()
    assert job.wait(30) and job.result is None and job.error

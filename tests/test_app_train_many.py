"""Train page: the method suggestion, several methods at once as runs, and ensembles from runs."""

import time

import numpy as np

from core.data import Roles, prepare
from dashboard.batch import TrainingBatch
from dashboard.report import build_report
from tests.app_support import PAGE, csv_bytes, errors, labelled_rows, no_crash, shown, start, upload, wait_for_run


def _train_page(at):
    at = upload(at, "rows.csv", csv_bytes(labelled_rows()))
    return at.switch_page("../pages/train.py").run()


def _wait_for_batch(at, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline and "ad_batch" in at.session_state:
        time.sleep(0.1)
        at.run()
    return at


def test_the_suggestion_is_shown_and_its_button_picks_the_method():
    at = _train_page(start())
    no_crash(at)
    line = next(shown(m.value) for m in at.markdown if "Suggested for this data" in m.value)
    assert "Ensemble of methods" in line and "ROC-AUC" in line and "ECG5000" in line
    at.button(key="train_use_suggestion").click().run()
    no_crash(at)
    assert at.radio(key="train_family").value == "ensemble"
    assert at.selectbox(key="train_method_ensemble").value == "ensemble"
    assert at.multiselect(key="param_ensemble_members").value == ["lof", "knn", "one_class_svm"]
    assert not at.warning and not errors(at)


def test_several_methods_train_one_after_another_and_each_becomes_a_run():
    at = _train_page(start())
    assert "zscore" in at.multiselect(key="train_many_methods").value  # the quick ones by default
    at.multiselect(key="train_many_methods").set_value(["zscore", "iqr", "knn"]).run()
    at.button(key="train_many_start").click().run()
    at = _wait_for_batch(at)
    no_crash(at)
    runs = at.session_state["ad_runs"]
    assert [run.method for run in runs] == ["zscore", "iqr", "knn"]
    assert at.session_state["ad_run"] is runs[-1]
    assert any("Trained 3 of 3 methods" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert list(table["method"]) == ["Z-score", "Interquartile range", "k-nearest neighbours"]
    assert table["ROC-AUC"].min() > 0.9
    # an earlier run can be made current again
    at.selectbox(key="train_runs_open_choice").set_value(0).run()
    at.button(key="train_runs_open").click().run()
    assert at.session_state["ad_run"] is at.session_state["ad_runs"][0]
    # two runs combined: an ensemble of their methods, trained on the same rows, becomes a fourth run
    at.switch_page("../pages/train.py").run()
    at.multiselect(key="train_runs_combine").set_value([0, 2]).run()
    at.button(key="train_runs_combine_start").click().run()
    at = wait_for_run(at)
    at.run()
    no_crash(at)
    runs = at.session_state["ad_runs"]
    assert len(runs) == 4 and runs[-1].method == "ensemble"
    assert runs[-1].params == {"members": "zscore + knn"}
    assert runs[-1].metrics["roc_auc"] > 0.9


def test_an_ensemble_trains_from_the_form_with_its_members_picked_by_name():
    at = _train_page(start())
    at.radio(key="train_family").set_value("ensemble").run()
    at.multiselect(key="param_ensemble_members").set_value(["zscore", "pca"]).run()
    at.button(key="train_start").click().run()
    at = wait_for_run(at)
    no_crash(at)
    run = at.session_state["ad_run"]
    assert run.pipeline.params["members"] == "zscore + pca"
    assert run.metrics["roc_auc"] > 0.9
    # its results, explanations, downloads and report work like any method's
    at.switch_page(PAGE["results"]).run()
    no_crash(at)
    assert not errors(at) and float({m.label: m.value for m in at.metric}["ROC-AUC"]) > 0.9
    at.switch_page(PAGE["export"]).run()
    no_crash(at)
    assert [b.proto.label for b in at.get("download_button")][:2] == ["Download scored CSV", "Download model"]
    html = build_report(run, threshold=run.threshold)
    assert "Ensemble of methods" in html and "ROC-AUC" in html


def test_a_batch_stops_when_cancelled_and_trains_every_method_otherwise():
    dataset = prepare(labelled_rows(), Roles(label="label", normal_value=0))
    options = {"test_size": 0.2, "seed": 21, "split": "random"}
    done = TrainingBatch(dataset, [("zscore", {}), ("iqr", {"k": 3.0})], **options).start()
    done.thread.join(60)
    assert [job.result.method for job in done.finished] == ["zscore", "iqr"]
    assert done.finished[1].result.params == {"k": 3.0} and not done.cancelled
    stopped = TrainingBatch(dataset, [("zscore", {}), ("iqr", {})], **options)
    stopped.cancel()
    stopped.start().thread.join(60)
    assert stopped.cancelled and stopped.finished == [] and not stopped.running
    scores = [job.result.scores for job in done.finished]
    assert all(np.isfinite(s).all() for s in scores)

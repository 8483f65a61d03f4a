"""Train page: method form, training through to results, supervised guard, cancellation."""

import time

from core.errors import TrainingCancelled
from dashboard import jobs, state
from tests.app_support import wait_for_run, csv_bytes, errors, labelled_rows, no_crash, start, train, upload


def test_without_data_points_to_the_data_page():
    at = start("train")
    no_crash(at)
    assert any("Load data" in i.value for i in at.info)


def test_parameter_form_follows_the_method_spec():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    at.switch_page("../pages/train.py").run()
    at.radio(key="train_family").set_value("classical").run()
    at.selectbox(key="train_method_classical").set_value("isolation_forest").run()
    no_crash(at)
    assert at.number_input(key="param_isolation_forest_n_estimators").value == 200
    at.selectbox(key="train_method_classical").set_value("knn").run()
    assert at.selectbox(key="param_knn_aggregate").options == ["largest", "mean"]


def test_training_opens_results_with_metrics():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    at = train(at, "classical", "isolation_forest")
    no_crash(at)
    assert not errors(at)
    assert at.title[0].value == "Results"
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["ROC-AUC"]) > 0.95


def test_supervised_method_needs_labels():
    frame = labelled_rows().drop(columns="label")
    at = upload(start(), "unlabelled.csv", csv_bytes(frame))
    at.switch_page("../pages/train.py").run()
    at.radio(key="train_family").set_value("classical").run()
    at.selectbox(key="train_method_classical").set_value("random_forest").run()
    no_crash(at)
    assert any("supervised" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled


def test_series_offers_chronological_training_part():
    at = start()
    at.selectbox(key="data_sample").select_index(1).run()
    at.button(key="data_sample_load").click().run()
    at.switch_page("../pages/train.py").run()
    no_crash(at)
    assert at.slider(key="train_fraction").value == 60
    at.radio(key="train_mode").set_value("range").run()
    no_crash(at)
    start_time, end_time = at.slider(key="train_range_value").value
    assert start_time < end_time


def _slow_experiment(dataset, method, params, *, progress, should_stop, **options):
    for epoch in range(1, 200):
        if should_stop():
            raise TrainingCancelled("stopped")
        progress(epoch, 200, 1.0 / epoch, 1.2 / epoch)
        time.sleep(0.01)
    raise AssertionError("the job was not cancelled")


def test_cancel_stops_the_job_between_epochs(monkeypatch):
    import core.experiment

    monkeypatch.setattr(core.experiment, "run_experiment", _slow_experiment)
    job = jobs.TrainingJob(None, "dense_ae", {}).start()
    deadline = time.time() + 5
    while not job.progress and time.time() < deadline:
        time.sleep(0.01)
    job.cancel()
    job.thread.join(5)
    assert not job.running and job.cancelled and job.result is None and job.error is None
    assert 1 <= len(job.progress) < 200


def test_cancelled_job_gives_a_friendly_message(monkeypatch):
    import core.experiment

    monkeypatch.setattr(core.experiment, "run_experiment", _slow_experiment)
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    job = jobs.TrainingJob(None, "zscore", {}).start()
    job.cancel()
    job.thread.join(5)
    at.session_state[state.JOB] = job
    at.switch_page("../pages/train.py").run()
    no_crash(at)
    assert any("cancelled" in w.value for w in at.warning)
    assert state.JOB not in at.session_state


def test_failing_training_is_reported_without_traceback(monkeypatch):
    import core.experiment

    def broken(*args, **kwargs):
        raise RuntimeError("numerical blow-up")

    monkeypatch.setattr(core.experiment, "run_experiment", broken)
    job = jobs.TrainingJob(None, "zscore", {}).start()
    job.thread.join(5)
    assert job.error and "numerical blow-up" in job.error and "Traceback" not in job.error


def test_deep_method_shows_the_device_and_records_losses():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    at.switch_page("../pages/train.py").run()
    at.radio(key="train_family").set_value("deep").run()
    at.selectbox(key="train_method_deep").set_value("dense_ae").run()
    no_crash(at)
    assert any("Device: **cpu**" in c.value for c in at.caption)
    at.number_input(key="param_dense_ae_epochs").set_value(3).run()
    at.button(key="train_start").click().run()
    wait_for_run(at)
    no_crash(at)
    run = at.session_state[state.RUN]
    assert len(run.history["train_loss"]) == 3
    assert run.pipeline.spec.reconstruction


def test_range_selected_on_results_becomes_the_training_range():
    import datetime as dt

    import pandas as pd

    from tests.app_support import load_sample

    at = load_sample(start(), "sensor.csv")
    at.session_state[state.TRAIN_RANGE] = (pd.Timestamp("2024-03-01 06:00"), pd.Timestamp("2024-03-01 18:00"))
    at.session_state["train_mode_pending"] = True
    at.switch_page("../pages/train.py").run()
    no_crash(at)
    assert at.radio(key="train_mode").value == "range"
    assert at.slider(key="train_range_value").value == (dt.datetime(2024, 3, 1, 6), dt.datetime(2024, 3, 1, 18))
    at.button(key="train_start").click().run()
    wait_for_run(at)
    run = at.session_state[state.RUN]
    assert int(run.train_mask.sum()) == 12 * 60 + 1


def test_the_sensor_sample_opens_with_a_method_that_finds_its_anomalies():
    from tests.app_support import PAGE, load_sample

    at = load_sample(start(), "sensor.csv")
    at.switch_page(PAGE["train"]).run()
    no_crash(at)
    assert at.radio(key="train_family").value == "classical"
    assert at.selectbox(key="train_method_classical").value == "knn"
    at.button(key="train_start").click().run()  # nothing changed: the method and threshold a newcomer gets
    wait_for_run(at)
    at.switch_page(PAGE["results"]).run()
    no_crash(at)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["F1"]) > 0.8, metrics


def test_a_continuous_sensor_column_as_label_is_doubted_before_training():
    from tests.app_support import PAGE, load_sample

    at = load_sample(start(), "sensor.csv")
    next(s for s in at.selectbox if s.label == "Label column").set_value("temperature").run()
    no_crash(at)
    assert any("temperature" in w.value for w in at.warning), [w.value for w in at.warning]
    at.switch_page(PAGE["train"]).run()
    no_crash(at)
    assert any("temperature" in w.value for w in at.warning), [w.value for w in at.warning]


def test_a_three_row_table_gets_advice_not_just_a_limit():
    import pandas as pd

    from tests.app_support import PAGE

    at = upload(start(), "three.csv", csv_bytes(pd.DataFrame({"a": [1.0, 3.0, 5.0], "b": [2.0, 4.0, 7.0]})))
    at.switch_page(PAGE["train"]).run()
    no_crash(at)
    assert any("only 3 rows" in w.value for w in at.warning)
    at.radio(key="train_family").set_value("classical").run()
    at.selectbox(key="train_method_classical").set_value("lof").run()
    at.button(key="train_start").click().run()  # a quick method: the outcome is shown by this run
    no_crash(at)
    message = " ".join(errors(at))
    assert "at least 3 are needed" in message and "load a larger file" in message, message


def test_the_threshold_choice_names_the_method_default():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    at.switch_page("../pages/train.py").run()
    at.radio(key="train_family").set_value("classical").run()
    at.selectbox(key="train_method_classical").set_value("pca").run()
    no_crash(at)
    assert at.selectbox(key="train_threshold").options[0] == "Method's default (97.5th percentile)"

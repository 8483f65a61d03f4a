"""Results page: metrics, the live threshold, strategies, series view, explanations."""

from tests.app_support import (csv_bytes, errors, labelled_rows, load_sample, no_crash, start, train, upload,
                               wait_for_run, widget)


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def _trained(method=("statistical", "zscore"), frame=None):
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows() if frame is None else frame))
    return train(at, *method)


def test_without_a_model_points_to_training():
    at = start("results")
    no_crash(at)
    assert any("Nothing trained" in i.value for i in at.info)


def test_moving_the_threshold_updates_metrics_and_marks_it_manual():
    at = _trained()
    no_crash(at)
    before = _metrics(at)
    slider = widget(at, "slider", "thr_slider_")
    low = slider.min
    slider.set_value(low).run()
    no_crash(at)
    after = _metrics(at)
    assert after["Flagged"] != before["Flagged"]
    assert float(after["Recall"]) == 1.0
    assert widget(at, "selectbox", "thr_strategy_").value == "manual"
    assert abs(widget(at, "number_input", "thr_number_").value - low) < 1e-9


def test_strategies_set_the_threshold():
    at = _trained()
    strategy = widget(at, "selectbox", "thr_strategy_")
    assert "best_f1" not in strategy.options  # no validation part was held out: best F1 is not offered
    strategy.set_value("contamination").run()
    widget(at, "number_input", "thr_param_").set_value(0.25).run()
    no_crash(at)
    flagged = int(_metrics(at)["Flagged"].replace(",", ""))
    # a quarter of the training scores lie above it (as at training time): about a quarter of the 72
    # normal test rows, plus the 8 far-away anomalies
    assert 18 <= flagged <= 36


def test_best_f1_is_offered_for_a_run_trained_with_a_validation_part():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    at.switch_page("../pages/train.py").run()
    at.selectbox(key="train_threshold").set_value("best_f1").run()
    at.button(key="train_start").click().run()
    wait_for_run(at)
    at.switch_page("../pages/results.py").run()
    no_crash(at)
    assert any("held out" in c.value for c in at.caption)
    trained = widget(at, "number_input", "thr_number_").value
    widget(at, "selectbox", "thr_strategy_").set_value("best_f1").run()
    no_crash(at)
    # fitted on the same held-out rows as at training time, so it lands on the trained threshold
    assert widget(at, "number_input", "thr_number_").value == trained
    assert float(_metrics(at)["F1"]) > 0.8


def test_exact_value_moves_the_slider():
    at = _trained()
    widget(at, "number_input", "thr_number_").set_value(1e9).run()
    no_crash(at)
    assert _metrics(at)["Flagged"] == "0"
    slider = widget(at, "slider", "thr_slider_")
    assert slider.value == slider.max


def test_reconstruction_method_explains_rows():
    at = _trained(("classical", "pca"))
    no_crash(at)
    assert not errors(at)
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("input vs reconstruction" in spec for spec in titles)
    assert any("Features driving the score" in spec for spec in titles)


def test_other_methods_explain_rows_against_the_normal_profile():
    at = _trained()
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("vs the normal profile" in spec for spec in specs)
    at.number_input(key=[w.key for w in at.number_input if w.key.startswith("res_row_")][0]).set_value(5).run()
    no_crash(at)
    assert any("Row **5**" in m.value for m in at.markdown)


def test_unlabelled_data_shows_flags_without_metrics():
    frame = labelled_rows().drop(columns="label")
    at = upload(start(), "rows.csv", csv_bytes(frame))
    at = train(at)
    no_crash(at)
    assert any("No label column" in i.value for i in at.info)
    assert "Flagged test rows" in _metrics(at)
    assert not [t for t in at.tabs if "Confusion" in t.label]  # nothing to put in a confusion matrix
    assert not [c for c in at.get("plotly_chart") if "per class" in c.proto.spec]


def test_time_series_leads_with_the_series_and_events():
    at = load_sample(start(), "sensor.csv")
    at = train(at, "classical", "knn")
    no_crash(at)
    assert not errors(at)
    assert any(h.value == "Over time" for h in at.subheader)
    assert any("Events" in m.value for m in at.markdown)
    events = [d for d in at.dataframe if d.key and d.key.startswith("thr_events_")]
    assert events and len(events[0].value) > 0


def test_window_methods_explain_a_time_step_in_context():
    for family, method in (("statistical", "rolling_median"), ("classical", "windowed_pca")):
        at = load_sample(start(), "sine_spikes.csv")
        at = train(at, family, method)
        no_crash(at)
        assert not errors(at), (method, errors(at))
        specs = [c.proto.spec for c in at.get("plotly_chart")]
        assert any("around row" in spec for spec in specs), method


def test_supervised_forest_results():
    at = _trained(("classical", "random_forest"))
    no_crash(at)
    assert not errors(at)
    assert float(_metrics(at)["ROC-AUC"]) > 0.95


def test_labels_with_a_single_class_still_give_results():
    frame = labelled_rows()
    frame["label"] = 0
    at = _trained(frame=frame)
    no_crash(at)
    assert not errors(at)
    assert _metrics(at)["ROC-AUC"] == "–"
    widget(at, "slider", "thr_slider_").set_value(widget(at, "slider", "thr_slider_").min).run()
    no_crash(at)


def test_row_verdict_follows_the_threshold():
    at = _trained()
    row_input = [w for w in at.number_input if w.key.startswith("res_row_")][0]
    top_row = row_input.value
    assert any(f"Row **{top_row}**" in m.value and "→ **flagged**" in m.value for m in at.markdown)
    slider = widget(at, "slider", "thr_slider_")
    slider.set_value(slider.max).run()
    no_crash(at)
    assert any(f"Row **{top_row}**" in m.value and "not flagged" in m.value for m in at.markdown)


def _eight_sensors(n: int = 3000):
    """Eight sensors a minute apart; the faults are in sensor_7 only."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(n, 8)).round(4), columns=[f"sensor_{i}" for i in range(8)])
    fault = np.zeros(n, dtype=int)
    fault[2400:2430] = 1
    frame.loc[fault == 1, "sensor_7"] += 8.0
    frame.insert(0, "timestamp", pd.date_range("2024-01-01", periods=n, freq="min").strftime("%Y-%m-%d %H:%M"))
    frame["fault"] = fault
    return frame


def _series_axis_titles(at) -> list[str]:
    import json

    chart = next(c for c in at.get("plotly_chart") if "res_series_" in (c.proto.id or "") or
                 '"selectdirection"' in c.proto.spec)
    layout = json.loads(chart.proto.spec)["layout"]
    axes = sorted((k for k in layout if k.startswith("yaxis")), key=lambda k: int(k[5:] or 1))
    return [layout[k]["title"]["text"] for k in axes]


def test_series_chart_draws_the_sensors_that_drive_the_flags_and_lets_the_user_pick():
    at = _trained(("statistical", "zscore"), _eight_sensors())
    no_crash(at)
    picker = next(m for m in at.multiselect if m.label == "Sensors drawn")
    assert picker.value[0] == "sensor_7" and len(picker.value) == 4
    assert _series_axis_titles(at)[0] == "sensor_7"
    picker.set_value(["sensor_1", "sensor_2", "sensor_3", "sensor_4", "sensor_5", "sensor_6"]).run()
    no_crash(at)
    assert not errors(at)
    assert _series_axis_titles(at) == ["sensor_1", "sensor_2", "sensor_3", "sensor_4", "sensor_5", "sensor_6",
                                       "score"]

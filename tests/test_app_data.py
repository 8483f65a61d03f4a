"""Data page: loading, inspection, roles, and friendly errors for bad input (AppTest, no browser)."""

import numpy as np
import pandas as pd

from tests.app_support import ROOT, widget, csv_bytes, errors, labelled_rows, load_sample, no_crash, parquet_bytes, shown, start, upload


def _ready(at) -> str:
    return " ".join(shown(s.value) for s in at.success)


def column_fates(at) -> pd.DataFrame:
    """The Data page's table of every column's use."""
    tables = [d.value for d in at.dataframe if {"column", "use", "why"} <= set(d.value.columns)]
    assert len(tables) == 1, "the page shows one table of column uses"
    return tables[0]


def test_empty_state_invites_to_load_data():
    at = start()
    no_crash(at)
    assert at.title[0].value == "Data"
    assert any("No data yet" in i.value for i in at.info)


def test_upload_csv_infers_label_and_is_ready():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    no_crash(at)
    assert not errors(at)
    assert "400 rows × 2 features" in _ready(at)
    assert "40 labelled anomalies" in _ready(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "400" and metrics["Columns"] == "3"
    assert widget(at, "selectbox", "role_label_").value == "label"


def test_upload_parquet():
    at = upload(start(), "rows.parquet", parquet_bytes(labelled_rows()), "application/octet-stream")
    no_crash(at)
    assert "400 rows" in _ready(at)


def test_sample_time_series_is_sorted_and_labelled():
    at = load_sample(start(), "sensor.csv")
    no_crash(at)
    assert "time series" in _ready(at)
    assert "4,320 rows × 2 features" in _ready(at)


def test_binary_garbage_gives_a_friendly_error():
    at = upload(start(), "broken.csv", b"\x00\x01\x02\x03garbage\x00" * 50)
    no_crash(at)
    assert errors(at), "a bad file must produce an error message"
    assert "binary" in errors(at)[0] or "CSV" in errors(at)[0]
    assert not at.success


def test_empty_file_gives_a_friendly_error():
    at = upload(start(), "empty.csv", b"")
    no_crash(at)
    assert any("empty" in e for e in errors(at))


def test_no_numeric_columns_is_explained():
    frame = pd.DataFrame({"name": ["a", "b", "c", "d"], "colour": ["red", "blue", "red", "green"]})
    at = upload(start(), "text.csv", csv_bytes(frame))
    no_crash(at)
    messages = " ".join(w.value for w in at.warning) + " ".join(errors(at))
    assert "numeric" in messages
    assert not at.success


def test_cell_that_is_not_a_number_is_reported_and_its_row_handled_as_chosen():
    frame = labelled_rows(50)
    frame["a"] = frame["a"].astype(str)
    frame.loc[3, "a"] = "n/a?"
    at = upload(start(), "mixed.csv", csv_bytes(frame))
    no_crash(at)
    notes = " ".join(shown(c.value) for c in at.caption)
    assert "'a'" in notes and "'n/a?'" in notes  # which column, how many cells, what they held
    assert "49 rows × 2 features" in _ready(at)  # dropping the row is the default choice
    widget(at, "selectbox", "opt_missing_").set_value("median").run()
    assert "50 rows × 2 features" in _ready(at)
    widget(at, "selectbox", "opt_missing_").set_value("error").run()
    assert any("'a'" in e and "not numbers such as 'n/a?'" in e for e in errors(at))


def test_missing_label_values_are_dropped_or_explained():
    frame = labelled_rows(60).astype({"label": "float"})
    frame.loc[[1, 2], "label"] = np.nan
    at = upload(start(), "gaps.csv", csv_bytes(frame))
    no_crash(at)
    assert "58 rows" in _ready(at)  # the drop option is offered and on by default
    widget(at, "selectbox", "opt_missing_").set_value("error").run()
    assert any("empty values" in e for e in errors(at))


def test_normal_value_that_does_not_occur_is_explained():
    frame = pd.DataFrame({"x": np.arange(120, dtype=float) % 7, "y": np.arange(120, dtype=float),
                          "code": np.arange(120) % 60})
    at = upload(start(), "codes.csv", csv_bytes(frame))
    widget(at, "selectbox", "role_label_").set_value("code").run()
    widget(at, "text_input", "role_normal_txt_").input("999").run()
    no_crash(at)
    assert any("999" in e and "does not occur" in e for e in errors(at))


def test_constant_column_is_left_out_with_a_notice():
    frame = labelled_rows(80)
    frame["flat"] = 1.0
    at = upload(start(), "flat.csv", csv_bytes(frame))
    no_crash(at)
    assert "2 features" in _ready(at)
    assert any("constant" in shown(c.value) and "'flat'" in shown(c.value) for c in at.caption)
    fates = column_fates(at).set_index("column")
    assert fates.loc["flat", "use"] == "not used" and "constant" in fates.loc["flat", "why"]
    assert list(fates.index) == ["a", "b", "label", "flat"]


def test_path_input_reads_headerless_ecg_layout(tmp_path):
    rng = np.random.default_rng(1)
    rows = np.column_stack([rng.normal(size=(30, 6)).round(3), np.r_[np.ones(20), np.full(10, 2.0)]])
    path = tmp_path / "ecg_like.csv"
    np.savetxt(path, rows, delimiter=",", fmt="%.3f")
    at = start()
    at.text_input(key="data_path").input(str(path)).run()
    at.button(key="data_path_load").click().run()
    no_crash(at)
    assert "30 rows × 6 features" in _ready(at)
    assert "10 labelled anomalies" in _ready(at)


def test_missing_path_is_a_friendly_error():
    at = start()
    at.text_input(key="data_path").input(str(ROOT / "no" / "such.csv")).run()
    at.button(key="data_path_load").click().run()
    no_crash(at)
    assert any("not found" in e for e in errors(at))


def test_sample_loaded_after_an_upload_stays_loaded():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    at = load_sample(at, "sine_spikes.csv")
    at.run()
    no_crash(at)
    assert shown(at.subheader[0].value) == "sine_spikes.csv"
    assert "2,000 rows" in _ready(at)


def test_bad_upload_after_good_data_keeps_an_explanation():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    at = upload(at, "bad.csv", b'a,b\n1,"unterminated\n2,3\n')
    no_crash(at)
    assert errors(at) or "400 rows" in _ready(at)


def test_unparsable_time_column_is_explained():
    frame = labelled_rows(30)
    frame.insert(0, "when", ["yesterday-ish"] * 30)
    at = upload(start(), "times.csv", csv_bytes(frame))
    widget(at, "selectbox", "role_time_").set_value("when").run()
    no_crash(at)
    assert any("not dates or times" in e for e in errors(at))


def test_single_row_file_is_explained():
    at = upload(start(), "one.csv", b"a,b\n1,2\n")
    no_crash(at)
    assert any("at least 2" in e for e in errors(at))


def test_startup_sample_is_loaded_once(monkeypatch):
    monkeypatch.setenv("ANOMALY_DASHBOARD_SAMPLE", str(ROOT / "data" / "sensor.csv"))
    at = start()
    no_crash(at)
    assert "time series" in _ready(at)
    assert {m.label: m.value for m in at.metric}["Rows"] == "4,320"


def test_odd_files_end_in_a_ready_table_or_a_clear_message(tmp_path):
    from tests.odd_files import write_odd_files

    sample = write_odd_files(tmp_path)[::8]  # 33 files spread over every kind
    assert len(sample) >= 30
    at = start()
    outcomes = {"ready": 0, "explained": 0}
    for odd, path in sample:
        at.text_input(key="data_path").input(str(path)).run()
        at.button(key="data_path_load").click().run()
        no_crash(at)
        messages = errors(at)
        assert not any("Something went wrong" in m for m in messages), (odd.name, messages)
        loaded = at.session_state["ad_table"] if "ad_table" in at.session_state else None
        if loaded is None or loaded.name != odd.name:
            assert messages, f"{odd.name} was neither loaded nor explained"
            outcomes["explained"] += 1
            continue
        if at.success:
            assert list(column_fates(at)["column"]) == list(loaded.frame.columns), odd.name
            outcomes["ready"] += 1
        else:
            assert messages or at.warning, f"{odd.name}: loaded but neither ready nor explained"
            outcomes["explained"] += 1
    assert outcomes["ready"] >= 15 and outcomes["explained"] >= 5, outcomes


def test_ambiguous_dates_ask_for_their_order():
    days = [f"{d:02d}/01/2024" for d in range(1, 13)]
    frame = pd.DataFrame({"date": days[::-1], "x": np.arange(12.0) % 5})
    at = upload(start(), "dates.csv", csv_bytes(frame))
    no_crash(at)
    assert any("day first and month first" in e for e in errors(at))
    widget(at, "radio", "opt_dayfirst_").set_value("day").run()
    assert "12 rows" in _ready(at) and "2024-01-01" in _ready(at) and "2024-01-12" in _ready(at)
    widget(at, "radio", "opt_dayfirst_").set_value("month").run()
    assert "2024-01-01" in _ready(at) and "2024-12-01" in _ready(at)


def test_continuous_label_column_is_warned_about():
    frame = labelled_rows(100)
    frame["sensor"] = np.linspace(0, 1, 100).round(3)
    at = upload(start(), "rows.csv", csv_bytes(frame))
    widget(at, "selectbox", "role_label_").set_value("sensor").run()
    widget(at, "text_input", "role_normal_txt_").input("0.0").run()
    no_crash(at)
    assert any("looks like a measurement" in w.value for w in at.warning)
    assert any("labelled anomalies" in w.value for w in at.warning)


def test_the_time_axis_and_counts_read_as_words():
    at = load_sample(start(), "sensor.csv")
    no_crash(at)
    assert any("one reading a minute" in c.value for c in at.caption), [c.value for c in at.caption]
    frame = pd.DataFrame({"value": np.r_[np.zeros(50), 1.0, np.zeros(49)]})
    at = upload(start(), "one.csv", csv_bytes(frame))
    no_crash(at)
    ready = next(s.value for s in at.success if "Ready" in s.value)
    assert "1 feature**" in ready and "1 features" not in ready
    assert any("1 feature ·" in c.value or c.value.startswith("1 feature") for c in at.sidebar.caption)


def test_words_agree_with_their_numbers():
    from dashboard.ui import count, reading_interval

    assert [count(1, "feature"), count(2, "feature"), count(1000, "row")] == ["1 feature", "2 features", "1,000 rows"]
    steps = ["1min", "5min", "1h", "2h", "1D", "1s", "1.5s", "90ms"]
    assert [reading_interval(pd.Timedelta(s)) for s in steps] == [
        "a minute", "every 5 minutes", "an hour", "every 2 hours", "a day", "a second", "every 1.5 seconds",
        "every 90 ms"]


def test_an_uploads_bytes_are_taken_whole_and_no_other_copy_stays_in_the_process():
    """The uploader's callback takes the runtime's bytes: the manager no longer has the file, no
    uploaded-file object shares them, and the value the uploader hands the page is empty (the
    runtime deep-copies that value on every run, which would copy the bytes)."""
    from streamlit.testing.v1 import AppTest

    def app():
        import gc

        import streamlit as st
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        from streamlit.runtime.uploaded_file_manager import UploadedFile

        from dashboard.ui import take_uploaded_bytes

        def take():
            file = st.session_state["up"]
            data = take_uploaded_bytes(file)
            ctx = get_script_run_ctx()
            sharing = [f for f in gc.get_objects() if isinstance(f, UploadedFile) and not f.closed
                       and f.getvalue() is data]
            st.session_state["report"] = {
                "taken": data, "left_in_manager": len(ctx.uploaded_file_mgr.get_files(ctx.session_id, [file.file_id])),
                "sharing": len(sharing)}

        file = st.file_uploader("file", key="up", on_change=take)
        st.session_state["drawn"] = None if file is None else len(file.getvalue())

    content = csv_bytes(labelled_rows(2000))
    at = AppTest.from_function(app, default_timeout=30)
    at.run()
    at.file_uploader(key="up").set_value(("rows.csv", content, "text/csv"))
    at.run()
    no_crash(at)
    report = at.session_state["report"]
    assert report["taken"] == content
    assert report["left_in_manager"] == 0 and report["sharing"] == 0
    assert at.session_state["drawn"] == 0  # the page's copy of the uploader's value holds nothing


def test_the_data_page_keeps_the_table_not_the_uploaded_bytes():
    content = csv_bytes(labelled_rows())
    at = upload(start(), "rows.csv", content)
    no_crash(at)
    assert "400 rows × 2 features" in _ready(at)
    assert "ad_upload" not in at.session_state  # taken once, by the page's read, and dropped
    at.run()  # a rerun (a choice on the page) uses the kept table, and does not read the file again
    assert "400 rows × 2 features" in _ready(at) and shown(at.subheader[0].value) == "rows.csv"


def test_an_upload_too_large_for_the_memory_left_is_refused_with_the_spark_way_out(monkeypatch):
    from core import data

    monkeypatch.setattr(data, "available_memory_bytes", lambda: 1000)
    at = upload(start(), "big.csv", csv_bytes(labelled_rows(seed=5)))
    no_crash(at)
    assert any("engine spark" in e and "big.csv" in e for e in errors(at)), errors(at)
    assert not at.success  # nothing half-loaded
    monkeypatch.setattr(data, "available_memory_bytes", lambda: 10**10)
    at = upload(at, "big.csv", csv_bytes(labelled_rows(seed=5)))
    assert "400 rows × 2 features" in _ready(at)


def test_the_data_page_takes_a_5_gb_file_and_says_where_a_larger_one_goes():
    import tomllib

    from dashboard.ui import OTHER_UPLOAD_LIMIT_MB
    from tests.app_support import PAGE

    limit_mib = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert limit_mib * 2**20 >= 5 * 10**9
    at = start()
    assert at.file_uploader(key="data_upload").proto.max_upload_size_mb == limit_mib
    said = " ".join(c.value for c in at.caption)
    assert f"Up to {limit_mib / 1024:g} GB" in said and "--engine spark" in said
    # the uploaders whose files are read again on every run keep the smaller ceiling
    at.switch_page(PAGE["export"]).run()
    assert {f.key: f.proto.max_upload_size_mb for f in at.file_uploader} == {
        "exp_model_upload": OTHER_UPLOAD_LIMIT_MB, "exp_data_upload": OTHER_UPLOAD_LIMIT_MB}

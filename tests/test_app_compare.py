"""The Compare page and the analyst's verdicts in the dashboard (AppTest)."""

import numpy as np

from core.workspace import Workspace
from dashboard import state
from tests.app_support import PAGE, csv_bytes, labelled_rows, no_crash, start, train, upload

COMPARE = "../pages/compare.py"


def _two_runs(seed: int):
    at = upload(start(), "compare.csv", csv_bytes(labelled_rows(seed=seed)))
    train(at, "statistical", "zscore")
    train(at, "classical", "knn")
    return at


def test_compare_shows_every_run_of_the_data_in_a_leaderboard_with_agreement():
    at = _two_runs(31)
    at.switch_page(COMPARE).run()
    no_crash(at)
    assert at.title[0].value == "Compare"
    assert len(at.multiselect(key="cmp_runs").value) == 2
    board = at.dataframe[0].value
    assert len(board) == 2 and set(board["method"]) == {"zscore", "knn"}
    assert board["roc_auc"].between(0.5, 1.0).all() and "flagged_share" in board
    assert board["roc_auc"].is_monotonic_decreasing
    assert at.dataframe(key="cmp_disagreements").value["spread"].is_monotonic_decreasing
    assert len(at.multiselect(key="cmp_overlay").value) == 2
    # one run only: a leaderboard, and no agreement
    at.multiselect(key="cmp_runs").set_value(at.multiselect(key="cmp_runs").value[:1]).run()
    no_crash(at)
    assert len(at.dataframe[0].value) == 1
    assert not [d for d in at.dataframe if d.key == "cmp_disagreements"]


def test_compare_without_data_or_runs_says_what_to_do():
    at = start()
    at.switch_page(COMPARE).run()
    no_crash(at)
    assert any("Load a table on the Data page" in i.value for i in at.info)
    at.switch_page(PAGE["data"]).run()
    upload(at, "empty_runs.csv", csv_bytes(labelled_rows(seed=32)))
    at.switch_page(COMPARE).run()
    no_crash(at)
    assert any("No runs of this data yet" in i.value for i in at.info)


def test_a_row_verdict_on_results_is_stored_under_the_sidebars_name_and_acts():
    at = upload(start(), "verdicts.csv", csv_bytes(labelled_rows(seed=33)))
    train(at, "statistical", "zscore")
    run = at.session_state[state.RUN]
    at.text_input(key=state.ANALYST).set_value("Dana").run()
    radios = [r for r in at.radio if r.key and r.key.startswith("vd_res_row_") and r.key.endswith("_verdict")]
    assert radios, "a verdict form beside the row explanation"
    row = int(radios[0].key.split("_")[3])
    radios[0].set_value("false_alarm").run()
    at.text_input(key=f"vd_res_row_{row}_note").set_value("sensor reset").run()
    at.button(key=f"vd_res_row_{row}_save").click().run()
    no_crash(at)
    store = Workspace()
    saved = store.annotations(run.run_id)
    assert list(saved["verdict"]) == ["false_alarm"] and saved["row"].iloc[0] == row
    assert saved["author"].iloc[0] == "Dana" and saved["note"].iloc[0] == "sensor reset"
    # a real anomaly elsewhere, then the verdicts re-tune the threshold
    order = np.argsort(-run.scores)
    real = [int(r) for r in order[:5] if int(r) != row][:2]
    for r in real:
        store.annotate(run.run_id, "real", row=r, author="Dana")
    at.run()
    prefix = f"vd_res_{run.run_id[:8]}"
    assert len(at.dataframe(key=f"{prefix}_table").value) == 3
    assert any(m.label == "F1 on verdicts" for m in at.metric)
    at.button(key=f"{prefix}_retune").click().run()
    no_crash(at)
    assert run.threshold_policy["strategy"] == "best_f1_verdicts"
    assert store.run_record(run.run_id).threshold == run.threshold
    assert run.scores[real].min() > run.threshold >= run.scores[row]
    assert any("Threshold re-tuned" in s.value for s in at.success)
    # the false alarm becomes a suppression rule, listed and removable
    at.button(key=f"{prefix}_rule").click().run()
    no_crash(at)
    rules = store.suppression_rules(run.run_id)
    assert len(rules) == 1 and run.suppression_rules == rules
    assert run.flags()[row] == 0
    at.button(key=f"{prefix}_rule_remove_{rules[0]['id']}").click().run()
    no_crash(at)
    assert store.suppression_rules(run.run_id) == [] and run.suppression_rules == []


def test_verdicts_on_compare_and_their_label_csv_read_back_on_the_data_page():
    from core.verdicts import verdict_label_table
    from tests.app_support import widget

    at = _two_runs(34)
    at.switch_page(COMPARE).run()
    owner = at.selectbox(key="cmp_verdict_run")
    assert len(owner.options) == 2
    run = next(r for r in at.session_state[state.RUNS] if r.display_name == owner.value)
    assert any(s.value == "Your verdicts" for s in at.subheader)
    store = Workspace()
    top = [int(r) for r in np.argsort(-run.scores)[:3]]
    store.annotate(run.run_id, "real", row=top[0], author="Dana")
    store.annotate(run.run_id, "real", row=top[1], author="Dana")
    store.annotate(run.run_id, "false_alarm", row=top[2], author="Dana")
    at.run()
    no_crash(at)
    assert len(at.dataframe(key=f"vd_cmp_{run.run_id[:8]}_table").value) == 3
    table = verdict_label_table(run, store.annotations(run.run_id))
    at.switch_page(PAGE["data"]).run()
    upload(at, "with_verdicts.csv", csv_bytes(table))
    widget(at, "selectbox", "role_label_").set_value("verdict").run()
    no_crash(at)
    dataset = at.session_state[state.DATASET].dataset
    assert int(dataset.y.sum()) == 2 and dataset.y[top[0]] == 1 and dataset.y[top[2]] == 0


def test_after_a_reload_new_runs_join_the_reopened_runs_on_compare():
    from streamlit.testing.v1 import AppTest

    from tests.app_support import APP, load_sample

    at = load_sample(start(), "sensor.csv")
    train(at, "statistical", "zscore")
    first = at.session_state[state.RUN].run_id
    again = AppTest.from_file(APP, default_timeout=90)
    again.query_params["run"] = first  # a reload: a new session opening the address
    again.run()
    train(again, "statistical", "iqr")
    second = again.session_state[state.RUN].run_id
    records = Workspace().runs(again.session_state[state.DATASET].workspace_id)
    assert {first, second} <= {r.id for r in records}  # saved under the reopened data's id
    again.switch_page(COMPARE).run()
    no_crash(again)
    assert {first, second} <= set(again.multiselect(key="cmp_runs").value)

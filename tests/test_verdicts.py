"""The analyst's verdicts: labels, metrics against them, a threshold fitted on them, suppression rules, export."""

import io

import numpy as np
import pandas as pd
import pytest

from core.data import Roles, prepare
from core.errors import DataError, WorkspaceError
from core.experiment import run_experiment
from core.thresholds import apply_threshold
from core.verdicts import (BestF1OnVerdicts, describe_rule, retune_from_verdicts, rule_from_false_alarm, suppressed,
                           verdict_label_table, verdict_labels, verdict_metrics)
from core.workspace import Workspace


def _series(n=400):
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(n) / 6.0) + rng.normal(scale=0.05, size=n)
    other = rng.normal(scale=0.1, size=n)
    label = np.zeros(n, int)
    values[340:345] += 6  # a real anomaly
    label[340:345] = 1
    other[370:373] += 3  # something odd but harmless, unlabelled
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=n, freq="min").astype(str), "v": values,
                          "w": other, "label": label})
    return prepare(frame, Roles(time="t", label="label", normal_value=0))


@pytest.fixture()
def saved(tmp_path):
    store = Workspace(tmp_path / "ws")
    run = run_experiment(_series(), "zscore")
    store.save_run(run, author="ana")
    yield store, run
    store.close()


def test_verdict_labels_cover_rows_and_events_and_later_ones_win(saved):
    store, run = saved
    store.annotate(run.run_id, "real", event=(340, 344), author="ana")
    store.annotate(run.run_id, "false_alarm", row=10, author="ana")
    store.annotate(run.run_id, "unsure", row=11, author="ana")
    store.annotate(run.run_id, "false_alarm", row=344, note="the tail is noise", author="ana")
    labels = verdict_labels(store.annotations(run.run_id), run.n_rows)
    assert list(labels[340:345]) == [1, 1, 1, 1, 0]
    assert labels[10] == 0 and np.isnan(labels[11]) and np.isnan(labels[0])
    assert np.isnan(verdict_labels(store.annotations(run.run_id).iloc[:0], 5)).all()


def test_metrics_against_verdicts_sit_beside_the_files_labels(saved):
    store, run = saved
    flags = run.flags()
    flagged, unflagged = np.flatnonzero(flags), np.flatnonzero(flags == 0)
    store.annotate(run.run_id, "real", row=int(flagged[0]))
    store.annotate(run.run_id, "false_alarm", row=int(flagged[1]))
    store.annotate(run.run_id, "real", row=int(unflagged[0]))  # a miss
    result = verdict_metrics(run, store.annotations(run.run_id))
    assert (result["tp"], result["fp"], result["fn"], result["tn"]) == (1, 1, 1, 0)
    assert result["precision"] == pytest.approx(0.5) and result["recall"] == pytest.approx(0.5)
    assert result["n_judged"] == 3 and result["n_real"] == 2 and result["n_false_alarm"] == 1
    expected = run.y[[flagged[0], flagged[1], unflagged[0]]]
    assert result["labels"]["tp"] + result["labels"]["fn"] == int(expected.sum())
    empty = verdict_metrics(run, store.annotations(run.run_id).iloc[:0])
    assert empty["n_judged"] == 0 and "f1" not in empty


def test_best_f1_on_verdicts_separates_the_judged_rows_and_persists(saved, tmp_path):
    store, run = saved
    order = np.argsort(-run.scores)
    real, false = order[:3], order[3:6]  # the analyst says the 4th-6th highest are false alarms
    for row in real:
        store.annotate(run.run_id, "real", row=int(row))
    for row in false:
        store.annotate(run.run_id, "false_alarm", row=int(row))
    strategy = retune_from_verdicts(run, store.annotations(run.run_id))
    assert isinstance(strategy, BestF1OnVerdicts) and strategy.fitted_on == "verdicts"
    assert run.scores[real].min() > run.threshold >= run.scores[false].max()
    assert verdict_metrics(run, store.annotations(run.run_id))["f1"] == 1.0
    assert run.threshold_policy["strategy"] == "best_f1_verdicts"
    store.update_threshold(run)
    again = Workspace(tmp_path / "ws").load_run(run.run_id)
    assert again.threshold == pytest.approx(run.threshold)
    assert store.run_record(run.run_id).threshold_policy["strategy"] == "best_f1_verdicts"
    assert store.run_record(run.run_id).metrics["f1"] == pytest.approx(run.metrics["f1"])
    with pytest.raises(DataError, match="one real anomaly and one false alarm"):
        BestF1OnVerdicts().fit([1.0, 2.0], [1, 1])


def test_a_false_alarm_becomes_a_rule_that_drops_similar_flags_and_can_be_removed(saved, tmp_path):
    store, run = saved
    flags = run.flags()
    harmless = [r for r in range(368, 376) if flags[r]]
    assert harmless, "the odd readings on w are flagged"
    rule = rule_from_false_alarm(run, harmless[0], harmless[-1], n_features=1, author="ana")
    assert list(rule["features"]) == ["w"] and "w in [" in describe_rule(rule)
    rule_id = store.add_suppression_rule(run.run_id, rule)
    reopened = store.load_run(run.run_id)
    after = reopened.flags()
    assert not after[harmless].any()  # the false alarm and its like are suppressed
    assert after[340:345].all() == flags[340:345].all()  # the real anomaly (on v) stays flagged
    assert np.array_equal(after, flags * ~suppressed(reopened.suppression_rules, reopened.dataset))
    assert [r["id"] for r in store.suppression_rules(run.run_id)] == [rule_id]
    assert len(reopened.events_at()) < len(run.events_at())
    # the counts behind every metric follow the rule at any threshold; the ranking keeps the raw scores
    test = reopened.test_mask
    for threshold in (reopened.threshold, 0.5 * reopened.threshold):
        assert reopened.metrics_at(threshold)["n_flagged"] == int(reopened.flags(threshold)[test].sum())
    assert reopened.metrics_at()["n_flagged"] < run.metrics_at()["n_flagged"]
    assert reopened.metrics_at()["roc_auc"] == run.metrics_at()["roc_auc"]
    store.delete_suppression_rule(run.run_id, rule_id)
    assert store.suppression_rules(run.run_id) == []
    assert np.array_equal(store.load_run(run.run_id).flags(), apply_threshold(run.scores, run.threshold))
    with pytest.raises(WorkspaceError):
        store.delete_suppression_rule(run.run_id, rule_id)


def test_verdicts_export_as_a_label_column_the_data_reads_back(saved):
    store, run = saved
    store.annotate(run.run_id, "real", event=(340, 344))
    store.annotate(run.run_id, "false_alarm", row=371)
    table = verdict_label_table(run, store.annotations(run.run_id))
    assert list(table.columns) == ["t", "v", "w", "label", "verdict"]
    assert table["verdict"].sum() == 5 and table["verdict"].iloc[340:345].all()
    back = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    dataset = prepare(back, Roles(time="t", label="verdict", normal_value=0, features=["v", "w"]))
    assert int(dataset.y.sum()) == 5 and dataset.y[340] == 1

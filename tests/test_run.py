"""The scored run: one flagging rule, one meaning per threshold strategy, metrics and events at any threshold."""

import numpy as np
import pandas as pd
import pytest

from core.data import Roles, prepare
from core.errors import DataError
from core.experiment import run_experiment
from core.metrics import classification_metrics
from core.thresholds import DEFAULTS, Contamination, MeanStd, Percentile, apply_threshold
from tests.app_support import spiked_series


def _rows(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 0.1).astype(int)
    X[y == 1] += 4
    return prepare(pd.DataFrame(X, columns=list("abc")).assign(label=y), Roles(label="label", normal_value=0))


def _series(n=400):
    return spiked_series(n, spike_at=300)


def test_flags_metrics_and_summary_follow_the_one_rule():
    run = run_experiment(_rows(), "zscore")
    assert np.array_equal(run.flags(), apply_threshold(run.scores, run.threshold))
    for threshold in (run.threshold, float(np.median(run.scores)), float(run.scores.max())):
        fast = run.metrics_at(threshold)
        slow = classification_metrics(run.y_test, run.test_scores, threshold)
        for key in ("tp", "fp", "tn", "fn", "f1", "n_flagged"):
            assert fast[key] == pytest.approx(slow[key]), key
    # a score equal to the threshold is not flagged, in the sorted search as in apply_threshold
    at_score = float(run.test_scores[0])
    assert run.metrics_at(at_score)["n_flagged"] == int(apply_threshold(run.test_scores, at_score).sum())
    assert run.metrics == classification_metrics(run.y_test, run.test_scores, run.threshold)
    assert run.summary()["n_test"] == int(run.test_mask.sum())


@pytest.mark.parametrize("policy", ["contamination:fraction=0.1", "percentile:q=90", "mean_std:k=2"])
def test_a_strategy_means_the_same_at_training_and_afterwards(policy):
    run = run_experiment(_rows(), "zscore", threshold=policy)
    assert run.threshold_policy["strategy"] == policy.split(":")[0]
    assert run.threshold == pytest.approx(run.threshold_at(policy))
    assert run.threshold_options({"contamination": 0.1})["contamination"] == pytest.approx(
        run.threshold_at("contamination:fraction=0.1"))


def test_best_f1_is_fitted_on_the_validation_rows_everywhere():
    run = run_experiment(_rows(), "knn", threshold="best_f1")
    held = run.validation_mask
    assert held.any() and not (held & run.fit_mask).any() and not (held & run.test_mask).any()
    assert (held <= run.train_mask).all()
    assert run.threshold == pytest.approx(run.threshold_at("best_f1"))
    assert run.threshold_options()["best_f1"] == pytest.approx(run.threshold)
    # without a validation part there is no best-F1 option, rather than one fitted on the fitted rows
    plain = run_experiment(_rows(), "knn")
    assert "best_f1" not in plain.threshold_options()
    with pytest.raises(DataError, match="validation"):
        plain.threshold_at("best_f1")


def test_one_set_of_defaults():
    assert MeanStd().k == DEFAULTS["mean_std"]["k"]
    assert Percentile().q == DEFAULTS["percentile"]["q"]
    assert Contamination().fraction == DEFAULTS["contamination"]["fraction"]
    run = run_experiment(_rows(), "zscore")
    assert run.threshold_at("mean_std") == pytest.approx(run.threshold_at({"strategy": "mean_std",
                                                                          "k": DEFAULTS["mean_std"]["k"]}))


def test_events_and_explanations():
    run = run_experiment(_series(), "zscore", train_fraction=0.6)
    events = run.events_at()
    assert len(events) >= 1 and (events["start_index"] <= 304).any()
    assert len(run.events_at(float(run.scores.max()))) == 0
    strongest = int(np.argmax(run.scores))
    why = run.explain(strongest)
    assert why["flagged"] and why["part"] == "test" and why["label"] == 1 and why["top_features"] == ["v"]
    with pytest.raises(DataError):
        run.explain(run.n_rows)


def test_with_threshold_changes_the_bundle_and_the_policy():
    run = run_experiment(_rows(), "zscore")
    run.with_threshold(1.25, "set by hand")
    assert run.pipeline.threshold_ == 1.25 and run.threshold_policy == {"strategy": "fixed", "value": 1.25}
    assert np.array_equal(run.flags(), apply_threshold(run.scores, 1.25))

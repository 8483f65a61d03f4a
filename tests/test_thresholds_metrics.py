"""Threshold strategies and metrics, checked against numpy and scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm

from core.errors import DataError
from core.metrics import ThresholdSweep, classification_metrics, confusion
from core.thresholds import BestF1, Contamination, Fixed, MeanStd, Percentile, apply_threshold, make_threshold

rng = np.random.default_rng(0)
SCORES = rng.normal(size=500)
LABELS = (rng.random(500) < 0.2).astype(int)
SCORES_SHIFTED = SCORES + 1.5 * LABELS


def test_mean_std():
    assert MeanStd(k=2).fit(SCORES).threshold_ == pytest.approx(SCORES.mean() + 2 * SCORES.std())


def test_percentile_and_contamination():
    assert Percentile(q=95).fit(SCORES).threshold_ == pytest.approx(np.percentile(SCORES, 95))
    flagged = apply_threshold(SCORES, Contamination(fraction=0.1).fit(SCORES).threshold_).mean()
    assert flagged == pytest.approx(0.1, abs=0.005)


def test_fixed():
    assert Fixed(value=1.25).fit(SCORES).threshold_ == 1.25


def test_best_f1_is_the_best():
    threshold = BestF1().fit(SCORES_SHIFTED, LABELS).threshold_
    best = skm.f1_score(LABELS, SCORES_SHIFTED > threshold)
    for candidate in np.unique(SCORES_SHIFTED):
        assert skm.f1_score(LABELS, SCORES_SHIFTED > candidate) <= best + 1e-12


def test_best_f1_needs_labels_of_both_classes():
    with pytest.raises(DataError):
        BestF1().fit(SCORES)
    with pytest.raises(DataError):
        BestF1().fit(SCORES, np.zeros(500))


def test_describe_says_how():
    text = MeanStd(k=1).fit(SCORES).describe()
    assert "mean + 1·std" in text and "500 scores" in text


@pytest.mark.parametrize("spec, expected", [
    ("mean_std:k=1", MeanStd(k=1.0)), ("percentile:q=99", Percentile(q=99.0)),
    ({"strategy": "contamination", "fraction": 0.02}, Contamination(fraction=0.02)), (Fixed(value=3), Fixed(value=3)),
])
def test_make_threshold(spec, expected):
    assert make_threshold(spec).to_dict() == expected.to_dict()


@pytest.mark.parametrize("spec", ["nope", "percentile:q=abc", {"strategy": "mean_std", "z": 1}, "percentile:q=120"])
def test_bad_threshold_specs(spec):
    with pytest.raises(DataError):
        make_threshold(spec)


def test_nan_scores_refused():
    with pytest.raises(DataError, match="NaN"):
        MeanStd().fit([1.0, np.nan])


def test_metrics_agree_with_scikit_learn():
    threshold = 0.7
    predicted = (SCORES_SHIFTED > threshold).astype(int)
    result = classification_metrics(LABELS, SCORES_SHIFTED, threshold)
    assert result["precision"] == pytest.approx(skm.precision_score(LABELS, predicted))
    assert result["recall"] == pytest.approx(skm.recall_score(LABELS, predicted))
    assert result["f1"] == pytest.approx(skm.f1_score(LABELS, predicted))
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(LABELS, predicted))
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(LABELS, SCORES_SHIFTED))
    assert result["pr_auc"] == pytest.approx(skm.average_precision_score(LABELS, SCORES_SHIFTED))
    np.testing.assert_array_equal(confusion(LABELS, predicted), skm.confusion_matrix(LABELS, predicted))
    normal = result["normal_positive"]
    assert normal["f1"] == pytest.approx(skm.f1_score(LABELS, predicted, pos_label=0))
    assert normal["precision"] == pytest.approx(skm.precision_score(LABELS, predicted, pos_label=0))


def test_single_class_has_no_auc():
    result = classification_metrics(np.zeros(10), np.arange(10.0), 5)
    assert result["roc_auc"] is None and result["fp"] == 4


@pytest.mark.parametrize("threshold", [-10.0, -0.3, 0.0, 0.7, 1.9, float(SCORES_SHIFTED[17]), 10.0])
def test_sweep_matches_full_computation(threshold):
    sweep = ThresholdSweep(LABELS, SCORES_SHIFTED)
    full = classification_metrics(LABELS, SCORES_SHIFTED, threshold)
    assert sweep.counts(threshold) == (full["tn"], full["fp"], full["fn"], full["tp"])

"""Series metrics on hand-made cases; the expected numbers are worked out in the comments."""

import math

import numpy as np
import pytest

from core.errors import DataError
from core.metrics_ts import (POINT_ADJUST_WARNING, event_metrics, point_adjusted_metrics, point_metrics, pr_auc,
                             range_pr_auc, soft_range_labels, timeseries_metrics, vus_pr)

# Two true events: steps 1-2 and step 5. Two predicted events: step 2 (hits the first) and 7-8 (false).
Y = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0]
FLAGS = [0, 0, 1, 0, 0, 0, 0, 1, 1, 0]


def test_point_metrics_at_a_threshold():
    # Flagged steps 2, 7, 8: tp = 1 (step 2), fp = 2, fn = 2 (steps 1, 5) -> P = R = F1 = 1/3.
    result = point_metrics(Y, np.array(FLAGS, float), threshold=0.5)
    assert (result["tp"], result["fp"], result["fn"], result["n_flagged"]) == (1, 2, 2, 3)
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["recall"] == pytest.approx(1 / 3)
    assert result["f1"] == pytest.approx(1 / 3)


def test_point_metrics_flag_strictly_above_threshold_and_no_flag_gives_zero():
    assert point_metrics([0, 1], [0.5, 0.5], threshold=0.5)["n_flagged"] == 0
    assert point_metrics([0, 1], [0.5, 0.5], threshold=0.5)["precision"] == 0.0  # zero division -> 0, not NaN


def test_event_metrics_count_events_not_points():
    # Recall: 1 of 2 true events has a flagged step; precision: 1 of 2 predicted events overlaps one.
    result = event_metrics(Y, FLAGS)
    assert (result["precision"], result["recall"], result["f1"]) == (0.5, 0.5, 0.5)
    assert (result["n_true_events"], result["n_predicted_events"]) == (2, 2)
    # One long true event found by one flag: perfect event scores, poor point recall.
    long_event = [0] + [1] * 8 + [0]
    one_flag = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert event_metrics(long_event, one_flag)["f1"] == 1.0
    assert point_metrics(long_event, one_flag, 0.5)["recall"] == pytest.approx(1 / 8)


def test_event_metrics_merge_predictions_with_min_gap():
    # Flags 7 and 9 are two false events; with min_gap=1 they are one.
    flags = [0, 0, 1, 0, 0, 0, 0, 1, 0, 1]
    assert event_metrics(Y, flags)["precision"] == pytest.approx(1 / 3)
    assert event_metrics(Y, flags, min_gap=1)["precision"] == pytest.approx(1 / 2)


def test_point_adjusted_inflates_and_warns():
    # Step 2 hits event 1-2, so both its steps count: flags {1, 2, 7, 8}; tp = 2, fp = 2, fn = 1 (step 5).
    # P = 1/2, R = 2/3, F1 = 2 * (1/2) * (2/3) / (1/2 + 2/3) = 4/7 (> the point-wise 1/3).
    result = point_adjusted_metrics(Y, FLAGS)
    assert (result["tp"], result["fp"], result["fn"]) == (2, 2, 1)
    assert result["f1"] == pytest.approx(4 / 7)
    assert result["warning"] == POINT_ADJUST_WARNING and "inflate" in result["warning"]


def test_pr_auc_is_average_precision():
    # Ranking 0.9 (anomaly), 0.2, 0.1, 0.0 (anomaly): AP = 1/2 * 1 + 1/2 * 2/4 = 0.75.
    assert pr_auc([1, 0, 0, 1], [0.9, 0.1, 0.2, 0.0]) == pytest.approx(0.75)


def test_soft_labels_decay_around_each_range():
    # Buffer 4: two steps either side, at distance 1 -> sqrt(3/4), distance 2 -> sqrt(1/2).
    soft = soft_range_labels([0, 0, 0, 1, 1, 0, 0, 0], 4)
    a, b = math.sqrt(0.75), math.sqrt(0.5)
    np.testing.assert_allclose(soft, [0, b, a, 1, 1, a, b, 0])
    np.testing.assert_array_equal(soft_range_labels([0, 1, 0], 1), [0, 1, 0])  # buffer 1: no widening


def test_range_pr_auc_weights_recall_by_detected_ranges():
    # Buffer 0, ranges {0} and {3}. Cut 1 flags step 0: TP 1 of 2, 1 of 2 ranges -> recall 1/4, precision 1.
    # Cuts 2, 3 add normal steps; cut 4 flags step 3: recall 1, precision 2/4.
    # Area = 1/4 * 1 + 3/4 * 1/2 = 0.625 (plain average precision would say 0.75).
    assert range_pr_auc([1, 0, 0, 1], [0.9, 0.1, 0.2, 0.0], buffer=0) == pytest.approx(0.625)


def test_range_pr_auc_and_vus_with_a_buffer():
    y = [0, 0, 1, 1, 0, 0]
    scores = [0.0, 0.1, 0.9, 0.8, 0.2, 0.3]
    # Buffer 0: both anomalies ranked first -> 1. Buffer 1 widens nothing -> 1.
    assert range_pr_auc(y, scores, 0) == pytest.approx(1.0)
    # Buffer 2: steps 1 and 4 get s = sqrt(1/2); P = (2 + 2 + 2s) / 2 = 2 + s; one widened range 1-4.
    # Order 2, 3, 5, 4, 1, 0. Recall = min(TP / P, 1): cuts 1, 2 -> 1/P, 2/P at precision 1;
    # cut 3 (step 5, label 0) adds no recall; cut 4 (step 4) -> TP = 2 + s = P -> recall 1, precision P/4.
    s = math.sqrt(0.5)
    p = 2 + s
    expected = (2 / p) * 1.0 + (1 - 2 / p) * (p / 4)
    assert range_pr_auc(y, scores, 2) == pytest.approx(expected)  # 0.91557
    assert vus_pr(y, scores, max_buffer=2) == pytest.approx((1 + 1 + expected) / 3)


def test_ties_are_cut_together():
    # All scores equal: one threshold flags everything -> recall 1 at precision 2/4.
    assert range_pr_auc([1, 0, 0, 1], [1.0, 1.0, 1.0, 1.0], 0) == pytest.approx(0.5)


def test_vus_pr_rewards_detections_near_a_range():
    y = np.zeros(200, int)
    y[100:110] = 1
    near = np.zeros(200)
    near[96:100] = 1.0  # fires just before the labelled range
    far = np.zeros(200)
    far[20:24] = 1.0
    assert vus_pr(y, near, max_buffer=20) > vus_pr(y, far, max_buffer=20)
    assert pr_auc(y, near) == pytest.approx(pr_auc(y, far))  # point-wise AP cannot tell them apart


def test_metrics_need_labelled_anomalies_and_matching_lengths():
    with pytest.raises(DataError, match="no labelled anomaly"):
        vus_pr([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="scores"):
        pr_auc([0, 1, 0], [0.1, 0.2])
    with pytest.raises(DataError, match="0/1"):
        point_metrics([0, 2, 1], [0.1, 0.2, 0.3], 0.5)
    with pytest.raises(DataError, match="NaN"):
        timeseries_metrics([0, 1, 0], [0.1, np.nan, 0.3], 0.5)


def test_timeseries_metrics_gathers_everything():
    scores = np.array(FLAGS, float)
    result = timeseries_metrics(Y, scores, threshold=0.5, max_buffer=4)
    assert result["point_f1"] == pytest.approx(1 / 3)
    assert result["event_f1"] == pytest.approx(0.5)
    assert result["point_adjusted_f1"] == pytest.approx(4 / 7)
    assert result["point_adjusted_warning"] == POINT_ADJUST_WARNING
    assert result["pr_auc"] == pytest.approx(pr_auc(Y, scores))
    assert result["vus_pr"] == pytest.approx(vus_pr(Y, scores, max_buffer=4))
    assert (result["n_true_events"], result["n_predicted_events"], result["max_buffer"]) == (2, 2, 4)

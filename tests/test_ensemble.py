"""Ensembles: combined scores that do not depend on the other rows, one bundle, strict member checks."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.ensemble import MemberReference, combine_pipelines
from core.errors import BundleError, DataError, TrainingCancelled
from core.pipeline import DetectionPipeline
from core.registry import create_detector, get_method, parse_method_list


def _data(seed=0):
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(300, 4))
    test = np.vstack([rng.normal(size=(80, 4)), rng.normal(size=(20, 4)) + 4.0])
    y = np.r_[np.zeros(80), np.ones(20)].astype(int)
    return train, test, y


def test_rank_is_the_mid_rank_among_training_scores_and_keeps_the_tail_ordered():
    reference = MemberReference(np.array([1.0, 2.0, 3.0, 4.0]))
    ranks = reference.rank(np.array([0.0, 2.0, 2.5, 4.0, 5.0, 9.0]))
    np.testing.assert_allclose(ranks[:4], [0.0, 3 / 8, 0.5, 7 / 8])
    # beyond the largest training score: 1 + excess / IQR (IQR of 1..4 is 1.5)
    np.testing.assert_allclose(ranks[4:], [1 + 1 / 1.5, 1 + 5 / 1.5])
    np.testing.assert_allclose(reference.normalised(np.array([2.5, 4.0])), [0.0, 1.0])


@pytest.mark.parametrize("combine", ["rank", "max"])
def test_a_row_scores_the_same_alone_as_in_any_batch(combine):
    train, test, y = _data()
    ensemble = DetectionPipeline("ensemble", {"members": "knn + zscore + pca", "combine": combine}).fit(train)
    batch = ensemble.score(test)
    alone = np.array([ensemble.score(test[i:i + 1])[0] for i in range(0, len(test), 7)])
    np.testing.assert_allclose(alone, batch[::7])
    np.testing.assert_allclose(ensemble.score(test[::-1])[::-1], batch)
    assert roc_auc_score(y, batch) > 0.95
    # the threshold is the ensemble's own, chosen from its own training scores (99th percentile)
    assert ensemble.threshold_ == pytest.approx(np.percentile(ensemble.train_scores_, 99))
    assert "99th percentile" in ensemble.threshold_description_


def test_the_ensemble_combines_what_its_members_score():
    train, test, _ = _data(1)
    ensemble = DetectionPipeline("ensemble", {"members": "knn(n_neighbors=3) + zscore(robust=true)"}).fit(train)
    members = ensemble.detector_.members_
    assert [(m.method, m.params) for m in members] == [("knn", {"n_neighbors": 3}), ("zscore", {"robust": True})]
    expected = np.mean([MemberReference(m.train_scores_).rank(m.score(test)) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.score(test), expected)
    assert set(ensemble.detector_.member_scores(test)) == {"1. knn", "2. zscore"}


def test_explanations_come_from_the_members_and_add_up_to_the_rank_score():
    train, test, _ = _data(2)
    ensemble = DetectionPipeline("ensemble", {"members": "zscore + pca"}).fit(train)
    contributions = ensemble.feature_contributions(test)
    assert contributions.shape == test.shape and np.all(contributions >= 0)
    np.testing.assert_allclose(contributions.sum(axis=1), ensemble.score(test), rtol=1e-9)
    # a row pushed far along feature 2 is explained by feature 2
    row = np.zeros((1, 4))
    row[0, 2] = 8.0
    assert int(np.argmax(ensemble.feature_contributions(row))) == 2


def test_combining_fitted_pipelines_equals_training_the_ensemble():
    train, test, _ = _data(3)
    names = ["a", "b", "c", "d"]
    parts = [DetectionPipeline(m).fit(train, feature_names=names) for m in ("lof", "knn")]
    combined = combine_pipelines(parts, combine="max", threshold="mean_std:k=3")
    trained = DetectionPipeline("ensemble", {"members": "lof + knn", "combine": "max"}, "mean_std:k=3").fit(
        train, feature_names=names)
    np.testing.assert_allclose(combined.score(test), trained.score(test))
    assert combined.threshold_ == pytest.approx(trained.threshold_)
    assert combined.feature_names_ == names
    loaded = DetectionPipeline.from_bytes(combined.to_bytes(key=None), key=None)
    np.testing.assert_array_equal(loaded.score(test), combined.score(test))


def test_combining_refuses_what_cannot_be_combined():
    train, _, _ = _data(4)
    knn = DetectionPipeline("knn").fit(train)
    with pytest.raises(DataError, match="at least two"):
        combine_pipelines([knn])
    with pytest.raises(DataError, match="same rows"):
        combine_pipelines([knn, DetectionPipeline("zscore").fit(train[:200])])
    with pytest.raises(DataError, match="same features"):
        combine_pipelines([knn, DetectionPipeline("zscore").fit(train, feature_names=list("pqrs"))])
    forest = DetectionPipeline("random_forest").fit(np.vstack([train, train[:10] + 5]),
                                                    np.r_[np.zeros(300), np.ones(10)])
    with pytest.raises(DataError, match="cannot be part"):
        combine_pipelines([knn, forest])
    with pytest.raises(DataError, match="trained first"):
        combine_pipelines([knn, DetectionPipeline("zscore")])


@pytest.mark.parametrize("members, message", [
    ("lof", "2 to 8"), ("lof + ensemble", "cannot be combined"), ("lof + random_forest", "cannot be combined"),
    ("lof + rolling_median", "cannot be combined"), ("lof + nope", "unknown method"),
    ("lof + knn(n_neighbors=0)", "between"), ("lof + knn(k=3)", "no parameter"),
    ("lof + knn(n_neighbors)", "name=value"),
    (" + ".join(["knn"] * 9), "2 to 8"), ("lof + " + "x" * 2000, "at most"),
])
def test_a_bad_member_list_is_one_plain_error(members, message):
    with pytest.raises(DataError, match=message):
        create_detector("ensemble", members=members)


def test_member_lists_have_one_text_form():
    spec = get_method("ensemble").param("members")
    assert spec.coerce("lof+knn( n_neighbors = 3 ,aggregate=mean)") == "lof + knn(n_neighbors=3, aggregate=mean)"
    assert parse_method_list(spec.default) == [("lof", {}), ("knn", {}), ("one_class_svm", {})]


def test_training_reports_each_member_and_can_be_cancelled():
    train, _, _ = _data(5)
    seen = []
    DetectionPipeline("ensemble", {"members": "zscore + iqr + knn"}).fit(train, progress=lambda *a: seen.append(a))
    assert seen == [(1, 3, None, None), (2, 3, None, None), (3, 3, None, None)]
    with pytest.raises(TrainingCancelled):
        DetectionPipeline("ensemble", {"members": "zscore + iqr"}).fit(train, should_stop=lambda: True)


def test_a_bundle_holds_every_member_and_loads_them_with_their_checks(tmp_path):
    train, test, _ = _data(6)
    ensemble = DetectionPipeline("ensemble", {"members": "isolation_forest(n_estimators=20) + zscore + pca"}).fit(
        train, feature_names=list("abcd"))
    path = ensemble.save(tmp_path / "ensemble.bundle", key=None)
    loaded = DetectionPipeline.load(path, key=None)
    np.testing.assert_array_equal(loaded.score(test), ensemble.score(test))
    np.testing.assert_allclose(loaded.feature_contributions(test), ensemble.feature_contributions(test))
    assert [m.method for m in loaded.detector_.members_] == ["isolation_forest", "zscore", "pca"]
    assert loaded.threshold_ == ensemble.threshold_
    # the members' estimators sit under their prefix; a bundle whose members differ from its list is refused
    assert loaded.manifest_["estimator_keys"] == ["detector.member0.detector.estimator_",
                                                  "detector.member2.detector.estimator_"]
    other = DetectionPipeline("ensemble", {"members": "pca + zscore + isolation_forest(n_estimators=20)"}).fit(train)
    assert other.score(test).shape == (len(test),)


def test_an_ensemble_of_a_deep_member_round_trips(tmp_path):
    train, test, _ = _data(7)
    ensemble = DetectionPipeline("ensemble", {"members": "dense_ae(epochs=2, batch_size=64) + zscore"}).fit(train)
    loaded = DetectionPipeline.from_bytes(ensemble.to_bytes(key=None), key=None)
    np.testing.assert_allclose(loaded.score(test), ensemble.score(test), rtol=1e-6)


def test_an_ensemble_bundle_with_a_member_it_does_not_list_is_refused():
    from tests import hostile_bundles as hostile

    train, _, _ = _data(8)
    data = DetectionPipeline("ensemble", {"members": "zscore + knn"}).fit(train).to_bytes(key=None)
    swapped = hostile.with_manifest(data, lambda m: m["params"].update(members="knn + zscore"))
    with pytest.raises(BundleError):
        DetectionPipeline.from_bytes(swapped, key=None)

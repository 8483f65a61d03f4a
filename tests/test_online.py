"""Online (adaptive) detectors, the anomaly-likelihood calibration and their checkpoints in a stream."""

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from core.calibration import AnomalyLikelihood, make_calibration
from core.errors import BundleError, DataError
from core.pipeline import DetectionPipeline
from core.registry import create_detector
from core.streaming import QueueSink, ReplaySource, StreamRunner

ONLINE = ("sliding_zscore", "sliding_knn", "online_forecast")
SMALL = {"sliding_zscore": {"window": 60, "short_window": 4}, "sliding_knn": {"window": 80, "lags": 4},
         "online_forecast": {"lags": 4}}


def _series(n=900, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = np.sin(2 * np.pi * t / 30) + 0.05 * rng.normal(size=n)
    values[600] += 3.0
    return np.c_[values, 0.5 * np.cos(2 * np.pi * t / 30) + 0.05 * rng.normal(size=n)]


@pytest.mark.parametrize("name", ONLINE)
def test_scoring_in_pieces_equals_scoring_the_whole_and_score_samples_leaves_the_model(name):
    X = _series()
    detector = create_detector(name, **SMALL[name]).fit(X[:300])
    assert detector.step_context().adaptive and detector.step_context().causal
    before = {k: v.copy() for k, v in detector.state_.items()}
    whole = detector.score_samples(X[300:])
    assert all(np.array_equal(before[k], detector.state_[k]) for k in before)  # a copy was scored
    pieces = np.concatenate([detector.score_and_learn(X[a:b]) for a, b in ((300, 301), (301, 377), (377, 900))])
    np.testing.assert_array_equal(whole, pieces)
    assert pieces.argmax() + 300 in range(600, 600 + SMALL[name].get("lags", 1))  # the spike stands out
    # the learned state moved on: the same rows now continue a longer history
    assert not all(np.array_equal(before[k], detector.state_[k]) for k in before)


@pytest.mark.parametrize("name", ONLINE)
def test_learned_state_survives_a_bundle_and_scoring_continues_identically(name, tmp_path):
    X = _series()
    pipeline = DetectionPipeline(name, SMALL[name]).fit(X[:300])
    pipeline.score_and_learn(X[300:500])
    loaded = DetectionPipeline.load(pipeline.save(tmp_path / "m.bundle"))
    np.testing.assert_array_equal(loaded.score_and_learn(X[500:]), pipeline.score_and_learn(X[500:]))


def test_online_detectors_adapt_to_a_level_shift_where_a_fixed_model_does_not():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 1))
    X[1000:] += 8.0
    for name in ONLINE:
        detector = create_detector(name).fit(X[:500])
        scores = detector.score_and_learn(X[500:])
        shift, settled = scores[500:510].max(), np.median(scores[1400:])
        assert shift > 5 * settled, name
    fixed = create_detector("zscore").fit(X[:500]).score_samples(X[500:])
    assert np.median(fixed[1400:]) > 5  # still far from its training data


def test_damaged_online_state_in_a_bundle_is_refused(tmp_path):
    pipeline = DetectionPipeline("sliding_knn", SMALL["sliding_knn"]).fit(_series()[:300])
    data = pipeline.to_bytes(key=None)

    def edit(name, blob):
        if name != "arrays.npz":
            return blob
        arrays = dict(np.load(io.BytesIO(blob)))
        arrays["detector.state_memory"] = np.array([5.0])  # disagrees with the rows kept
        out = io.BytesIO()
        np.savez(out, **arrays)
        return out.getvalue()

    with pytest.raises(BundleError):
        DetectionPipeline.from_bytes(_rewrite_checksums(data, edit), key=None)


# -- the anomaly likelihood ------------------------------------------------------------------------
def test_likelihood_is_high_for_a_burst_of_scores_and_in_pieces_equals_the_whole():
    rng = np.random.default_rng(2)
    raw = np.abs(rng.normal(size=4000))
    raw[3000:3010] += 6.0
    calibration = AnomalyLikelihood(reestimation_period=50).fit(raw[:1000])
    whole = calibration.transform(raw[1000:])
    assert np.all((whole >= 0) & (whole <= 1))
    assert whole[2000:2010].max() > 0.5 > np.quantile(whole[:1900], 0.999)
    pieces = np.concatenate([calibration.transform_and_learn(raw[a:b]) for a, b in ((1000, 1001), (1001, 2345),
                                                                                     (2345, 4000))])
    np.testing.assert_array_equal(whole, pieces)
    restored = AnomalyLikelihood(reestimation_period=50).set_state(calibration.get_state())
    more = np.abs(rng.normal(size=300))
    np.testing.assert_array_equal(restored.transform(more), calibration.transform(more))


def test_likelihood_filter_gives_one_alarm_per_excursion():
    raw = np.r_[np.full(500, 1.0) + 0.01 * np.sin(np.arange(500)), np.full(20, 50.0)]
    calibrated = AnomalyLikelihood(averaging_window=1).fit(raw[:400]).transform(raw[400:])
    high = calibrated[100:] > 0.5
    assert high[0] and not high[1:].any()  # the rest of the excursion is lowered to about 1 in 1,000


def test_calibration_specs_and_their_errors():
    assert make_calibration(None) is None and make_calibration("none") is None
    made = make_calibration("likelihood:averaging_window=3,min_spread=0.2")
    assert (made.averaging_window, made.min_spread) == (3, 0.2)
    assert make_calibration(made.to_dict()).get_params() == made.get_params()
    for bad in ("zscore", "likelihood:window=3", "likelihood:averaging_window=x", "likelihood:averaging_window=0"):
        with pytest.raises(DataError):
            make_calibration(bad)


def test_a_calibrated_pipeline_of_any_method_round_trips_and_its_threshold_is_on_the_calibrated_scale(tmp_path):
    X = _series()
    pipeline = DetectionPipeline("zscore", calibration="likelihood").fit(X[:300])
    assert pipeline.adaptive and pipeline.threshold_ == 0.5 and "likelihood" in pipeline.threshold_description_
    loaded = DetectionPipeline.load(pipeline.save(tmp_path / "z.bundle"))
    np.testing.assert_array_equal(loaded.score(X[300:]), pipeline.score(X[300:]))
    assert loaded.describe()["calibration"]["calibration"] == "likelihood"
    by_strategy = DetectionPipeline("zscore", threshold="percentile:q=99", calibration="likelihood").fit(X[:300])
    assert 0.0 <= by_strategy.threshold_ <= 1.0 and "after anomaly likelihood" in by_strategy.threshold_description_


def test_tampered_calibration_state_is_refused():
    data = DetectionPipeline("zscore", calibration="likelihood").fit(_series()[:300]).to_bytes(key=None)

    def edit(name, blob):
        if name != "manifest.json":
            return blob
        manifest = json.loads(blob)
        manifest["state"]["calibration.since_estimate_"] = -4
        return json.dumps(manifest).encode()

    with pytest.raises(BundleError, match="calibration"):
        DetectionPipeline.from_bytes(_rewrite_checksums(data, edit), key=None)


def test_evaluate_with_the_likelihood_from_the_command_line(tmp_path, capsys):
    from core.cli import main

    X = _series(800)
    frame = pd.DataFrame({"value": X[:, 0], "label": 0})
    frame.loc[600, "label"] = 0  # the spike of _series lies in the training part
    frame.loc[700:705, "label"] = 1
    frame.loc[700:705, "value"] += 4.0
    frame.to_csv(tmp_path / "s.csv", index=False)
    status = main(["evaluate", str(tmp_path / "s.csv"), "--method", "sliding_zscore", "--label-column", "label",
                   "--normal-value", "0", "--calibration", "likelihood:averaging_window=2", "--json"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["roc_auc"] > 0.9 and "likelihood" in summary["threshold_description"]


# -- streaming: the state is checkpointed and a restarted stream continues -------------------------
def _stream(pipeline, frame, checkpoint, batch=7):
    sink = QueueSink()
    runner = StreamRunner(pipeline, ReplaySource(frame, max_batch=batch), sink, checkpoint=checkpoint, key=None)
    runner.run()
    return runner, np.array([r["score"] for r in sink.drain() if r["type"] == "score"])


@pytest.mark.parametrize("name, calibration", [("sliding_knn", None), ("online_forecast", "likelihood"),
                                               ("zscore", "likelihood")])
def test_a_restarted_stream_continues_from_its_checkpoint(name, calibration, tmp_path):
    X = _series()
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1]})
    pipeline = DetectionPipeline(name, SMALL.get(name, {}), calibration=calibration).fit(
        X[:300], feature_names=["a", "b"])
    path = pipeline.save(tmp_path / "m.bundle", key=None)
    expected = pipeline.score(X[300:])

    checkpoint = tmp_path / "m.bundle.checkpoint"
    first, head = _stream(DetectionPipeline.load(path, key=None), frame.iloc[300:650], checkpoint)
    assert not first.resumed and checkpoint.exists()
    second, tail = _stream(DetectionPipeline.load(path, key=None), frame.iloc[650:], checkpoint, batch=31)
    assert second.resumed
    np.testing.assert_array_equal(np.r_[head, tail], expected)
    # without the checkpoint, a new stream starts again from the trained model
    fresh, again = _stream(DetectionPipeline.load(path, key=None), frame.iloc[650:], tmp_path / "other.ckpt")
    assert not fresh.resumed and not np.array_equal(again, tail) or name == "zscore" and calibration is None


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    X = _series()
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1]})
    checkpoint = tmp_path / "shared.checkpoint"
    one = DetectionPipeline("sliding_zscore", SMALL["sliding_zscore"]).fit(X[:300], feature_names=["a", "b"])
    _stream(one, frame.iloc[300:400], checkpoint)
    other = DetectionPipeline("sliding_zscore", {"window": 61}).fit(X[:300], feature_names=["a", "b"])
    with pytest.raises(BundleError, match="another model"):
        _stream(other, frame.iloc[400:500], checkpoint)


def test_command_line_stream_keeps_a_checkpoint_beside_the_bundle(tmp_path, capsys):
    from core.cli import main

    X = _series()
    pipeline = DetectionPipeline("sliding_zscore", SMALL["sliding_zscore"]).fit(X[:300], feature_names=["a", "b"])
    path = pipeline.save(tmp_path / "m.bundle", key=None)
    pd.DataFrame({"a": X[300:, 0], "b": X[300:, 1]}).to_csv(tmp_path / "d.csv", index=False)
    args = ["stream", str(path), "--source", f"replay:{tmp_path / 'd.csv'}", "--sink", "stdout", "--max-records",
            "100"]
    assert main(args) == 0
    assert (tmp_path / "m.bundle.checkpoint").exists()
    capsys.readouterr()
    assert main(args) == 0
    assert "continuing from the checkpoint" in capsys.readouterr().err
    streamed = DetectionPipeline.load(tmp_path / "m.bundle.checkpoint", key=None)
    for _ in range(2):  # a replay starts at the file's first record again: the model saw those twice
        pipeline.score_and_learn(X[300:400])
    np.testing.assert_array_equal(streamed.score(X[500:]), pipeline.score(X[500:]))


def _rewrite_checksums(data: bytes, edit) -> bytes:
    """Edit bundle members and recompute the manifest's checksums (an edit made on purpose)."""
    import hashlib

    source = zipfile.ZipFile(io.BytesIO(data))
    members = {name: edit(name, source.read(name)) for name in source.namelist()}
    manifest = json.loads(members["manifest.json"])
    for name in manifest["checksums"]:
        manifest["checksums"][name] = hashlib.sha256(members[name]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, blob in members.items():
            target.writestr(name, blob)
    return out.getvalue()


def test_an_online_method_trains_on_the_train_page_and_shows_results():
    from tests.app_support import errors, load_sample, no_crash, start, train

    at = load_sample(start(), "sine_spikes")
    at = train(at, "statistical", "sliding_zscore")
    no_crash(at)
    assert not errors(at)
    assert at.title[0].value == "Results"
    assert at.metric, "the Results page shows its metric cards"


def test_the_train_page_offers_the_likelihood_calibration():
    from tests.app_support import errors, load_sample, no_crash, start, train, PAGE

    at = load_sample(start(), "sine_spikes")
    at.switch_page(PAGE["train"]).run()
    at.checkbox(key="train_calibration").check().run()
    at = train(at, "statistical", "zscore")
    no_crash(at)
    assert not errors(at) and at.title[0].value == "Results"
    assert at.session_state["ad_run"].pipeline.calibration == "likelihood"

"""A stream gives every step the score that scoring the whole file gives it, for every series method.

Each window method, causal and centred, is trained once and saved; the same file is then scored
by ``python -m core score`` and streamed through the replay source in micro-batches of 1, 7, 100
and the whole file (and once by ``python -m core stream``). The stream leaves the first
``step_context().past`` steps as warm-up; every other step must get the batch score, a centred
model's included (written ``future`` steps late, the last ones when the stream ends).
"""

import csv

import numpy as np
import pandas as pd
import pytest

from core import cli
from core.pipeline import DetectionPipeline
from core.registry import METHODS
from core.streaming import QueueSink, StreamRunner
from core.streaming.sources import ReplaySource

#: Small settings: every series method, trained in about a second.
SMALL = {
    "rolling_median": {"window": 9},
    "windowed_pca": {"window": 8},
    "windowed_knn": {"window": 8},
    "windowed_lof": {"window": 8, "n_neighbors": 10},
    "matrix_profile": {"window": 8},
    "lstm_ae": {"window": 8, "epochs": 2, "hidden_size": 8, "latent_size": 4, "num_layers": 1, "device": "cpu"},
    "conv_ae": {"window": 8, "epochs": 2, "channels": 4, "device": "cpu"},
    "sliding_zscore": {"window": 50},
    "sliding_knn": {"window": 50, "lags": 4},
    "online_forecast": {"lags": 4},
}
SERIES_METHODS = sorted(name for name, spec in METHODS.items() if spec.input_kind == "windows")
N_STEPS, N_TRAIN = 240, 120


def test_every_series_method_is_covered():
    assert set(SERIES_METHODS) <= set(SMALL), "give the new series method small settings here"


def _series() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    t = np.arange(N_STEPS)
    a = np.sin(2 * np.pi * t / 24) + 0.1 * rng.normal(size=t.size)
    b = np.cos(2 * np.pi * t / 24) + 0.1 * rng.normal(size=t.size)
    a[170] += 4.0
    b[200:206] = 0.0
    return pd.DataFrame({"a": a, "b": b})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream_equals_batch")
    frame = _series()
    path = folder / "series.csv"
    frame.to_csv(path, index=False)
    return folder, frame, path


def _stream(pipeline, frame, batch):
    sink = QueueSink()
    stats = StreamRunner(pipeline, ReplaySource(frame, max_batch=batch), sink).run()
    records = [r for r in sink.drain() if r["type"] == "score"]
    assert [r["seq"] for r in records] == list(range(len(frame)))  # every record once, in order
    return np.array([np.nan if r["score"] is None else r["score"] for r in records]), stats


#: stumpy compiles its numba kernels on first use in a process: about a minute on 2 cores, more when busy
COMPILES = {"matrix_profile"}


def _cases():
    """Every series method in each context it offers (an online method is always causal: no choice)."""
    for method in SERIES_METHODS:
        declared = {p.name: p for p in METHODS[method].params}
        contexts = declared["context"].choices if "context" in declared else (None,)
        for context in contexts:
            yield pytest.param(method, context, marks=[pytest.mark.timeout(1800)] if method in COMPILES else [])


@pytest.mark.parametrize("method, context", list(_cases()))
def test_stream_and_score_agree_at_every_batch_size(method, context, files):
    folder, frame, path = files
    params = {**SMALL[method], **({"context": context} if context else {})}
    pipeline = DetectionPipeline(method, params)
    pipeline.fit(frame.iloc[:N_TRAIN], feature_names=list(frame.columns))
    bundle = pipeline.save(folder / f"{method}_{context}.bundle", key=None)
    step = pipeline.step_context()
    assert step.causal == (context != "centred")
    # a window model reads earlier steps; an online one carries them in its state instead
    assert step.past >= 1 or step.adaptive

    out = folder / f"{method}_{context}_scored.csv"
    assert cli.main(["score", str(bundle), str(path), "--out", str(out)]) == 0
    batch = pd.read_csv(out)["anomaly_score"].to_numpy()
    # float32 networks, and stumpy's running dot products (a distance near 0 is the square root of
    # rounding noise, about 1e-7 whatever the batch), agree to rounding; the rest exactly
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if method in ("lstm_ae", "conv_ae", "matrix_profile") \
        else {"rtol": 1e-9, "atol": 1e-12}

    for size in (1, 7, 100, N_STEPS):
        loaded = DetectionPipeline.load(bundle, key=None)  # afresh: an online model learns as it streams
        streamed, stats = _stream(loaded, frame, size)
        assert np.isnan(streamed[:step.past]).all(), (method, context, size)
        np.testing.assert_allclose(streamed[step.past:], batch[step.past:], **tolerance,
                                   err_msg=f"{method} {context}, batches of {size}")
        assert stats["warmup"] == step.past and stats["scored"] == N_STEPS - step.past and stats["waiting"] == 0
        flagged = streamed[step.past:] > loaded.threshold_
        assert flagged.sum() == (batch[step.past:] > loaded.threshold_).sum()


def test_a_centred_model_writes_each_score_once_its_later_steps_arrived(files):
    _, frame, _ = files
    pipeline = DetectionPipeline("windowed_pca", {"window": 8, "context": "centred"})
    pipeline.fit(frame.iloc[:N_TRAIN], feature_names=list(frame.columns))
    future = pipeline.step_context().future
    assert future == 7
    batches = []
    sink = QueueSink()
    runner = StreamRunner(pipeline, ReplaySource(frame.iloc[:50], max_batch=10), sink)
    original = sink.write
    sink.write = lambda records: (batches.append([r["seq"] for r in records if r["type"] == "score"]),
                                  original(records))
    stats = runner.run()
    # batch k (rows 10k .. 10k+9) can settle the steps up to 10k+9-7; the rest come when the stream ends
    assert batches[0] == list(range(0, 3)) and batches[1] == list(range(3, 13))
    assert batches[-1] == list(range(43, 50)) and stats["scored"] + stats["warmup"] == 50


def test_the_stream_command_writes_the_batch_scores(files, tmp_path):
    folder, frame, path = files
    pipeline = DetectionPipeline("rolling_median", {"window": 9, "context": "centred"})
    pipeline.fit(frame.iloc[:N_TRAIN], feature_names=list(frame.columns))
    bundle = pipeline.save(tmp_path / "model.bundle", key=None)
    out = tmp_path / "stream.csv"
    assert cli.main(["stream", str(bundle), "--source", f"replay:{path}", "--sink", f"csv:{out}"]) == 0
    with open(out, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["type"] == "score"]
    past = pipeline.step_context().past
    scores = np.array([float(r["score"]) if r["score"] not in ("", None) else np.nan for r in rows])
    np.testing.assert_allclose(scores[past:], pipeline.score(frame)[past:], rtol=1e-9)
    assert len(rows) == N_STEPS and np.isnan(scores[:past]).all()

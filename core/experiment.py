"""The evaluation protocol shared by the command line, the dashboard and the benchmarks.

Split the data, fit a pipeline on the normal rows of the training part, choose the threshold from
training data only (or from a labelled validation part for the best-F1 strategy), score every row,
and measure the test part. The outcome is a :class:`core.run.ScoredRun`.
"""

from __future__ import annotations

import time

import numpy as np

from .data import Dataset
from .errors import DataError
from .pipeline import DetectionPipeline
from .registry import get_method
from .run import ScoredRun
from .thresholds import make_threshold

SPLITS = ("auto", "random", "chronological")


#: the name this module's result had before scored runs were one object (kept for callers using it)
ExperimentResult = ScoredRun


def split_masks(dataset: Dataset, method: str, *, test_size: float = 0.2, seed: int = 21, split: str = "auto",
                train_fraction: float | None = None, train_range=None) -> tuple[np.ndarray, np.ndarray, str]:
    """Boolean ``(train, test)`` masks over the dataset's rows and the split actually used.

    ``random``: scikit-learn's ``train_test_split(test_size, random_state=seed)`` (shuffled, not
    stratified; on ECG5000 with 0.2 and 21 it is S1's split). ``chronological``: the training part is
    the first ``train_fraction`` of the series (default ``1 - test_size``) or the rows inside
    ``train_range``; the test part is every other row.
    """
    if split not in SPLITS:
        raise DataError(f"Unknown split {split!r}; choose one of {', '.join(SPLITS)}.")
    spec = get_method(method)
    n = dataset.n_rows
    if split == "auto":
        split = "chronological" if (dataset.is_series or spec.input_kind == "windows") else "random"
    if split == "random":
        if not 0.0 < test_size < 1.0:
            raise DataError(f"The test size must be between 0 and 1, got {test_size}.")
        from sklearn.model_selection import train_test_split

        try:
            train_idx, _ = train_test_split(np.arange(n), test_size=test_size, random_state=seed)
        except ValueError as exc:
            raise DataError(f"Cannot split {n} rows with test size {test_size}: {exc}") from exc
        train = np.zeros(n, dtype=bool)
        train[train_idx] = True
    else:
        from .timeseries import chronological_train_mask

        if train_range is None and train_fraction is None:
            train_fraction = 1.0 - test_size
        target = dataset.time if (train_range is not None and dataset.time is not None) else n
        train = np.asarray(chronological_train_mask(target, train_fraction=train_fraction, train_range=train_range))
    test = ~train
    if train.sum() == 0 or test.sum() == 0:
        raise DataError("The split leaves an empty training or test part; change the test size or range.")
    return train, test, split


def run_experiment(dataset: Dataset, method: str, params: dict | None = None, *, threshold=None,
                   test_size: float = 0.2, seed: int = 21, split: str = "auto",
                   train_fraction: float | None = None, train_range=None, scaler: str = "auto",
                   calibration=None, progress=None, should_stop=None) -> ScoredRun:
    """Train ``method`` on the normal training rows of ``dataset`` and evaluate it on the rest.

    Parameters
    ----------
    dataset : Dataset
        From :func:`core.data.prepare`.
    method, params, threshold, scaler, calibration
        As for :class:`~core.pipeline.DetectionPipeline` (``calibration="likelihood"``: the anomaly
        likelihood after the method).
    test_size, seed, split, train_fraction, train_range
        See :func:`split_masks`.
    progress, should_stop
        Passed to the detector's ``fit``.

    Returns
    -------
    ScoredRun
        With ``dataset`` attached and ``settings`` holding the split options given.
    """
    spec = get_method(method)
    notes: list[str] = []
    train, test, split_used = split_masks(dataset, method, test_size=test_size, seed=seed, split=split,
                                          train_fraction=train_fraction, train_range=train_range)
    y = dataset.y
    if spec.supervised and y is None:
        raise DataError(f"'{spec.label}' is supervised: set a label column first.")
    strategy = make_threshold(threshold, spec.load_class().default_threshold) if threshold is not None else None
    validation = np.zeros_like(train)
    if strategy is not None and strategy.needs_labels:
        if y is None:
            raise DataError("The best-F1 threshold needs a label column.")
        validation = _validation_part(train, split_used, seed)
        train = train & ~validation
        notes.append(f"{int(validation.sum())} training rows were held out to choose the threshold.")

    fit_mask = train.copy()
    if y is not None and not spec.supervised:
        if spec.input_kind == "windows":
            # windows need a contiguous series: keep labelled anomalies but say so
            if y[train].any():
                notes.append(f"The training range holds {int(y[train].sum())} labelled anomalies.")
        else:
            fit_mask &= y == 0
    if fit_mask.sum() < 2:
        raise DataError("The training part has fewer than 2 normal rows; use a larger training part.")

    pipeline = DetectionPipeline(method, params, None if strategy is not None and strategy.needs_labels else threshold,
                                 scaler, calibration)
    started = time.perf_counter()
    pipeline.fit(dataset.X[fit_mask], y[fit_mask] if spec.supervised else None,
                 feature_names=dataset.feature_names, progress=progress, should_stop=should_stop)
    fit_seconds = time.perf_counter() - started

    scores = np.empty(dataset.n_rows)
    if spec.input_kind == "windows":
        started = time.perf_counter()
        scores[:] = pipeline.score(dataset.X)
        score_seconds = time.perf_counter() - started
    else:
        started = time.perf_counter()
        scores[test] = pipeline.score(dataset.X[test])
        score_seconds = time.perf_counter() - started
        scores[~test] = pipeline.score(dataset.X[~test])

    policy = (strategy.to_dict() if strategy is not None
              else make_threshold(pipeline.threshold, pipeline.detector_.default_threshold).to_dict())
    run = ScoredRun(
        pipeline=pipeline, method=method, params=dict(params or {}), scores=scores, train_mask=train | validation,
        test_mask=test, fit_mask=fit_mask, y=y, threshold=pipeline.threshold_,
        threshold_description=pipeline.threshold_description_, metrics=None, fit_seconds=fit_seconds,
        score_seconds=score_seconds, device=pipeline.device_, history=pipeline.history_, split=split_used,
        notes=notes, validation_mask=validation, threshold_policy=policy, dataset=dataset,
        settings={"test_size": test_size, "seed": seed, "split": split_used, "train_fraction": train_fraction,
                  "train_range": [str(v) for v in train_range] if train_range is not None else None,
                  "scaler": scaler},
    )
    if validation.any():  # best F1: fitted on the held-out rows (its ``fitted_on``), as everywhere else
        chosen = make_threshold(policy).fit(scores[run.rows(strategy.fitted_on)], y[run.rows(strategy.fitted_on)])
        pipeline.set_threshold(chosen.threshold_, chosen.describe())
        run.threshold, run.threshold_description = pipeline.threshold_, pipeline.threshold_description_
    run.measure()
    return run


def _validation_part(train: np.ndarray, split: str, seed: int, fraction: float = 0.25) -> np.ndarray:
    """A quarter of the training part: random rows, or the end of the training range for a series."""
    index = np.flatnonzero(train)
    size = max(1, int(round(fraction * index.size)))
    chosen = index[-size:] if split == "chronological" else np.random.default_rng(seed).choice(index, size, replace=False)
    mask = np.zeros_like(train)
    mask[chosen] = True
    return mask

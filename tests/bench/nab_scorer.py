"""The Numenta Anomaly Benchmark's scoring rules (NAB v1.1), vectorised with numpy.

NAB scores a detector that emits an anomaly score in [0, 1] per row; a row is a detection when its
score is at or above one threshold shared by the whole corpus. The rules:

* Each labelled anomaly window (``labels/combined_windows.json``) earns once, for its earliest
  detection: ``tp_weight`` times the scaled sigmoid of the detection's relative position in the
  window, ``S(x) = 2 / (1 + exp(5x)) - 1`` with ``x = -(right - i + 1) / width``, divided by
  ``S(-1)`` so that a detection on the window's first row earns exactly ``tp_weight``. Later
  detections in the same window earn nothing more (the reward is a maximum, not a sum).
* A window without any detection costs ``fn_weight``.
* A detection outside every window costs ``fp_weight`` times ``-S(x)``, where ``x`` is its distance
  past the end of the preceding window over that window's width minus one (``S = -1`` beyond
  ``x = 3``); one before any window costs ``fp_weight`` in full. So a detection just after a window
  costs almost nothing: it is likely the same anomaly, flagged late.
* The first ``min(floor(15% of rows), 750)`` rows of every series are a probationary period in which
  the detector learns: nothing there is scored, and a window lying wholly inside it does not count
  as missed.
* The threshold is the one that maximises the total over the corpus (NAB's optimiser sweeps every
  distinct anomaly score; a threshold above every score, 1.1, means no detection).
* A profile's total is normalised to ``100 * (raw - null) / (perfect - null)``: the null detector
  flags nothing and scores ``-fn_weight`` per scored window; the perfect one earns ``tp_weight`` per
  window (NAB counts every labelled window here).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PROBATION_FRACTION = 0.15
#: NAB caps the probationary period at 15% of 5,000 rows.
PROBATION_CAP_ROWS = PROBATION_FRACTION * 5000
#: The threshold NAB reports when no anomaly score reaches it (scores are in [0, 1]).
NO_DETECTION_THRESHOLD = 1.1
#: Past this relative distance after a window, a false positive costs the full FP weight.
FAR_PAST_WINDOW = 3.0


def scaled_sigmoid(relative_position) -> np.ndarray:
    """NAB's reward for a detection at ``relative_position``: +0.987 at a window's start (-1), 0 at
    its end, negative after it, and -1 once more than three window widths past it."""
    x = np.asarray(relative_position, dtype=float)
    # 2 * sigmoid(-5x) - 1, written so that large x neither overflows nor warns
    value = -np.tanh(2.5 * np.minimum(x, FAR_PAST_WINDOW + 1.0))
    return np.where(x > FAR_PAST_WINDOW, -1.0, value)


#: The reward of the earliest possible detection, which NAB scales to ``tp_weight``.
EARLIEST_REWARD = float(scaled_sigmoid(-1.0))


def probationary_length(n_rows: int, fraction: float = PROBATION_FRACTION) -> int:
    """Rows at the start of a series that are not scored: ``min(floor(fraction * n), 750)``."""
    return int(min(math.floor(fraction * n_rows), fraction * 5000))


@dataclass(frozen=True)
class Profile:
    """One NAB application profile: what a detected window, a false alarm and a missed window weigh."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


def load_profiles(path) -> dict[str, Profile]:
    """Profiles from NAB's ``config/profiles.json``."""
    raw = json.loads(Path(path).read_text())
    return {name: Profile(name, float(spec["CostMatrix"]["tpWeight"]), float(spec["CostMatrix"]["fpWeight"]),
                          float(spec["CostMatrix"]["fnWeight"]))
            for name, spec in raw.items()}


def load_windows(path) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """Anomaly windows per series (``group/file.csv``) from NAB's ``labels/combined_windows.json``."""
    raw = json.loads(Path(path).read_text())
    return {name: [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in windows]
            for name, windows in raw.items()}


@dataclass(frozen=True)
class SeriesLayout:
    """Where every row of one series stands against its anomaly windows; independent of the detector.

    ``window`` is the index of the window holding each row (-1 outside every window); ``reward`` is
    the row's unweighted scaled sigmoid (positive inside a window, negative outside); ``scored`` is
    False in the probationary period.
    """

    name: str
    window: np.ndarray
    reward: np.ndarray
    scored: np.ndarray
    n_windows: int

    @property
    def n_rows(self) -> int:
        return self.window.size

    @property
    def in_window(self) -> np.ndarray:
        return self.window >= 0

    @property
    def scored_windows(self) -> np.ndarray:
        """Which windows have at least one row after the probationary period."""
        present = np.zeros(self.n_windows, dtype=bool)
        present[self.window[self.scored & self.in_window]] = True
        return present

    def weighted(self, profile: Profile) -> np.ndarray:
        """Each row's score if it were a detection, under ``profile``."""
        return np.where(self.in_window, self.reward * (profile.tp_weight / EARLIEST_REWARD),
                        self.reward * profile.fp_weight)

    @classmethod
    def from_timestamps(cls, name: str, timestamps, windows, fraction: float = PROBATION_FRACTION) -> "SeriesLayout":
        """Lay out a series whose rows have ``timestamps`` (in order) with windows ``[(start, end), ...]``.

        NAB requires window limits to be timestamps of the series; a limit that is not one is an error.
        """
        times = pd.to_datetime(pd.Series(timestamps)).to_numpy()
        n = times.size
        limits = np.array([[np.datetime64(pd.Timestamp(start)), np.datetime64(pd.Timestamp(end))]
                           for start, end in windows], dtype="datetime64[ns]").reshape(-1, 2)
        order = np.argsort(limits[:, 0], kind="stable")
        limits = limits[order]
        rows = np.searchsorted(times, limits.ravel()).reshape(-1, 2)
        if limits.size and (np.any(rows >= n) or np.any(times[np.minimum(rows, n - 1)] != limits)):
            raise ValueError(f"{name}: a window limit is not a timestamp of the series")
        starts, ends = rows[:, 0], rows[:, 1]
        index = np.arange(n)
        # the last window starting at or before each row: the row is in it, or after it
        latest = np.searchsorted(starts, index, side="right") - 1
        has_latest = latest >= 0
        safe = np.maximum(latest, 0)
        inside = has_latest & (index <= ends[safe] if ends.size else False)
        width = (ends - starts + 1).astype(float)
        if ends.size:
            in_position = -(ends[safe] - index + 1) / width[safe]
            # a one-row window leaves no width to measure the distance by: count its FPs in full
            past_position = np.where(width[safe] > 1, (index - ends[safe]) / np.maximum(width[safe] - 1, 1),
                                     np.inf)
        else:
            in_position = past_position = np.zeros(n)
        reward = np.where(inside, scaled_sigmoid(in_position),
                          np.where(has_latest, scaled_sigmoid(past_position), -1.0))
        return cls(name=name, window=np.where(inside, latest, -1), reward=reward,
                   scored=index >= probationary_length(n, fraction), n_windows=int(starts.size))


def _window_totals(window: np.ndarray, weighted: np.ndarray, detected: np.ndarray, n_windows: int,
                   scored_windows: np.ndarray, profile: Profile) -> float:
    """Best reward of each scored window (its earliest detection) or its miss cost, summed."""
    best = np.full(n_windows, -profile.fn_weight)
    hits = detected & (window >= 0)
    np.maximum.at(best, window[hits], weighted[hits])
    return float(best[scored_windows].sum())


def series_score(layout: SeriesLayout, anomaly_scores, profile: Profile, threshold: float) -> float:
    """Raw NAB score of one series when rows scoring at or above ``threshold`` are detections."""
    scores = np.asarray(anomaly_scores, dtype=float)
    if scores.size != layout.n_rows:
        raise ValueError(f"{layout.name}: {scores.size} anomaly scores for {layout.n_rows} rows")
    weighted = layout.weighted(profile)
    detected = layout.scored & (scores >= threshold)
    false_alarms = float(weighted[detected & ~layout.in_window].sum())
    return false_alarms + _window_totals(layout.window, weighted, detected, layout.n_windows,
                                         layout.scored_windows, profile)


def null_score(layouts, profile: Profile) -> float:
    """Raw score of a detector that flags nothing: every scored window missed."""
    return -profile.fn_weight * sum(int(layout.scored_windows.sum()) for layout in layouts)


def perfect_score(layouts, profile: Profile) -> float:
    """Raw score NAB gives a perfect detector: ``tp_weight`` per labelled window."""
    return profile.tp_weight * sum(layout.n_windows for layout in layouts)


def normalised(raw: float, layouts, profile: Profile) -> float:
    """``raw`` on NAB's scale: 0 = the null detector, 100 = a perfect one."""
    null = null_score(layouts, profile)
    return 100.0 * (raw - null) / (perfect_score(layouts, profile) - null)


def corpus_score(layouts, anomaly_scores: dict, profile: Profile, threshold: float) -> dict[str, float]:
    """Raw score of each series at one threshold, keyed by series name."""
    return {layout.name: series_score(layout, anomaly_scores[layout.name], profile, threshold)
            for layout in layouts}


def sweep(layouts, anomaly_scores: dict, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """Total raw score over the corpus at every candidate threshold, as NAB's optimiser sweeps them.

    Returns ``(thresholds, totals)``: the thresholds in decreasing order, starting with
    :data:`NO_DETECTION_THRESHOLD`, then every distinct anomaly score of a scored row.
    """
    scores, weighted, window, offset, scored_windows = [], [], [], 0, []
    for layout in layouts:
        keep = layout.scored
        scores.append(np.asarray(anomaly_scores[layout.name], dtype=float)[keep])
        weighted.append(layout.weighted(profile)[keep])
        # windows numbered across the corpus, so that each keeps its own reward
        window.append(np.where(layout.window[keep] >= 0, layout.window[keep] + offset, -1))
        scored_windows.append(layout.scored_windows)
        offset += layout.n_windows
    scores, weighted, window = np.concatenate(scores), np.concatenate(weighted), np.concatenate(window)
    n_scored_windows = int(np.concatenate(scored_windows).sum()) if scored_windows else 0

    order = np.argsort(-scores, kind="stable")  # highest score first: lowering the threshold adds rows
    scores, weighted, window = scores[order], weighted[order], window[order]
    outside = window < 0
    gain = np.where(outside, weighted, 0.0)
    # a window's value rises each time a detection with a higher reward (an earlier row) joins it
    inside = np.flatnonzero(~outside)
    if inside.size:
        running_best = (pd.Series(weighted[inside]).groupby(window[inside]).cummax()
                        .clip(lower=-profile.fn_weight).to_numpy())
        previous = (pd.Series(running_best).groupby(window[inside]).shift(1)
                    .fillna(-profile.fn_weight).to_numpy())
        gain[inside] = running_best - previous
    totals = -profile.fn_weight * n_scored_windows + np.cumsum(gain)
    # a threshold includes every row with that score: read the total after the last of them
    last_of_value = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    thresholds = np.r_[NO_DETECTION_THRESHOLD, scores[last_of_value]]
    totals = np.r_[-profile.fn_weight * n_scored_windows, totals[last_of_value]]
    return thresholds, totals


def best_threshold(layouts, anomaly_scores: dict, profile: Profile) -> tuple[float, float]:
    """NAB's optimiser: the threshold with the highest corpus total (the highest such threshold on
    ties) and that total."""
    thresholds, totals = sweep(layouts, anomaly_scores, profile)
    best = int(np.argmax(totals))
    return float(thresholds[best]), float(totals[best])


def read_detector_results(results_dir, detector: str, names) -> dict[str, np.ndarray]:
    """Anomaly scores of one of NAB's published detectors (``results/<detector>/<group>/<detector>_<file>``)."""
    scores = {}
    for name in names:
        group, file = name.split("/")
        frame = pd.read_csv(Path(results_dir) / detector / group / f"{detector}_{file}",
                            usecols=["anomaly_score"], float_precision="round_trip")
        scores[name] = frame["anomaly_score"].to_numpy(dtype=float)
    return scores


def load_layouts(nab_dir, names=None) -> list[SeriesLayout]:
    """Layouts of NAB's series (all of them, or ``names`` as ``group/file.csv``), from the data and labels."""
    nab_dir = Path(nab_dir)
    windows = load_windows(nab_dir / "labels" / "combined_windows.json")
    layouts = []
    for name in sorted(windows) if names is None else names:
        timestamps = pd.read_csv(nab_dir / "data" / name, usecols=["timestamp"])["timestamp"]
        layouts.append(SeriesLayout.from_timestamps(name, timestamps, windows[name]))
    return layouts

"""Helpers for the AppTest-based page tests: start the app, load data, train."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
PAGE = {name: f"../pages/{name}.py" for name in ("data", "train", "results", "export")}


def start(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    if page:
        at.switch_page(PAGE[page]).run()
    return at


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def labelled_rows(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Two features, 10% anomalies far from the normal cloud, label column ``label`` (0 = normal)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    label = np.zeros(n, dtype=int)
    label[: n // 10] = 1
    X[: n // 10] += rng.choice([-6.0, 6.0], size=(n // 10, 2))
    return pd.DataFrame({"a": X[:, 0].round(4), "b": X[:, 1].round(4), "label": label})


def spiked_series(n: int = 400, spike_at: int = 300):
    """A prepared one-reading-a-minute sine series, labelled, with a 5-step spike at ``spike_at``."""
    from core.data import Roles, prepare

    values = np.sin(np.arange(n) / 6.0)
    label = np.zeros(n, int)
    values[spike_at:spike_at + 5] += 6
    label[spike_at:spike_at + 5] = 1
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=n, freq="min").astype(str), "v": values,
                          "label": label})
    return prepare(frame, Roles(time="t", label="label", normal_value=0))


def upload(at: AppTest, name: str, content: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="data_upload").set_value((name, content, mime))
    return at.run()


def load_sample(at: AppTest, file_name: str) -> AppTest:
    box = at.selectbox(key="data_sample")
    box.select_index(next(i for i, option in enumerate(box.options) if option.startswith(file_name)))
    at.run()
    at.button(key="data_sample_load").click()
    return at.run()


def train(at: AppTest, family: str = "statistical", method: str = "zscore") -> AppTest:
    at.switch_page(PAGE["train"]).run()
    at.radio(key="train_family").set_value(family).run()
    at.selectbox(key=f"train_method_{family}").set_value(method).run()
    at.button(key="train_start").click().run()
    wait_for_run(at)
    # the app switched pages itself; tell AppTest, which reruns the page it was last asked for
    return at.switch_page(PAGE["results"]).run()


def wait_for_run(at: AppTest, seconds: float = 120) -> AppTest:
    """Rerun until the background training job has ended and its result is stored."""
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        if "ad_job" not in at.session_state:  # finished: stored, cancelled or failed
            break
        time.sleep(0.1)
        at.run()
    return at


def shown(markdown: str) -> str:
    """The text a reader sees in a markdown element: the pages escape names and messages
    (backslash before punctuation, see ``dashboard.ui.plain``), which the reader never sees."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


def no_crash(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def widget(at: AppTest, kind: str, prefix: str):
    """The widget of type ``kind`` (e.g. "selectbox") whose key starts with ``prefix``."""
    found = [w for w in getattr(at, kind) if w.key and w.key.startswith(prefix)]
    assert found, f"no {kind} with a key starting with {prefix!r}"
    return found[0]

"""Shared UI pieces: friendly error display, cached parsing, navigation links, number formatting."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data import read_table
from core.errors import BundleError, CoreError

ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "pages"
DATA_DIR = ROOT / "data"
log = logging.getLogger("dashboard")


#: ASCII punctuation: any of it may start markdown syntax (links, emphasis, code, math, icons, colours).
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(text) -> str:
    """``text`` (a file or column name, a message quoting one) escaped so Streamlit's markdown
    shows it exactly as written: every punctuation mark is backslash-escaped (CommonMark) and line
    breaks become spaces, so a name like ``[x](javascript:…) **b**`` is neither a link nor bold."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", re.sub(r"[\r\n\t]+", " ", str(text)))


class Outcome:
    """What :func:`friendly_errors` saw: ``failed`` is true when an error was shown."""

    failed = False


class friendly_errors:
    """Context manager: show errors as a short message, never a traceback.

    Errors raised on purpose by :mod:`core` carry a message written for people and are shown as
    they are; anything else is logged with its traceback on the server and shown as a short,
    generic message naming the step that failed.
    """

    def __init__(self, doing: str, container=None):
        self.doing = doing
        self.container = container if container is not None else st
        self.outcome = Outcome()

    def __enter__(self) -> Outcome:
        return self.outcome

    def __exit__(self, kind, error, tb) -> bool:
        if error is None or not isinstance(error, Exception):
            return False  # no error, or Streamlit's own control flow (rerun / stop): let it pass
        self.outcome.failed = True
        show_error(error, self.doing, self.container)
        return True


def show_error(error: Exception, doing: str, container=None) -> None:
    container = container if container is not None else st
    if isinstance(error, (CoreError, BundleError)):
        container.error(plain(error), icon=":material/error:")  # messages quote file and column names
        return
    log.exception("Unexpected error while %s", doing)
    detail = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    container.error(f"Something went wrong while {doing}: {plain(detail)}. "
                    "Check the file and the settings, then try again.", icon=":material/error:")


# ------------------------------------------------------------------------------------------------
# Parsing, cached by content (bytes) or by path + size + modification time
# ------------------------------------------------------------------------------------------------
def digest_bytes(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


#: Files up to this size are parsed once and shared through ``st.cache_data`` (the bundled samples,
#: typical uploads). Larger ones are parsed each time they are loaded and kept in the session only:
#: the cache would hold a pickled second copy of the table and hand out a third on every hit.
CACHE_LIMIT_BYTES = 32 * 2**20


def parse_bytes(data: bytes, filename: str) -> pd.DataFrame:
    """Parse uploaded bytes; a small file is cached on its content so that re-runs do not parse it again."""
    if len(data) > CACHE_LIMIT_BYTES:
        return read_table(data, filename=filename)
    return _parse_small_bytes(data, filename)


@st.cache_data(show_spinner="Reading the file…", max_entries=6)
def _parse_small_bytes(data: bytes, filename: str) -> pd.DataFrame:
    return read_table(data, filename=filename)


#: Ceiling (MiB) of the uploaders other than the Data page's: model bundles, and the file the Export
#: page scores, which are read again on every run with the runtime's copies of the bytes alive.
#: The server's ``server.maxUploadSize`` is set for the Data page, whose upload is held once.
OTHER_UPLOAD_LIMIT_MB = 1024


def take_uploaded_bytes(file) -> bytes:
    """An uploaded file's bytes, with every other holder of them in this process let go.

    Call it from the uploader's ``on_change`` callback, which runs before the uploader is drawn.
    The runtime keeps an upload twice over: its uploaded-file manager holds the bytes for the whole
    session, and the widget's value (``file`` here, which shares them) stays cached in the session's
    widget state; each run that draws the uploader then hands the page a deep copy of that value,
    which is a private copy of the bytes. Here the manager's bytes object itself is taken (no copy),
    the cached value is emptied (so the uploader's copy of it is empty too) and the file is removed
    from the manager: the caller holds the only reference, and the bytes go when it drops them.
    The uploader still shows the file's name; on later runs it reads as empty.
    """
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    data = file.getvalue()  # a BytesIO made from bytes shares them: this is the manager's object
    file.seek(0)
    file.truncate()  # the widget's cached value lets go of them
    ctx = get_script_run_ctx()
    if ctx is not None and isinstance(ctx.uploaded_file_mgr, MemoryUploadedFileManager):
        ctx.uploaded_file_mgr.remove_file(session_id=ctx.session_id, file_id=file.file_id)
    return data


@st.cache_data(show_spinner="Reading the file…", max_entries=6)
def _parse_path(path: str, size: int, mtime: float) -> pd.DataFrame:
    return read_table(path)


def parse_path(path: str) -> tuple[pd.DataFrame, str]:
    """Parse a local file; the cache key includes size and modification time so edits are seen."""
    clean = os.path.expanduser(path.strip().strip('"').strip("'"))
    if not clean:
        raise CoreErrorMessage("Type the path of a CSV or Parquet file on this machine.")
    p = Path(clean)
    if not p.exists():
        raise CoreErrorMessage(f"File not found: '{clean}'. Check the path (it is read on the server).")
    if p.is_dir():
        raise CoreErrorMessage(f"'{clean}' is a folder; give the path of a CSV or Parquet file in it.")
    stat = p.stat()
    if stat.st_size > CACHE_LIMIT_BYTES:
        frame = read_table(str(p.resolve()))
    else:
        frame = _parse_path(str(p.resolve()), stat.st_size, stat.st_mtime)
    return frame, hashlib.sha1(f"{p.resolve()}|{stat.st_size}|{stat.st_mtime}".encode()).hexdigest()


class CoreErrorMessage(CoreError):
    """A user-facing message raised by the dashboard itself."""


def sample_files() -> list[Path]:
    return sorted(DATA_DIR.glob("*.csv")) + sorted(DATA_DIR.glob("*.parquet"))


# ------------------------------------------------------------------------------------------------
# Navigation
# ------------------------------------------------------------------------------------------------
def page_path(name: str) -> str:
    return str(PAGES_DIR / f"{name}.py")


def link(name: str, label: str, icon: str | None = None) -> None:
    """A link to another page (``name`` = file name in pages/ without .py)."""
    try:
        st.page_link(page_path(name), label=label, icon=icon)
    except Exception:  # outside the router (a page run on its own in tests): plain text instead
        st.markdown(f"**{label}**")


def go(name: str) -> None:
    st.switch_page(page_path(name))


# ------------------------------------------------------------------------------------------------
# Formatting
# ------------------------------------------------------------------------------------------------
def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 feature``, ``2 features``, ``1,000 rows``: a number with its noun agreeing."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


_STEP_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def reading_interval(step) -> str:
    """A time step in words: ``a minute``, ``every 5 minutes``, ``every 1.5 seconds``, ``every 90 ms``."""
    total = pd.Timedelta(step).total_seconds()
    if total <= 0:
        return "no time between readings"
    if total < 1:
        return f"every {total * 1000:g} ms"
    for unit, size in _STEP_UNITS:
        if total >= size:
            amount = total / size
            if amount == 1:
                return f"an {unit}" if unit == "hour" else f"a {unit}"
            if float(amount).is_integer() or unit == "second":
                return f"every {amount:g} {unit}s"
    return f"every {total:g} seconds"


def training_estimate(spec, params: dict, dataset, options: dict) -> None:
    """Say before training starts about how long a deep model will take (nothing for other methods).

    The training part's size follows the chosen split; the estimate itself is
    :func:`core.detectors.deep_common.estimate_training_seconds` (idle machine, time budget included).
    """
    from core.detectors.deep_common import describe_seconds, estimate_training_seconds

    n_rows = dataset.n_rows
    if options.get("split") == "random":
        n_train = int(n_rows * (1.0 - float(options.get("test_size", 0.0))))
    elif options.get("train_range") is not None:
        start, end = options["train_range"]
        try:
            n_train = int(((dataset.time >= start) & (dataset.time <= end)).sum())
        except TypeError:  # times with a zone against a range without one: count the whole series
            n_train = n_rows
    else:
        n_train = int(n_rows * float(options.get("train_fraction", 1.0)))
    seconds = estimate_training_seconds(spec.name, {**spec.defaults(), **params}, n_train,
                                        len(dataset.feature_names), n_rows - n_train)
    if seconds is not None:
        budget = float(params.get("time_budget", 0.0) or 0.0)
        capped = " (training keeps to the time budget)" if budget > 0 and seconds >= budget else ""
        st.caption(f":material/timer: Training and scoring take {describe_seconds(seconds)} on an idle "
                   f"2-core machine{capped}; longer when the machine is busy.")

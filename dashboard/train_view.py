"""Train page: pick a method, set its parameters and the training data, train with live progress."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.registry import get_method, list_methods
from core.thresholds import PARAMETERS
from dashboard import batch_view, charts, state, suggest_view
from dashboard.jobs import TrainingJob, current_session_id
from dashboard.ui import count, friendly_errors, go, link, plain, seconds, training_estimate

FAMILIES = {
    "statistical": ("Statistical", "Fast, transparent, per-feature rules (z-score, IQR, rolling median)."),
    "classical": ("Classical ML", "scikit-learn detectors: forests, neighbours, kernels, PCA."),
    "deep": ("Deep learning", "Autoencoders that learn to reconstruct normal data (PyTorch / TensorFlow)."),
    "ensemble": ("Ensembles", "Several methods trained together, their scores combined."),
}
#: The method a newcomer finds selected, per family. k-nearest neighbours at its default threshold
#: has the best or nearly the best F1 of every method on the bundled sensor sample (0.83),
#: ECG5000 (0.97) and the heartbeat sample, and is among the best on NAB, so it opens the page.
DEFAULT_FAMILY = "classical"
DEFAULT_METHODS = {"statistical": "zscore", "classical": "knn"}
THRESHOLD_CHOICES = {
    "default": "Method's default",
    "mean_std": "Mean + k·std of training scores",
    "percentile": "Percentile of training scores",
    "contamination": "Contamination (expected share of anomalies)",
    "best_f1": "Best F1 on labelled validation rows",
}


def render() -> None:
    st.title("Train")
    st.caption("Choose a detection method, train it on the normal part of the data and score every row.")
    prepared = state.prepared()
    job: TrainingJob | None = state.job()
    if prepared is None and job is None:
        st.info("Load data and set its columns first.", icon=":material/table_chart:")
        link("data", "Go to the Data page", icon=":material/arrow_back:")
        return
    if job is not None and job.done:  # it ended while this session was on another page
        _finish(job, open_results=False)
        job = None
    if job is not None:
        st.subheader(f"Training {state.job_settings().get('label', job.method)}")
        _follow(job)  # returns only by switching pages or rerunning
        return
    batch = state.batch()
    if batch is not None and not batch.running:
        batch_view.finish(batch)
        batch = None
    if batch is not None:
        st.subheader("Training several methods")
        batch_view.follow(batch)
        return
    message = state.notice()
    if message:
        getattr(st, message[0])(message[1])
    dataset = prepared.dataset
    for doubt in dataset.doubts:  # a doubtful label column (continuous, many values, implausible share)
        st.warning(plain(doubt), icon=":material/warning:")
    suggest_view.render(prepared)
    spec = _method_picker(dataset)
    params = _params(spec)
    options = _training_data(dataset, spec)
    options["threshold"] = _threshold(dataset, spec)
    options["calibration"] = _calibration()
    device_line = st.empty()  # filled last: loading PyTorch must not hold back the button below
    if dataset.n_rows < FEW_ROWS:
        st.warning(f"This table has only {count(dataset.n_rows, 'row')}. A model learns what normal looks like "
                   "from many rows (hundreds or more), and the test part needs some too: load more data "
                   "before trusting any flag.", icon=":material/warning:")
    training_estimate(spec, params, dataset, options)
    disabled = spec.supervised and dataset.y is None
    if disabled:
        st.warning(f"{spec.label} is supervised: set a label column on the Data page first.", icon=":material/warning:")
    if st.button(f"Train {spec.label}", type="primary", icon=":material/play_arrow:", disabled=disabled,
                 key="train_start"):
        _preload(spec)
        job = TrainingJob(dataset, spec.name, params, **options)
        state.start_job(job, {"method": spec.name, "label": spec.label, "params": params, **options})
        job.start(current_session_id())
        if spec.family == "deep":
            st.rerun()  # epochs, a loss curve and Cancel: followed by _follow in the next run
        with st.spinner(f"Training {spec.label}…"):  # no epochs to show and nothing to cancel between
            job.wait()
        _finish(job, open_results=True)
        st.rerun()
    batch_view.render(dataset, options, _preload)
    run = state.run()
    if run is not None:
        st.divider()
        st.caption(f"Last trained: {run.spec.label} on {plain(run.table_name)}.")
        if (window := run.pipeline.window_note()) is not None:
            st.caption(f":material/straighten: {window[0].upper()}{window[1:]}.")
        link("results", "Open its results", icon=":material/insights:")
    batch_view.runs_list(dataset, options)
    with device_line.container():
        _device(spec)


# ------------------------------------------------------------------------------------------------
def _method_picker(dataset):
    st.subheader("Method")
    families = [f for f in FAMILIES if list_methods(family=f)]
    family = st.radio("Family", families, format_func=lambda f: FAMILIES[f][0], horizontal=True,
                      index=families.index(DEFAULT_FAMILY) if DEFAULT_FAMILY in families else 0,
                      captions=[FAMILIES[f][1] for f in families], key="train_family", label_visibility="collapsed")
    methods = list_methods(family=family)
    default = DEFAULT_METHODS.get(family)
    names = [m.name for m in methods]
    method = st.selectbox("Method", names, index=names.index(default) if default in names else 0,
                          format_func=lambda n: get_method(n).label, key=f"train_method_{family}")
    spec = get_method(method)
    tags = []
    if spec.input_kind == "windows":
        tags.append("time series (sliding windows)")
    if spec.supervised:
        tags.append("supervised: needs labels")
    if spec.reconstruction:
        tags.append("shows reconstructions")
    if spec.heavy_framework:
        tags.append(f"uses {'PyTorch' if spec.heavy_framework == 'torch' else 'TensorFlow'}")
    st.markdown(f"{spec.description}  \n" + " ".join(f"`{t}`" for t in tags))
    if spec.input_kind == "windows" and not dataset.is_series:
        st.caption(":material/info: No time column is set: the rows are used in file order as a series.")
    return spec


def _params(spec) -> dict:
    params = {}
    if not spec.params:
        return params
    with st.expander(f"Parameters ({len(spec.params)})", expanded=False):
        cols = st.columns(3)
        for i, p in enumerate(spec.params):
            key = f"param_{spec.name}_{p.name}"
            label = p.plain_label
            with cols[i % 3]:
                if p.kind == "bool":
                    params[p.name] = st.checkbox(label, value=bool(p.default), help=p.help, key=key)
                elif p.kind == "methods":
                    # other methods, picked by name; deep ones only from Python, since here their
                    # framework would first load on the training thread (see _preload)
                    from core.registry import can_join_ensemble, parse_method_list

                    names = [m.name for m in list_methods() if can_join_ensemble(m) and not m.heavy_framework]
                    default = [name for name, _ in parse_method_list(p.default)]
                    picked = st.multiselect(label, names, default=default, help=p.help, key=key,
                                            format_func=lambda n: get_method(n).label)
                    params[p.name] = " + ".join(picked)
                elif p.kind == "choice":
                    choices = list(p.choices)
                    params[p.name] = st.selectbox(label, choices, index=choices.index(p.default), help=p.help, key=key)
                elif p.kind == "int":
                    params[p.name] = int(st.number_input(
                        label, value=int(p.default), step=1, help=p.help, key=key,
                        min_value=int(p.low) if p.low is not None else None,
                        max_value=int(p.high) if p.high is not None else None))
                else:
                    params[p.name] = float(st.number_input(
                        label, value=float(p.default), help=p.help, key=key, format="%g",
                        min_value=float(p.low) if p.low is not None else None,
                        max_value=float(p.high) if p.high is not None else None,
                        step=float(p.default) / 10 if p.default else 0.01))
    return params


def _training_data(dataset, spec) -> dict:
    st.subheader("Training data")
    chronological = dataset.is_series or spec.input_kind == "windows"
    if dataset.y is not None and not spec.supervised:
        note = "Only rows labelled normal in the training part are used to fit the model."
        if spec.input_kind == "windows":
            note = "Window methods need a contiguous series: the whole training range is used."
        st.caption(f":material/info: {note}")
    elif dataset.y is None:
        st.caption(":material/info: No labels: the model is fitted on every training row, assumed mostly normal.")
    if not chronological:
        c1, c2 = st.columns(2)
        test_size = c1.slider("Test part", 0.05, 0.5, 0.2, 0.05, key="train_test_size", format="%.2f",
                              help="Share of rows held out (randomly) to measure the model. S1 uses 0.2.")
        seed = c2.number_input("Split seed", 0, 2**31 - 1, 21, key="train_seed",
                               help="Same seed, same split: results are reproducible.")
        return {"test_size": float(test_size), "seed": int(seed), "split": "random"}
    modes = ["fraction", "range"] if dataset.is_series else ["fraction"]
    picked = state.get(state.TRAIN_RANGE)
    if picked is not None and st.session_state.get("train_mode_pending"):
        st.session_state["train_mode"] = "range"
        st.session_state.pop("train_mode_pending")
    mode = st.radio("Train on", modes, horizontal=True, key="train_mode",
                    format_func={"fraction": "the first part of the series", "range": "a time range"}.get)
    if mode == "fraction":
        percent = st.slider("Training part (% of the series, from its start)", 10, 90, 60, 5, key="train_fraction",
                            help="The model learns from the beginning of the series and is tested on the rest.")
        return {"train_fraction": percent / 100.0, "split": "chronological"}
    low, high = dataset.time.iloc[0].to_pydatetime(), dataset.time.iloc[-1].to_pydatetime()
    default = (low, low + (high - low) * 0.5)
    if picked is not None:
        default = (max(low, pd.Timestamp(picked[0]).to_pydatetime()), min(high, pd.Timestamp(picked[1]).to_pydatetime()))
        st.caption(":material/check: Range taken from your selection on the Results page.")
    if st.session_state.get("train_range_value") is None or picked is not None:
        st.session_state["train_range_value"] = default
        st.session_state.pop(state.TRAIN_RANGE, None)
    start, end = st.slider("Normal training range", min_value=low, max_value=high, key="train_range_value",
                           format="YYYY-MM-DD HH:mm")
    return {"train_range": (pd.Timestamp(start), pd.Timestamp(end)), "split": "chronological"}


def _default_rule(spec) -> str | None:
    """The method's default threshold rule in words ("mean + 3·std"), without loading a deep
    learning framework just to say it."""
    if spec.heavy_framework:
        return None
    from core.thresholds import make_threshold

    return make_threshold(spec.load_class().default_threshold).describe()


def _threshold(dataset, spec):
    rule = _default_rule(spec)
    labels = {**THRESHOLD_CHOICES, "default": f"Method's default ({rule})" if rule else THRESHOLD_CHOICES["default"]}
    with st.expander("Threshold", expanded=False):
        choices = [k for k in THRESHOLD_CHOICES if k != "best_f1" or dataset.y is not None]
        name = st.selectbox("How to choose it", choices, format_func=labels.get, key="train_threshold",
                            help="You can move the threshold freely on the Results page afterwards.")
        if name in PARAMETERS:  # one parameter, its range and default from core.thresholds
            p = PARAMETERS[name]
            return {"strategy": name, p.name: st.number_input(p.label, p.low, p.high, p.default, p.step,
                                                              key=f"train_thr_{p.name}", format="%g")}
        if name == "best_f1":
            st.caption("A quarter of the training part is held out to choose it.")
            return "best_f1"
    return None


def _calibration() -> str | None:
    """The anomaly-likelihood calibration of the scores, or none (see core.calibration)."""
    with st.expander("Calibration", expanded=False):
        chosen = st.checkbox(
            "Score how unlikely the latest scores are (anomaly likelihood)", key="train_calibration",
            help="The method's scores become 0..1: how unusual the average of the latest scores is given the "
                 "scores before them, and 1 for a value beyond any seen so far. Flagged above 0.5 (about one "
                 "in 100,000). Suits series that keep arriving; the model keeps learning as it scores.")
    return "likelihood" if chosen else None


def _preload(spec) -> None:
    """Import the method's framework here, in the page's thread, before training starts on another.

    Importing TensorFlow/Keras for the first time on a background thread while Streamlit keeps
    running scripts on this one can leave Keras half initialised; once imported, both are safe.
    """
    if spec.heavy_framework is None:
        return
    with st.spinner(f"Loading {'TensorFlow' if spec.heavy_framework == 'tensorflow' else 'PyTorch'}…"):
        spec.load_class()  # the detector's module
        if spec.heavy_framework == "tensorflow":
            from core.detectors.keras_dense import _keras

            _keras()
        else:
            from core.device import load_torch

            load_torch()


def _device(spec) -> None:
    if not spec.heavy_framework:
        return
    key = "ad_device_text"
    if key not in st.session_state:
        with st.spinner("Loading PyTorch to find the compute device…"):
            try:
                from core.device import describe_device

                st.session_state[key] = describe_device("auto")
            except Exception:
                st.session_state[key] = "cpu"
    framework = "TensorFlow (loads on first use)" if spec.heavy_framework == "tensorflow" else "PyTorch"
    st.caption(f":material/memory: Device: **{st.session_state[key]}** · {framework}")


# ------------------------------------------------------------------------------------------------
#: How often the progress of a running training is redrawn.
FOLLOW_SECONDS = 0.3


def _follow(job: TrainingJob) -> None:
    """Draw the progress of a running job until it ends, then open its results.

    The wait runs in the page's own script run, and the switch to the Results page is made by that
    same run once the job has ended: nothing depends on the browser asking again in time (a timed
    fragment's late tick, sent while the page switched, could blank the Results page on a busy
    machine). Cancel, or a click on another page, makes Streamlit stop this run at its next redraw
    and start a new one; the training thread carries on until it is cancelled or done.
    """
    if st.button("Cancel", icon=":material/stop:", key="train_cancel") or job.stop_event.is_set():
        job.cancel()
        st.caption("Cancelling after the current epoch…")
    bar, curve = st.empty(), st.empty()
    waits = _browser_can_interrupt()
    if waits:
        with st.sidebar:  # a waiting run never reaches the router's own sidebar: draw it now, not greyed
            from dashboard.sidebar import render as render_sidebar

            render_sidebar()
    drawn = -1
    while not job.done:
        progress = list(job.progress)
        with friendly_errors("following the training"):
            _draw_bar(bar, progress, job.elapsed)
            if len(progress) != drawn and progress:
                drawn = len(progress)
                curve.plotly_chart(charts.loss_curves(_history(progress)), width="stretch")
        if not waits:
            return
        job.wait(FOLLOW_SECONDS)  # wakes as soon as the job is done
    _finish(job, open_results=True)
    st.rerun()


#: Fewer rows than this and the page says a model cannot learn much from them.
FEW_ROWS = 50


def _small_data_advice(dataset) -> str:
    """What to do when a training failed on a tiny table (the error alone names only the limit)."""
    rows = getattr(dataset, "n_rows", None)
    if rows is None or rows >= FEW_ROWS:
        return ""
    return (f" The table has {count(rows, 'row')} in all, split into a training and a test part: load a "
            "larger file (hundreds of rows), or give the training part a larger share.")


def _browser_can_interrupt() -> bool:
    """Whether this run is served to a browser, whose clicks stop a waiting run and start a new one.

    Streamlit's AppTest runs pages against a stand-in runtime that cannot interrupt a run: there
    the progress is drawn once and each later run draws it again.
    """
    from streamlit.runtime import Runtime

    return Runtime.exists() and type(Runtime.instance()) is Runtime


def _finish(job: TrainingJob, open_results: bool) -> None:
    """Store a finished job's result, or say why there is none.

    ``open_results`` switches to the Results page (from a full run of the page, never from a
    fragment); otherwise the Train page shows the outcome with a link to the results.
    """
    settings = state.job_settings()
    state.end_job()
    if job.cancelled:
        state.notice("Training was cancelled. Change the settings and start again when ready.", "warning")
    elif job.error:
        state.notice(job.error + _small_data_advice(job.dataset), "error")
    elif job.result is not None:
        state.add_run(job.result, settings, job_id=job.id)
        state.notice(f"Trained {settings.get('label', job.method)} in {seconds(job.result.fit_seconds)}.")
        if open_results:
            try:
                go("results")
            except StreamlitAPIException:  # the page runs outside the router (tests)
                pass


def _history(progress) -> dict:
    return {"train_loss": [p[2] for p in progress if p[2] is not None],
            "val_loss": [p[3] for p in progress if p[3] is not None]}


def _draw_bar(slot, progress, elapsed: float) -> None:
    if not progress:
        slot.progress(0.0, text=f"Training… {elapsed:.0f} s")
        return
    epoch, total, train_loss, val_loss = progress[-1]
    text = f"Epoch {epoch}/{total}"
    if train_loss is not None:
        text += f" · training loss {train_loss:.4g}"
    if val_loss is not None:
        text += f" · validation loss {val_loss:.4g}"
    slot.progress(min(1.0, epoch / max(1, total)), text=text + f" · {elapsed:.0f} s")

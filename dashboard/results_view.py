"""Results page: metrics, a live threshold, and why each row or event was flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import DataError
from core.thresholds import apply_threshold
from dashboard import charts, state, verdicts_view
from dashboard.compute import STRATEGY_CHOICES, strategy_threshold
from dashboard.results_model import ResultContext, strategy_names, threshold_figures
from dashboard.ui import friendly_errors, go, link, plain, seconds

DRAG_ZOOM, DRAG_SELECT = "Zoom in", "Pick a normal range for training"
SCORES_TAB, CURVES_TAB, RESULT_TABS = "Scores", "Confusion matrix and curves", "res_tabs"
CARDS = [("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"), ("accuracy", "Accuracy"),
         ("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC")]


def render() -> None:
    st.title("Results")
    run = state.run()
    if run is None:
        st.info("Nothing trained yet. Train a model to see how it separates normal and anomalous rows.",
                icon=":material/insights:")
        link("train", "Go to the Train page", icon=":material/model_training:")
        return
    message = state.notice()
    if message:
        getattr(st, message[0])(message[1])
    ctx = context(run)
    if ctx is None:
        return
    _header(run)
    threshold_section(run)  # holds the row explanation too, so its verdict follows the threshold
    verdicts_view.panel(run)
    _training_section(run)


def context(run: state.Run) -> ResultContext | None:
    ctx = run.cache.get("context")
    if ctx is None:
        with friendly_errors("preparing the results") as outcome:
            with st.spinner("Preparing the results…"):
                ctx = ResultContext.build(run)
        if outcome.failed:
            return None
        run.cache["context"] = ctx
    return ctx


def _header(run: state.Run) -> None:
    result = run
    parts = [f"**{run.spec.label}** on **{plain(run.table_name)}**",
             f"trained on {int(result.fit_mask.sum()):,} rows, tested on {int(result.test_mask.sum()):,}",
             f"{result.split} split", f"fit {seconds(result.fit_seconds)}", f"device {result.device}"]
    st.markdown(" · ".join(parts))
    for note in result.notes:
        st.caption(f":material/info: {plain(note)}")
    if result.y is None:
        st.info("No label column: there are no precision/recall figures. The scores and flags are still "
                "shown; set a label column on the Data page to measure the model.", icon=":material/label_off:")


# ------------------------------------------------------------------------------------------------
# Threshold and everything that depends on it (a fragment: moving the threshold reruns only this)
# ------------------------------------------------------------------------------------------------
def _keys(run: state.Run) -> dict[str, str]:
    tag = f"{int(run.created * 1000)}"
    return {"strategy": f"thr_strategy_{tag}", "slider": f"thr_slider_{tag}", "number": f"thr_number_{tag}",
            "param": f"thr_param_{tag}", "event": f"thr_events_{tag}", "gap": f"thr_gap_{tag}",
            "drag": f"thr_drag_{tag}", "features": f"thr_features_{tag}", "zoom": f"thr_zoom_{tag}",
            "zoom_box": f"thr_zoom_box_{tag}"}


#: Most sensors drawn at once on the series chart.
MAX_DRAWN_FEATURES = 8


def driving_features(run: state.Run, top: int = 4) -> list[int]:
    """Indices of the features that stand out most at the points flagged at the trained threshold.

    For every flagged point, each feature's distance from its normal mean in normal standard
    deviations; the features with the largest mean distance come first. Without flagged points,
    the first features of the file.
    """
    cached = run.cache.get("driving_features")
    if cached is None:
        names = run.dataset.feature_names
        flagged = np.flatnonzero(apply_threshold(run.scores, run.threshold).astype(bool))
        cached = list(range(len(names)))
        if flagged.size and len(names) > 1:
            if flagged.size > 20_000:
                flagged = flagged[np.linspace(0, flagged.size - 1, 20_000).round().astype(int)]
            mean, std = run.pipeline.normal_profile()
            distance = np.abs(run.dataset.X[flagged] - mean) / np.where(std > 0, std, 1.0)
            cached = [int(i) for i in np.argsort(-np.nanmean(distance, axis=0), kind="stable")]
        run.cache["driving_features"] = cached
    return cached[:top]


def _clip(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high))


@st.fragment
def threshold_section(run: state.Run) -> None:
    # a fragment reruns on its own, outside the router's guard: it needs its own
    with friendly_errors("updating the results"):
        _threshold_section(run)


def _threshold_section(run: state.Run) -> None:
    ctx = run.cache["context"]
    threshold = _threshold_controls(run, ctx)
    st.session_state[state.THRESHOLD] = threshold
    zoom = features = None
    keys = _keys(run)
    if ctx.is_series:
        zoom = st.session_state.get(keys["zoom"]) or st.session_state.get(keys["event"] + "_zoom")
        features = _drawn_features(run, st.session_state.get(keys["features"]))
    gap = int(st.session_state.get(keys["gap"], 0))
    # a dragged box is reported back to the page: it zooms in (at full resolution) or picks a range;
    # only the open tab is drawn (opening the other reruns this fragment): the closed tab's figures
    # were a third of the server's work on every threshold move
    curves_open = ctx.view.labelled and st.session_state.get(RESULT_TABS) == CURVES_TAB
    # the cards go to the browser before the figures are built: it shows them while the charts,
    # its slowest work, are still on their way
    metrics = ctx.view.at(threshold)
    _cards(metrics, ctx.view.at(run.threshold), ctx.view.labelled)
    out = threshold_figures(ctx, threshold, zoom=zoom, min_gap=gap, dragmode="select", features=features,
                            curves=curves_open, metrics=metrics)
    figures = out["figures"]
    if ctx.is_series:
        _series(run, ctx, figures["series"], out["events"], threshold)
    if not ctx.view.labelled:  # without labels there is nothing to put in a confusion matrix: no tab for it
        _score_charts(figures)
        explain_section(run)
        return
    scores_tab, matrix_tab = st.tabs([SCORES_TAB, CURVES_TAB], key=RESULT_TABS, on_change="rerun")
    with scores_tab:
        if scores_tab.open:
            _score_charts(figures)
    with matrix_tab:
        if matrix_tab.open:
            c1, c2, c3 = st.columns(3)
            c1.plotly_chart(figures["confusion"], width="stretch", key="res_confusion")
            if "roc" in figures:
                c2.plotly_chart(figures["roc"], width="stretch", key="res_roc")
                c3.plotly_chart(figures["pr"], width="stretch", key="res_pr")
            else:
                c2.info("The test part holds only one class, so there are no ROC or PR curves.")
    # a fragment inside the fragment: picking a row reruns only the explanation
    explain_section(run)


def _score_charts(figures: dict) -> None:
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures["scatter"], width="stretch", key="res_scatter")
    c2.plotly_chart(figures["histogram"], width="stretch", key="res_hist")


def _threshold_controls(run: state.Run, ctx: ResultContext) -> float:
    keys = _keys(run)
    view = ctx.view
    low, high, step = view.slider_range()
    ss = st.session_state
    if keys["slider"] not in ss:
        ss[keys["strategy"]] = "trained"
        ss[keys["slider"]] = _clip(run.threshold, low, high)
        ss[keys["number"]] = float(run.threshold)

    def to_manual_from_slider():
        ss[keys["strategy"]] = "manual"
        ss[keys["number"]] = float(ss[keys["slider"]])

    def to_manual_from_number():
        ss[keys["strategy"]] = "manual"
        ss[keys["slider"]] = _clip(ss[keys["number"]], low, high)

    st.subheader("Threshold")
    c1, c2, c3, c4 = st.columns([2.2, 1.1, 3.7, 1.8], vertical_alignment="bottom")  # room for 6 digits
    names = strategy_names(ctx)
    strategy = c1.selectbox("Set from", names, key=keys["strategy"], format_func=lambda k: STRATEGY_CHOICES[k][0],
                            help="Pick a rule, or drag the slider to set the threshold by hand.")
    spec = STRATEGY_CHOICES[strategy][1]
    value = None
    if spec is not None:
        pname, plabel, pdefault, plow, phigh, pstep = spec
        value = c2.number_input(plabel, min_value=plow, max_value=phigh, value=pdefault, step=pstep,
                                key=f"{keys['param']}_{strategy}", format="%g")
    else:
        c2.markdown(" ")
    if strategy != "manual":
        try:
            chosen = strategy_threshold(run, strategy, value)
        except DataError as error:
            c1.caption(str(error))
            chosen = run.threshold
        ss[keys["slider"]] = _clip(chosen, low, high)
        ss[keys["number"]] = float(chosen)
    c3.slider("Threshold (flag rows scoring above it)", min_value=low, max_value=high, step=step, key=keys["slider"],
              on_change=to_manual_from_slider, format="%.4g")
    c4.number_input("Exact value", key=keys["number"], on_change=to_manual_from_number, format="%.6g", step=step)
    threshold = float(ss[keys["number"]])
    marks = " · ".join(f"{STRATEGY_CHOICES[k][0].split(' (')[0]}: {v:.4g}" for k, v in ctx.strategies.items())
    st.caption(f"Where each rule puts it: {marks}. Trained with {run.threshold_description}.")
    return threshold


def _cards(metrics: dict, baseline: dict, labelled: bool) -> None:
    n = int(metrics.get("n", ctx_rows(metrics)))
    if not labelled:
        c1, c2 = st.columns(2)
        c1.metric("Flagged test rows", f"{metrics['n_flagged']:,}", f"{metrics['n_flagged'] - baseline['n_flagged']:+,} vs trained"
                  if metrics["n_flagged"] != baseline["n_flagged"] else None, delta_color="off")
        c2.metric("Share flagged", f"{metrics['n_flagged'] / max(1, n):.2%}")
        return
    columns = st.columns(len(CARDS) + 1)
    for column, (key, label) in zip(columns, CARDS):
        value = metrics.get(key)
        delta = None
        if key in ("precision", "recall", "f1", "accuracy") and value is not None:
            diff = value - baseline[key]
            delta = f"{diff:+.3f}" if abs(diff) >= 0.0005 else None
        column.metric(label, "–" if value is None else f"{value:.3f}", delta,
                      help="Threshold-independent ranking quality." if key in ("roc_auc", "pr_auc") else
                      "At the current threshold; the change is against the trained threshold.")
    columns[-1].metric("Flagged", f"{metrics['n_flagged']:,}",
                       help=f"Test rows scoring above the threshold, of {n:,}; {metrics['tp']:,} of them are "
                            "labelled anomalies.")


def ctx_rows(metrics: dict) -> int:
    return int(sum(metrics.get(k, 0) for k in ("tn", "fp", "fn", "tp")))


def _drawn_features(run: state.Run, chosen) -> list[int]:
    """Column indices to draw: the names picked on the page, else the features driving the flags."""
    names = [str(n) for n in run.dataset.feature_names]
    if chosen:
        picked = [names.index(n) for n in chosen if n in names]
        if picked:
            return picked
    return driving_features(run)


def _series(run: state.Run, ctx: ResultContext, figure, events: pd.DataFrame, threshold: float) -> None:
    keys = _keys(run)
    st.subheader("Over time")
    names = [str(n) for n in run.dataset.feature_names]
    if len(names) > 1:
        st.multiselect("Sensors drawn", names, default=[names[i] for i in driving_features(run)],
                       key=keys["features"], max_selections=MAX_DRAWN_FEATURES,
                       help="At first, the features that stand out most at the flagged points.")
    c1, c2 = st.columns([3, 2], vertical_alignment="center")
    c1.caption("Orange: flagged points and detected events · red shading: labelled anomalies · grey: training "
               "range.")
    mode = c2.segmented_control("Dragging on the chart will", [DRAG_ZOOM, DRAG_SELECT], default=DRAG_ZOOM,
                                key=keys["drag"], label_visibility="collapsed")
    state_chart = st.plotly_chart(figure, width="stretch", key=f"res_series_{keys['event']}", on_select="rerun",
                                  selection_mode=("box",))
    box = _box_range(state_chart)
    if box is not None and mode != DRAG_SELECT:
        if st.session_state.get(keys["zoom_box"]) != box:  # a new box: zoom to it, once
            st.session_state[keys["zoom_box"]] = box
            st.session_state[keys["zoom"]] = tuple(pd.Timestamp(v).value / 1e6 for v in box)  # epoch ms, as drawn
            st.rerun(scope="fragment")
        box = None
    zoomed = st.session_state.get(keys["zoom"])
    if zoomed is not None:
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        low, high = (pd.Timestamp(v, unit="ms") for v in zoomed)
        inside = int(np.count_nonzero((ctx.x_axis >= zoomed[0]) & (ctx.x_axis <= zoomed[1])))
        drawn = "every one drawn" if inside <= charts.MAX_SERIES_POINTS else "drawn at full resolution"
        c1.caption(f":material/zoom_in: {low:%Y-%m-%d %H:%M} to {high:%Y-%m-%d %H:%M}: {inside:,} readings, "
                   f"{drawn}.")
        if c2.button("Show the whole series", icon=":material/zoom_out:", key="res_zoom_out"):
            st.session_state.pop(keys["zoom"], None)
            st.rerun(scope="fragment")
    if box is not None:
        start, end = box
        c1, c2 = st.columns([3, 1], vertical_alignment="center")
        c1.info(f"Selected {pd.Timestamp(start):%Y-%m-%d %H:%M} to {pd.Timestamp(end):%Y-%m-%d %H:%M}.")
        if c2.button("Train on this range", icon=":material/model_training:", key="res_use_range"):
            st.session_state[state.TRAIN_RANGE] = (pd.Timestamp(start), pd.Timestamp(end))
            st.session_state["train_mode_pending"] = True
            go("train")
    st.markdown(f"**Events** · {len(events):,} at this threshold")
    c1, _ = st.columns([1, 2])
    c1.number_input("Join events separated by at most (readings)", 0, 10000, key=keys["gap"], step=1,
                    help="Two runs of flagged readings with at most this many unflagged readings between "
                         "them count as one event. 0 keeps every run apart.")
    if len(events) == 0:
        st.caption("No point scores above the threshold.")
        st.session_state.pop(keys["event"] + "_zoom", None)
        return
    table = events.sort_values("peak_score", ascending=False).head(500).copy()
    table["duration"] = [human_duration(d) for d in table["duration"]]
    shown = table[["start", "end", "duration", "length", "peak_score"]].rename(
        columns={"length": "steps", "peak_score": "peak score"})
    selection = st.dataframe(shown, height=220, width="stretch", hide_index=True, on_select="rerun",
                             selection_mode="single-row", key=keys["event"],
                             column_config={"peak score": st.column_config.NumberColumn(format="%.4g")})
    rows = selection.selection.rows if selection is not None else []
    if not rows:
        if st.session_state.pop(keys["event"] + "_zoom", None) is not None:
            st.rerun(scope="fragment")
        st.caption("Select an event to zoom in and see what drove it. The 500 strongest events are listed.")
        return
    event = table.iloc[rows[0]]
    a, b = int(event["start_index"]), int(event["end_index"])
    pad = max(10, (b - a + 1) * 2)
    x = ctx.x_axis
    zoom = (x[max(0, a - pad)], x[min(len(x) - 1, b + pad)])
    if st.session_state.get(keys["event"] + "_zoom") != zoom:
        st.session_state[keys["event"] + "_zoom"] = zoom
        st.rerun(scope="fragment")
    _explain_window(run, a, b, pad)
    verdicts_view.event_verdict(run, a, b)


def human_duration(value) -> str:
    """'29 min', '3 h 10 min', '2 days 4 h' or '0' (a single step) for a Timedelta; steps for a number."""
    if not isinstance(value, pd.Timedelta):
        return f"{int(value)} steps"
    total = int(value.total_seconds())
    if total == 0:
        return "single step"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else "",
             f"{secs} s" if secs and not days else ""]
    return " ".join(p for p in parts if p)


def _box_range(chart_state):
    try:
        boxes = chart_state.selection.get("box") or []
    except AttributeError:
        return None
    if not boxes:
        return None
    xs = boxes[0].get("x") or []
    if len(xs) != 2:
        return None
    try:  # a date axis reports either date strings or epoch milliseconds
        start, end = sorted(pd.Timestamp(v, unit="ms") if isinstance(v, (int, float)) else pd.Timestamp(v) for v in xs)
    except (TypeError, ValueError):
        return None
    return start, end


def _explain_window(run: state.Run, a: int, b: int, pad: int) -> None:
    dataset, pipeline, spec = run.dataset, run.pipeline, run.spec
    names = dataset.feature_names
    lo, hi = max(0, a - pad), min(dataset.n_rows, b + pad + 1)
    if spec.input_kind == "windows":
        context = pipeline.step_context()  # the steps each score depends on, as the model declares them
        lo, hi = max(0, a - max(pad, context.past)), min(dataset.n_rows, b + max(pad, context.future) + 1)
    X = dataset.X[lo:hi]
    c1, c2 = st.columns([3, 2])
    contributions = pipeline.feature_contributions(X)[a - lo:b - lo + 1]
    top = int(np.argmax(contributions.mean(axis=0)))
    x = run.dataset.time.iloc[lo:hi].to_numpy() if dataset.is_series else np.arange(lo, hi)
    if spec.reconstruction:
        recon = pipeline.reconstruct(X)
        fig = charts.reconstruction(X[:, top], recon[:, top], x,
                                    title=f"{names[top]}: input vs reconstruction around the event")
    else:
        mean, std = pipeline.normal_profile()
        fig = charts.band_over_time(x, X[:, top], float(mean[top]), float(std[top]), names[top],
                                    title=f"{names[top]} around the event vs its normal range")
    fig.add_vrect(x0=x[a - lo], x1=x[b - lo], fillcolor=charts.FLAGGED, opacity=0.15, line_width=0)
    c1.plotly_chart(fig, width="stretch", key="res_event_detail")
    c2.plotly_chart(charts.contributions(contributions.mean(axis=0), names, title="Features driving this event"),
                    width="stretch", key="res_event_contrib")


# ------------------------------------------------------------------------------------------------
# Explaining one row (a separate fragment: picking a row does not redraw the threshold views)
# ------------------------------------------------------------------------------------------------
@st.fragment
def explain_section(run: state.Run) -> None:
    with friendly_errors("explaining a row"):
        _explain_section(run)


def _explain_section(run: state.Run) -> None:
    ctx: ResultContext = run.cache["context"]
    result, dataset = run, run.dataset
    st.subheader("Why was a row flagged?")
    threshold = float(st.session_state.get(state.THRESHOLD, result.threshold))
    top = ctx.view.order[:25]
    rows = ctx.test_index[top]
    table = pd.DataFrame({"row": rows, "score": result.scores[rows], "flagged": apply_threshold(result.scores[rows], threshold).astype(bool)})
    if dataset.is_series:
        table.insert(1, "time", dataset.time.iloc[rows].to_numpy())
    if result.y is not None:
        table["true class"] = np.where(result.y[rows] == 1, "anomaly", "normal")
    c1, c2 = st.columns([1, 1])
    with c1:
        st.caption("Top-scored test rows: select one, or type any row number below.")
        picked = st.dataframe(table, height=300, hide_index=True, width="stretch", on_select="rerun",
                              selection_mode="single-row", key="res_top_rows",
                              column_config={"row": st.column_config.NumberColumn(width="small"),
                                             "score": st.column_config.NumberColumn(format="%.4g", width="small"),
                                             "flagged": st.column_config.CheckboxColumn(width="small"),
                                             "true class": st.column_config.TextColumn(width="small")})
        selected = picked.selection.rows if picked is not None else []
        default_row = int(rows[selected[0]]) if selected else int(rows[0])
        row = st.number_input("Row number", 0, dataset.n_rows - 1, default_row, key=f"res_row_{default_row}")
    with c2, friendly_errors("explaining the row"):
        _explain_row(run, int(row), threshold)
        verdicts_view.row_verdict(run, int(row))


def _explain_row(run: state.Run, row: int, threshold: float) -> None:
    result, dataset, spec = run, run.dataset, run.spec
    pipeline = result.pipeline
    names = dataset.feature_names
    score = float(result.scores[row])
    verdict = "flagged" if apply_threshold([score], threshold)[0] else "not flagged"
    truth = ""
    if result.y is not None:
        truth = f" · labelled {'anomaly' if result.y[row] == 1 else 'normal'}"
    part = "training" if result.train_mask[row] else "test"
    st.markdown(f"Row **{row}** ({part} part): score **{score:.4g}** vs threshold {threshold:.4g} → **{verdict}**{truth}")
    fig, contributions = _row_figures(run, row)
    st.plotly_chart(fig, width="stretch", key="res_row_detail")
    st.plotly_chart(contributions, width="stretch", key="res_row_contrib")


def _row_figures(run: state.Run, row: int) -> tuple:
    """The row's two explanation figures, kept per run: they do not depend on the threshold, and
    building them again on every threshold move was a third of that move's time on the server."""
    kept = run.cache.setdefault("row_figures", {})
    if row not in kept:
        if len(kept) >= 32:
            kept.pop(next(iter(kept)))
        kept[row] = _build_row_figures(run, row)
    return kept[row]


def _build_row_figures(run: state.Run, row: int) -> tuple:
    result, dataset, spec = run, run.dataset, run.spec
    pipeline = result.pipeline
    names = dataset.feature_names
    if spec.input_kind == "windows":
        context = pipeline.step_context()  # the steps each score depends on, as the model declares them
        reach = max(context.past, context.future, 1)
        lo, hi = max(0, row - 2 * reach), min(dataset.n_rows, row + 2 * reach + 1)
        X = dataset.X[lo:hi]
        contrib = pipeline.feature_contributions(X)[row - lo]
        k = int(np.argmax(contrib))
        x = dataset.time.iloc[lo:hi].to_numpy() if dataset.is_series else np.arange(lo, hi)
        if spec.reconstruction:
            fig = charts.reconstruction(X[:, k], pipeline.reconstruct(X)[:, k], x,
                                        title=f"{names[k]} around row {row}: input vs reconstruction")
        else:
            mean, std = pipeline.normal_profile()
            fig = charts.band_over_time(x, X[:, k], float(mean[k]), float(std[k]), names[k],
                                        title=f"{names[k]} around row {row} vs its normal range")
        fig.add_vline(x=x[row - lo], line=dict(color=charts.FLAGGED, width=2))
    else:
        x_row = dataset.X[row:row + 1]
        contrib = pipeline.feature_contributions(x_row)[0]
        if spec.reconstruction:
            fig = charts.reconstruction(x_row[0], pipeline.reconstruct(x_row)[0], names,
                                        title=f"Row {row}: input vs reconstruction (error shaded)")
        else:
            mean, std = pipeline.normal_profile()
            fig = charts.profile(x_row[0], mean, std, names, title=f"Row {row} vs the normal profile")
    return fig, charts.contributions(contrib, names)


# ------------------------------------------------------------------------------------------------
def _training_section(run: state.Run) -> None:
    result, dataset = run, run.dataset
    loss, examples = _training_figures(run)
    if (result.history or {}).get("train_loss"):  # a model trained in epochs: its loss curve in view
        st.subheader("Training")
        st.plotly_chart(loss, width="stretch", key="res_loss")
    # drawn only while open (opening it reruns the page): closed, it cost every Results page its figures
    details = st.expander("Training details", expanded=False, key="res_training_details", on_change="rerun")
    if not details.open:
        return
    with details:
        c1, c2 = st.columns(2)
        if examples is not None:
            c1.plotly_chart(examples, width="stretch", key="res_examples")
        labels = {p.name: p.plain_label for p in run.spec.params}
        settings = {"method": run.spec.label, **{labels.get(k, k): v for k, v in (result.params or {}).items()},
                    "threshold": f"{result.threshold:.6g} ({result.threshold_description})",
                    "split": result.split, "training rows": int(result.fit_mask.sum()),
                    "test rows": int(result.test_mask.sum()), "fit time": seconds(result.fit_seconds),
                    "scoring time": seconds(result.score_seconds), "device": result.device}
        c2.dataframe(pd.DataFrame({"setting": list(settings), "value": [str(v) for v in settings.values()]}),
                     hide_index=True, width="stretch")


def _training_figures(run: state.Run) -> tuple:
    """The loss curve and an example of each class, built once per run (the page draws them on every rerun)."""
    kept = run.cache.get("training_figures")
    if kept is None:
        result, dataset = run, run.dataset
        examples = None
        if result.y is not None and not dataset.is_series and 0 < result.y.sum() < result.y.size:
            normal = dataset.X[int(np.flatnonzero(result.y == 0)[0])]
            abnormal = dataset.X[int(np.flatnonzero(result.y == 1)[0])]
            examples = charts.example_rows(normal, abnormal, dataset.feature_names)
        kept = run.cache["training_figures"] = (charts.loss_curves(result.history), examples)
    return kept

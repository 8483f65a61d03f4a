"""A standalone HTML report of one run: settings, metrics and interactive charts, plotly.js embedded.

The file works offline (mailed to someone, opened from disk): plotly.js is written into it once
and every chart reuses it.
"""

from __future__ import annotations

import html
import time

import plotly.graph_objects as go
import plotly.io as pio

from dashboard import charts
from dashboard.results_model import ResultContext, threshold_figures

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6fa;color:#1f2937}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{margin:0 0 4px 0;font-size:26px} h2{font-size:18px;margin:28px 0 8px 0}
.sub{color:#6b7280;margin-bottom:16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:12px}
.card{background:#fff;border-radius:10px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card .k{color:#6b7280;font-size:13px} .card .v{font-size:24px;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}
.panel{background:#fff;border-radius:10px;padding:8px;box-shadow:0 1px 2px rgba(0,0,0,.06);min-width:0;overflow:hidden}
table{border-collapse:collapse;background:#fff;border-radius:10px;overflow:hidden;width:100%}
td,th{padding:6px 12px;border-bottom:1px solid #eef0f4;text-align:left;font-size:14px;vertical-align:top}
footer{color:#9ca3af;font-size:12px;margin-top:32px}
"""


def _figure_html(fig, first: bool) -> str:
    # the dashboard relies on Streamlit's theme; a standalone page needs its own template and room for ticks
    fig = go.Figure(fig)  # validated: only validation turns a template's name into the template
    fig.update_layout(template=charts.TEMPLATE, margin=dict(l=60, r=20, t=56, b=50))
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return pio.to_html(fig, include_plotlyjs=True if first else False, full_html=False,
                       config={"displaylogo": False, "responsive": True})


def _explanation_figures(run, ctx) -> dict:
    """S1's pictures for the report: example rows, and why the top-scored test row was flagged."""
    import numpy as np

    result, dataset = run, run.dataset
    figures = {}
    if result.y is not None and not dataset.is_series and 0 < result.y.sum() < result.y.size:
        figures["examples"] = charts.example_rows(dataset.X[int(np.flatnonzero(result.y == 0)[0])],
                                                  dataset.X[int(np.flatnonzero(result.y == 1)[0])],
                                                  dataset.feature_names)
    if result.pipeline.spec.input_kind == "rows":
        row = int(ctx.test_index[ctx.view.order[0]])
        x_row = dataset.X[row:row + 1]
        try:
            if result.pipeline.spec.reconstruction:
                figures["explain"] = charts.reconstruction(
                    x_row[0], result.pipeline.reconstruct(x_row)[0], dataset.feature_names,
                    title=f"Top-scored test row {row}: input vs reconstruction (error shaded)")
            else:
                mean, std = result.pipeline.normal_profile()
                figures["explain"] = charts.profile(x_row[0], mean, std, dataset.feature_names,
                                                    title=f"Top-scored test row {row} vs the normal profile")
            figures["contributions"] = charts.contributions(result.pipeline.feature_contributions(x_row)[0],
                                                            dataset.feature_names,
                                                            title=f"Features driving row {row}'s score")
        except Exception:  # an explanation is a bonus; the report must still be produced
            pass
    return figures


def build_report(run, threshold: float | None = None) -> str:
    """The report for a :class:`dashboard.state.Run` at ``threshold`` (default: the trained one).

    Returns
    -------
    str
        A complete HTML document.
    """
    result, dataset = run, run.dataset
    threshold = float(result.threshold if threshold is None else threshold)
    ctx = run.cache.get("context") if hasattr(run, "cache") else None
    if ctx is None:
        ctx = ResultContext.build(result, dataset)
    out = threshold_figures(ctx, threshold)
    metrics = out["metrics"]
    figures = dict(out["figures"])
    if result.history and (result.history.get("train_loss") or result.history.get("val_loss")):
        figures["loss"] = charts.loss_curves(result.history)
    figures.update(_explanation_figures(run, ctx))

    cards = []
    for key, label in (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"), ("accuracy", "Accuracy"),
                       ("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC")):
        if key in metrics and metrics[key] is not None:
            cards.append((label, f"{metrics[key]:.3f}"))
    cards.append(("Flagged test rows", f"{metrics['n_flagged']:,}"))
    cards.append(("Threshold", f"{threshold:.4g}"))

    settings = [("Data", run.table_name), ("Rows", f"{dataset.n_rows:,}"),
                ("Features", ", ".join(dataset.feature_names[:20]) + (" …" if len(dataset.feature_names) > 20 else "")),
                ("Method", f"{run.spec.label} ({result.method})"),
                ("Parameters", ", ".join(f"{k}={v}" for k, v in (result.params or {}).items()) or "defaults"),
                ("Split", f"{result.split}: {int(result.fit_mask.sum()):,} training rows, "
                          f"{int(result.test_mask.sum()):,} test rows"),
                ("Threshold", f"{threshold:.6g}" + (" (as trained: " + result.threshold_description + ")"
                                                   if threshold == result.threshold else " (set by hand)")),
                ("Fit time", f"{result.fit_seconds:.2f} s on {result.device}")]
    if dataset.roles.label is not None:
        settings.insert(3, ("Label", f"{dataset.roles.label} (normal = {dataset.roles.normal_value})"))
    if getattr(run, "run_id", None):
        settings.insert(0, ("Saved run", f"{run.display_name} ({run.run_id[:8]})"))

    order = ["series", "confusion", "scatter", "histogram", "roc", "pr", "explain", "contributions", "examples", "loss"]
    panels, first = [], True
    for name in order:
        if name in figures:
            wide = name == "series"
            panels.append(f'<div class="panel" style="{"grid-column:1/-1" if wide else ""}">'
                          f"{_figure_html(figures[name], first)}</div>")
            first = False
    events_html = ""
    events = out.get("events")
    if events is not None and len(events):
        rows = "".join(f"<tr><td>{html.escape(str(r.start))}</td><td>{html.escape(str(r.end))}</td>"
                       f"<td>{r.length}</td><td>{r.peak_score:.4g}</td></tr>"
                       for r in events.sort_values("peak_score", ascending=False).head(50).itertuples())
        events_html = (f"<h2>Events ({len(events):,}; strongest 50)</h2><table><tr><th>Start</th><th>End</th>"
                       f"<th>Steps</th><th>Peak score</th></tr>{rows}</table>")
    card_html = "".join(f'<div class="card"><div class="k">{html.escape(k)}</div><div class="v">{html.escape(v)}</div></div>'
                        for k, v in cards)
    settings_html = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in settings)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    title = f"Anomaly detection report: {run.spec.label} on {run.table_name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body><main>
<h1>{html.escape(title)}</h1>
<div class="sub">Generated {stamp}. Metrics are measured on the test part at the threshold shown.</div>
<div class="cards">{card_html}</div>
<h2>Settings</h2><table>{settings_html}</table>
<h2>Charts</h2><div class="grid">{''.join(panels)}</div>
{events_html}
<footer>Charts are interactive: zoom by dragging, double-click to reset, hover for values.</footer>
</main>
<script>
// charts are drawn while the page is still being laid out; fit each to its panel once it is
window.addEventListener("load", function () {{
  document.querySelectorAll(".plotly-graph-div").forEach(function (d) {{ Plotly.Plots.resize(d); }});
}});
</script>
</body></html>
"""

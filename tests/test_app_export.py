"""Export page and report: downloads, scoring a new file with a saved bundle, friendly bundle errors."""

import numpy as np
import pandas as pd

from core.pipeline import DetectionPipeline
from dashboard import state
from dashboard.export_view import scored_frame
from dashboard.report import build_report
from tests.app_support import PAGE, csv_bytes, errors, labelled_rows, no_crash, start, train, upload


def _trained():
    at = upload(start(), "rows.csv", csv_bytes(labelled_rows()))
    return train(at, "classical", "knn")


def _bundle() -> bytes:
    frame = labelled_rows()
    pipeline = DetectionPipeline("zscore").fit(frame.loc[frame.label == 0, ["a", "b"]].to_numpy(), feature_names=["a", "b"])
    return pipeline.to_bytes()


def test_without_a_model_explains_and_still_offers_scoring():
    at = start("export")
    no_crash(at)
    assert any("Train a model first" in i.value for i in at.info)
    assert len(at.get("file_uploader")) == 2


def test_downloads_are_offered_after_training():
    at = _trained()
    at.switch_page(PAGE["export"]).run()
    no_crash(at)
    labels = [b.proto.label for b in at.main.get("download_button")]  # the sidebar has its own
    assert labels == ["Download scored CSV", "Download model", "Download HTML report"]


def test_scored_frame_and_report_follow_the_threshold():
    at = _trained()
    run = at.session_state[state.RUN]
    frame = scored_frame(run, threshold=float(np.median(run.scores)))
    assert list(frame.columns) == ["a", "b", "label", "score", "flag", "part"]
    assert frame["flag"].sum() == (run.scores > np.median(run.scores)).sum()
    assert set(frame["part"]) == {"train", "test"}
    html = build_report(run, threshold=run.threshold)
    assert html.startswith("<!DOCTYPE html>") and "Confusion matrix" in html and "ROC-AUC" in html
    assert html.count("plotly.js v") >= 1  # plotly.js embedded once, works offline
    assert "<script src=\"http" not in html and len(html) > 1_000_000  # no external script
    assert f"({run.run_id[:8]})" in html  # the report names the saved run it shows


def test_bad_bundle_is_refused_politely():
    at = start("export")
    at.file_uploader(key="exp_model_upload").set_value(("model.adbundle", b"not a zip at all", "application/zip"))
    at.file_uploader(key="exp_data_upload").set_value(("rows.csv", csv_bytes(labelled_rows()), "text/csv"))
    at.run()
    no_crash(at)
    assert any("not a model bundle" in e for e in errors(at))


def test_saved_bundle_scores_a_new_file():
    at = start("export")
    at.file_uploader(key="exp_model_upload").set_value(("model.adbundle", _bundle(), "application/zip"))
    at.file_uploader(key="exp_data_upload").set_value(("new.csv", csv_bytes(labelled_rows(seed=3)), "text/csv"))
    at.run()
    no_crash(at)
    assert not errors(at)
    assert any("Scored 400 rows" in s.value for s in at.success)


def test_bundle_with_missing_columns_says_which():
    at = start("export")
    at.file_uploader(key="exp_model_upload").set_value(("model.adbundle", _bundle(), "application/zip"))
    other = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": [1.0, 2.0, 4.0]})
    at.file_uploader(key="exp_data_upload").set_value(("other.csv", csv_bytes(other), "text/csv"))
    at.run()
    no_crash(at)
    assert any("lacks the model's feature columns: b" in e for e in errors(at))


def test_series_offers_events_and_the_time_axis_health():
    from tests.app_support import load_sample

    at = load_sample(start(), "sensor.csv")
    assert any("Regular time axis" in c.value for c in at.caption)
    at = train(at, "classical", "knn")
    at.switch_page(PAGE["export"]).run()
    no_crash(at)
    labels = [b.proto.label for b in at.main.get("download_button")]  # the sidebar has its own
    assert "Download events CSV" in labels

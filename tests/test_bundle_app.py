"""The dashboard's bundle upload (Export page) answers hostile bundles with a plain message.

Every case of tests/hostile_bundles.py is uploaded, one after another in one session: each shows exactly one clear error (or, for harmless changes, scores the file), never an
exception, and no payload runs."""

import pandas as pd
import pytest

from core import signing
from tests import hostile_bundles as hostile
from tests.app_support import csv_bytes, errors, start

# has the feature columns of every base bundle the cases are made from
ROWS = csv_bytes(pd.DataFrame({**{f"f{i}": [0.1 * i, 1.0, -1.0] for i in range(10)},
                               **{name: [0.0, 1.0, 2.0] for name in ("a", "b", "c", "v")}}))


@pytest.fixture(autouse=True)
def no_configured_key(monkeypatch):
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    monkeypatch.delenv(signing.KEY_FILE_ENV, raising=False)


def _upload(at, name, data):
    at.file_uploader(key="exp_model_upload").set_value((f"{name}.adbundle", data, "application/zip"))
    return at.run()


def test_hostile_uploads_show_one_clear_error_and_no_exception(tmp_path):
    canary = tmp_path / "canary"
    cases = hostile.build_cases(canary)
    assert len(cases) >= 80
    at = start("export")
    at.file_uploader(key="exp_data_upload").set_value(("rows.csv", ROWS, "text/csv"))
    for case in cases:
        at = _upload(at, case.name, case.data)
        assert not at.exception, (case.name, [e.value for e in at.exception])
        shown = errors(at)
        if case.expect == hostile.REFUSE or shown:
            assert len(shown) == 1, (case.name, shown)
            assert "Something went wrong" not in shown[0] and "Traceback" not in shown[0], (case.name, shown)
        else:
            assert any("Scored 3 rows" in s.value for s in at.success), case.name
    assert not canary.exists()


def test_unsigned_upload_is_refused_when_a_key_is_configured(monkeypatch):
    from core.pipeline import DetectionPipeline

    unsigned = hostile.base_bundles()["zscore"]
    monkeypatch.setenv(signing.KEY_ENV, "a dashboard key of some length")
    signed = DetectionPipeline.from_bytes(unsigned, key=None).to_bytes()
    at = start("export")
    at.file_uploader(key="exp_data_upload").set_value(("rows.csv", ROWS, "text/csv"))
    at = _upload(at, "unsigned", unsigned)
    assert not at.exception and any("not signed" in e for e in errors(at))
    at = _upload(at, "signed", signed)
    assert not at.exception and not errors(at)
    assert any("Scored 3 rows" in s.value for s in at.success)

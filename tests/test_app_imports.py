"""The app starts light: no PyTorch or TensorFlow until a deep method is chosen."""

import subprocess
import sys
import time

from tests.app_support import ROOT

CHECK = """
import sys, time
sys.path.insert(0, {root!r})
started = time.perf_counter()
from streamlit.testing.v1 import AppTest
import dashboard.charts, dashboard.compute, dashboard.data_view, dashboard.train_view
import dashboard.results_view, dashboard.export_view, dashboard.report, dashboard.state, dashboard.ui
at = AppTest.from_file({app!r}, default_timeout=60)
at.run()
assert not at.exception, at.exception
assert at.title[0].value == "Data"
heavy = sorted(m for m in ("torch", "tensorflow", "keras", "pyspark") if m in sys.modules)
print("HEAVY", heavy)
print("SECONDS", time.perf_counter() - started)
"""


def test_first_page_imports_no_heavy_framework():
    code = CHECK.format(root=str(ROOT), app=str(ROOT / "dashboard" / "app.py"))
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY []" in out.stdout, out.stdout
    # generous bound for a shared 2-core machine; the browser test measures the real first render
    assert time.perf_counter() - started < 30

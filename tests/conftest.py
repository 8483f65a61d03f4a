"""Shared test set-up: benchmarks under tests/bench are run on demand, not by the test suite."""

import os
import sys

collect_ignore = ["bench"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Every run the tests save (dashboard trainings, `--save-run`) goes to a workspace of their own, never the
# user's: set before any test starts so that servers and command lines started by tests inherit it.
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

os.environ["ANOMALY_WORKSPACE"] = tempfile.mkdtemp(prefix="ad-test-workspace-")
atexit.register(shutil.rmtree, os.environ["ANOMALY_WORKSPACE"], ignore_errors=True)

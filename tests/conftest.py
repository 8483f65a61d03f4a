"""Shared test set-up: benchmarks under tests/bench are run on demand, not by the test suite."""

import os
import sys

collect_ignore = ["bench"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

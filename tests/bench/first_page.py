"""Time from asking for the dashboard to its first heading, in headless Chromium.

Starts the dashboard on a free port (as the browser tests do), then opens it ``--visits`` times,
each in a fresh browser context (no cache, a new session): the first visit after the server
starts runs the pages' imports, later ones find them loaded. Each visit is timed from
``page.goto`` to the Data page's heading being visible; the modules the server has loaded are
listed, to show that no heavy framework (PyTorch, TensorFlow, scikit-learn, PySpark) loads with
the first page.

Run: ``.venv/bin/python -m tests.bench.first_page [--visits 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

HEAVY = ("torch", "tensorflow", "sklearn", "pyspark", "scipy")


def _server_pid(port: int) -> int | None:
    """The process serving ``port`` (found by its command line, as the fixture does not say)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(command) and str(port).encode() in command:
            return int(entry.name)
    return None


def _loaded_heavy_modules(pid: int) -> list[str]:
    """Which heavy frameworks' shared libraries the server process has mapped."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return []
    return [name for name in HEAVY if f"/site-packages/{name}/" in maps]


def main(argv=None) -> None:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, serve_dashboard

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=5)
    args = parser.parse_args(argv)
    port = _free_port()
    server = serve_dashboard(port, subprocess.DEVNULL)
    url = next(server)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; dashboard at {url}")
    timings = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for visit in range(args.visits):
                context = browser.new_context(viewport={"width": 1440, "height": 1000})
                page = context.new_page()
                start = time.perf_counter()
                page.goto(url)
                page.get_by_role("heading", name="Data").first.wait_for(state="visible", timeout=120_000)
                seconds = time.perf_counter() - start
                timings.append(seconds)
                print(f"  visit {visit + 1}: first heading after {seconds:.2f} s" + (" (first after start)" if not visit else ""))
                context.close()
            browser.close()
        pid = _server_pid(port)
        heavy = _loaded_heavy_modules(pid) if pid else ["(server process not found)"]
    finally:
        next(server, None)  # stops the server
    later = timings[1:] or timings
    print(f"first visit {timings[0]:.2f} s; later visits median {statistics.median(later):.2f} s "
          f"(best {min(later):.2f} s); heavy frameworks loaded by the server: {', '.join(heavy) or 'none'}; "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

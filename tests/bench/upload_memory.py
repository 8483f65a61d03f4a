"""Peak memory of loading a large CSV: ``read_table`` + ``prepare``, and the dashboard's upload path.

Each measurement runs alone in a fresh Python process, which reports its peak resident set size
(``VmHWM`` in ``/proc/self/status``) before and after the load; the figure that counts is the peak
during the load against the file's size. The file (``--rows`` rows of 10 float columns, numbers
with up to 4 decimals, as a sensor export writes them) is generated once under ``/tmp``, never in
the repository.

- ``core``: ``read_table(path)`` then ``prepare`` with the inferred roles (what the command line does).
- ``upload``: the Data page driven by Streamlit's ``AppTest``: the file's bytes uploaded through
  the page's uploader, until the page says "Ready". AppTest itself keeps the bytes it sent for
  the whole run (and hands them to the page again on every run), so this counts them to the end,
  where the server lets go of them once they are parsed.
- ``server``: the real thing: the dashboard served on a free port, headless Chromium uploading
  the file on the Data page until "Ready" shows (and the page's last elements are drawn); the
  figure is the server process's ``VmHWM``, so it includes receiving the upload (the server
  spools the request body to disk, then reads the file into memory once).

The uploader takes files up to 5 GiB (``server.maxUploadSize`` in ``.streamlit/config.toml``); the
default file (900 MiB of numbers, about 0.95 GB) was the largest the earlier 1 GB limit took, so
figures compare across versions. ``--size-mb 2400`` makes a 2.5 GB one.

Run: ``.venv/bin/python -m tests.bench.upload_memory [--size-mb 900] [--modes core upload server] [--file F]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (``VmHWM``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def make_file(path: Path, size_mb: int, seed: int = 0) -> Path:
    """A CSV of 10 float columns of about ``size_mb`` MiB (written once, in blocks)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if path.exists() and path.stat().st_size >= size_mb * 2**20:
        return path
    rng = np.random.default_rng(seed)
    written, first = 0, True
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as out:
        while written < size_mb * 2**20:
            block = np.round(rng.normal(size=(500_000, 10)) * 10, 4)
            table = pa.table({f"s{j}": block[:, j] for j in range(10)})
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=first))
            first = False
            chunk = sink.getvalue()
            out.write(chunk)
            written += chunk.size
    partial.rename(path)
    return path


def _measure_core(path: str) -> dict:
    from core.data import infer_roles, prepare, read_table

    before = rss_bytes()
    start = time.perf_counter()
    frame = read_table(path)
    after_read = peak_rss_bytes()
    dataset = prepare(frame, infer_roles(frame))
    seconds = time.perf_counter() - start
    return {"baseline": before, "peak": peak_rss_bytes(), "peak_after_read": after_read,
            "held": rss_bytes(), "seconds": seconds, "rows": dataset.n_rows, "features": len(dataset.feature_names)}


def _measure_upload(path: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=900)
    at.run()
    data = Path(path).read_bytes()
    before = rss_bytes()
    start = time.perf_counter()
    at.file_uploader(key="data_upload").set_value((Path(path).name, data, "text/csv"))
    del data  # from here on only the uploader holds the bytes, as in the server
    at.run()
    seconds = time.perf_counter() - start
    ready = [s.value for s in at.success if str(s.value).startswith("Ready")]
    errors = [e.value for e in at.error] + [str(e.value) for e in at.exception]
    return {"baseline": before, "peak": peak_rss_bytes(), "held": rss_bytes(), "seconds": seconds,
            "ready": ready[:1], "errors": errors[:3]}


def _status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found for process {pid}")


def _measure_server(path: str) -> dict:
    import subprocess as sp

    from playwright.sync_api import sync_playwright

    from tests.bench.first_page import _server_pid
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, serve_dashboard

    port = _free_port()
    server = serve_dashboard(port, sp.DEVNULL)
    url = next(server)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(900_000)
            page.goto(url)
            page.get_by_role("heading", name="Data").first.wait_for(state="visible")
            pid = _server_pid(port)
            before = _status_bytes(pid, "VmRSS")
            start = time.perf_counter()
            page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(path)
            page.get_by_text("Ready:").first.wait_for(state="visible")
            seconds = time.perf_counter() - start
            time.sleep(2)  # the page's last elements (quick look) are drawn after "Ready"
            result = {"baseline": before, "peak": _status_bytes(pid, "VmHWM"), "held": _status_bytes(pid, "VmRSS"),
                      "seconds": seconds, "ready": [page.get_by_text("Ready:").first.inner_text()[:120]],
                      "errors": []}
            browser.close()
    finally:
        next(server, None)
    return result


def _child(mode: str, path: str) -> None:
    result = {"core": _measure_core, "upload": _measure_upload, "server": _measure_server}[mode](path)
    print("RESULT " + json.dumps(result))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 900 MiB of numbers makes a file just under the uploader's 1 GB (10^9 bytes) ceiling
    parser.add_argument("--size-mb", type=int, default=900)
    parser.add_argument("--modes", nargs="+", default=["core", "upload"], choices=["core", "upload", "server"])
    parser.add_argument("--file", type=Path, default=None, help="CSV to load (default: generated under /tmp)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return
    path = args.file or make_file(Path(f"/tmp/upload_memory_{args.size_mb}mb.csv"), args.size_mb)
    size = path.stat().st_size
    print(f"file {path}: {size / 1e9:.2f} GB; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for mode in args.modes:
        child = subprocess.run([sys.executable, "-m", "tests.bench.upload_memory", "--child", mode, str(path)],
                               cwd=ROOT, capture_output=True, text=True)
        lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
        if child.returncode or not lines:
            print(f"{mode}: failed (exit {child.returncode})\n{child.stderr[-2000:]}")
            continue
        result = json.loads(lines[-1][len("RESULT "):])
        peak, base = result["peak"], result["baseline"]
        extra = f"  page: {result['ready'] or result['errors']}" if mode != "core" else \
            f"  ({result['rows']:,} rows x {result['features']} features; peak after reading {result['peak_after_read'] / 1e9:.2f} GB)"
        print(f"{mode:>6}: peak {peak / 1e9:.2f} GB = {peak / size:.2f}x the file "
              f"(imports {base / 1e9:.2f} GB; growth {(peak - base) / 1e9:.2f} GB = {(peak - base) / size:.2f}x); "
              f"held after {result['held'] / 1e9:.2f} GB; {result['seconds']:.1f} s{extra}")


if __name__ == "__main__":
    main()

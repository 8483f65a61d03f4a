"""Many people at once: concurrent sessions against one real dashboard server.

Run on demand (not part of the test suite)::

    python -m tests.bench.load_sessions [--client browser|websocket] [--sessions 20] [--moves 6]
                                        [--stagger 0.5] [--pause 0] [--url URL]

Each session gets its own file, ``session_NN.csv``, with its own row count. It uploads the file,
trains ``zscore`` and then moves the threshold back and forth through the "Exact value" box
(alternately below every score and above every score), while the sessions started after it are
still loading and training. Two kinds of client:

* ``browser`` (default): a Playwright context in Debian's Chromium (as the browser tests use),
  clicking and typing like a person; every chart is drawn, so on a small machine the browsers
  compete with the server for the cores.
* ``websocket``: a client speaking Streamlit's own protocol, as the browser's code does (a
  ``BackMsg`` rerun carrying the page, the widget values and, for a widget in a fragment, the
  fragment's id; the file sent through the uploader's URLs), reading the ``ForwardMsg`` deltas
  without drawing them, so that the sessions cost the server's work only.

Reported:

* errors: a step that failed or timed out, or an error message or traceback on a page;
* cross-talk: a page (sidebar, Data page, Results header, the Flagged count; for websocket
  clients anything a run drew) showing another session's file name, row count or results;
* threshold latency, p50 and p95 over every move of every session: until the server's answer
  has arrived (the ``script_finished`` message that ends the rerun of the Results fragment),
  and for browsers also until the Flagged count shows the value expected at the new threshold
  (the drawing of every chart included);
* the server's peak memory (resident set, read from /proc while the sessions run).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, serve_dashboard

TIMEOUT_MS = 240_000
# Notes the arrival time (browser clock) of every small websocket message, with its bytes: the
# messages that end a script run are small, and the Python side tells which ones they are.
RECORD_MESSAGES_JS = """(() => {
  window.__messages = [];
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener("message", (event) => {
      const now = performance.now();
      if (event.data instanceof ArrayBuffer && event.data.byteLength < 200) {
        const bytes = new Uint8Array(event.data);
        let text = "";
        for (const b of bytes) text += String.fromCharCode(b);
        window.__messages.push([now, btoa(text)]);
      } else if (event.data instanceof Blob && event.data.size < 200) {
        event.data.arrayBuffer().then((buffer) => {
          let text = "";
          for (const b of new Uint8Array(buffer)) text += String.fromCharCode(b);
          window.__messages.push([now, btoa(text)]);
        });
      }
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
})();"""
FLAGGED_JS = """(expected) => {
  for (const metric of document.querySelectorAll("[data-testid='stMetric']")) {
    const label = metric.querySelector("[data-testid='stMetricLabel']");
    if (label && label.innerText.trim().startsWith("Flagged")) {
      const value = metric.querySelector("[data-testid='stMetricValue']");
      return value && value.innerText.trim() === expected;
    }
  }
  return false;
}"""


def write_files(folder: Path, sessions: int) -> list[dict]:
    """One labelled file per session, each with a different number of rows."""
    out = []
    for number in range(sessions):
        n = 400 + 37 * number
        rng = np.random.default_rng(number)
        X = rng.normal(size=(n, 2))
        label = (rng.uniform(size=n) < 0.1).astype(int)
        X[label == 1] += 6.0
        name = f"session_{number:02d}.csv"
        pd.DataFrame({"a": X[:, 0].round(4), "b": X[:, 1].round(4), "label": label}).to_csv(folder / name, index=False)
        # scikit-learn's train_test_split(test_size=0.2) holds out ceil(0.2 * n) rows
        out.append({"name": name, "path": folder / name, "rows": n, "test_rows": math.ceil(0.2 * n)})
    return out


class Tally:
    def __init__(self, files):
        self.files = files
        self.errors: list[str] = []
        self.cross_talk: list[str] = []
        self.latencies: list[float] = []
        self.answer_latencies: list[float] = []
        self.answer_bytes: list[int] = []  # websocket clients: what one threshold move's answer weighed
        self.screenshots: Path | None = None  # where to save a picture of a page that failed

    async def check_text(self, number: int, where: str, locator, *expected: str) -> None:
        """Cross-talk when ``locator`` shows another session's file name; an error when its own
        ``expected`` texts are still missing after 30 s (a part of the page drawn late)."""
        for _ in range(60):
            text = await locator.inner_text()
            others = [f["name"] for i, f in enumerate(self.files) if i != number and f["name"] in text]
            if others:
                self.cross_talk.append(f"session {number} {where}: shows {others}: {text[:200]!r}")
                return
            missing = [e for e in expected if e not in text]
            if not missing:
                return
            await asyncio.sleep(0.5)
        self.errors.append(f"session {number} {where}: missing {missing} after 30 s: {text[:200]!r}")


def _finish_times(messages) -> list[float]:
    """Browser times (ms) at which "script finished" messages arrived, from RECORD_MESSAGES_JS's log."""
    import base64

    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    out = []
    for arrived, encoded in messages or []:
        try:
            if ForwardMsg.FromString(base64.b64decode(encoded)).WhichOneof("type") == "script_finished":
                out.append(arrived)
        except Exception:  # not a ForwardMsg
            pass
    return out


async def _idle(page, settle: float = 0.3) -> None:
    await page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                 timeout=TIMEOUT_MS)
    await asyncio.sleep(settle)


async def _page_errors(page) -> list[str]:
    found = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
    return [await found.nth(i).inner_text() for i in range(await found.count())]


async def run_session(browser, url: str, number: int, tally: Tally, moves: int, delay: float) -> None:
    await asyncio.sleep(delay)
    file = tally.files[number]
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.add_init_script(RECORD_MESSAGES_JS)
    step = "opening the app"
    try:
        await page.goto(url)
        await page.get_by_role("heading", name="Data", exact=True).wait_for()
        await _idle(page)
        step = "uploading"
        await page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(file["path"]))
        await page.get_by_text("Ready:").wait_for()
        await _idle(page)
        ready_box = page.locator("[data-testid='stAlertContentSuccess']").first
        ready = await ready_box.inner_text()
        if "labelled anomalies" not in ready:
            step = "choosing the label column"
            await page.get_by_role("combobox", name="Label column", exact=True).click()
            await page.get_by_role("option", name=re.compile(r"^label")).first.click()
            await page.get_by_text("labelled anomalies").first.wait_for()
            await _idle(page)
        await tally.check_text(number, "Data page", ready_box, f"{file['rows']:,} rows")
        sidebar = page.get_by_test_id("stSidebar")
        await tally.check_text(number, "sidebar after loading", sidebar, file["name"], f"{file['rows']:,} rows")
        step = "training"
        await page.get_by_role("link", name="Train").first.click()
        await page.get_by_role("heading", name="Train", exact=True).wait_for()
        await _idle(page)
        await page.get_by_test_id("stBaseButton-primary").click()
        await page.get_by_role("heading", name="Results", exact=True).wait_for()
        await page.get_by_text("Where each rule puts it").wait_for()
        await _idle(page)
        await tally.check_text(number, "Results header", page.get_by_text("tested on").first, file["name"],
                               f"tested on {file['test_rows']:,}")
        step = "moving the threshold"
        box = page.get_by_role("spinbutton", name="Exact value")
        move_starts: list[float] = []
        for move in range(moves):
            value, expected = ("-1", f"{file['test_rows']:,}") if move % 2 == 0 else ("1e9", "0")
            await box.fill(value)
            started = time.perf_counter()
            move_starts.append(await page.evaluate("() => performance.now()"))
            await box.press("Enter")
            try:
                await page.wait_for_function(FLAGGED_JS, arg=expected, timeout=60_000, polling="raf")
            except Exception:
                shown = await page.locator("[data-testid='stMetric']").filter(has_text="Flagged").first.inner_text()
                others = [f for i, f in enumerate(tally.files) if i != number and f"{f['test_rows']:,}" in shown]
                (tally.cross_talk if others else tally.errors).append(
                    f"session {number} move {move}: Flagged shows {shown!r}, expected {expected}")
                continue
            tally.latencies.append(time.perf_counter() - started)
            await _idle(page, 0.1)
        finished_at = _finish_times(await page.evaluate("() => window.__messages"))
        for started in move_starts:
            answers = [t for t in finished_at if t > started]
            if answers:
                tally.answer_latencies.append((answers[0] - started) / 1000)
        await tally.check_text(number, "sidebar at the end", sidebar, file["name"])
        for message in await _page_errors(page):
            tally.errors.append(f"session {number}: page shows {message[:200]!r}")
    except Exception as error:
        if tally.screenshots is not None:
            await page.screenshot(path=str(tally.screenshots / f"session_{number:02d}_error.png"), full_page=True)
        tally.errors.append(f"session {number} while {step}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    finally:
        await context.close()


# ------------------------------------------------------------------------------------------------
# Websocket clients: Streamlit's own protocol, without a browser
# ------------------------------------------------------------------------------------------------
XSRF_COOKIE = "_streamlit_xsrf"


class ServerSession:
    """One dashboard session driven over Streamlit's websocket protocol, as its browser client does.

    The browser sends a ``BackMsg`` whose ``rerun_script`` carries the page, the widget values
    and, for a widget inside a fragment, the fragment's id; the server answers with ``ForwardMsg``
    deltas (one per element, at a path in the page's tree) and ends every run with
    ``script_finished``. This client keeps the elements of the last run by path, finds widgets
    by kind and label, and keeps the values it has set, so that each rerun carries them all, as
    the browser's widget manager does. It draws nothing, so the server's work is all it costs.
    """

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.socket = None
        self.session_id = ""
        self.page_hash = ""
        self.pages: dict[str, str] = {}  # page name -> script hash
        self.elements: dict[tuple, tuple] = {}  # delta path -> (element, fragment id)
        self.blocks: dict[tuple, tuple] = {}  # delta path -> (block: tabs, expander, ..., fragment id)
        self.widgets: dict[str, object] = {}  # widget id -> WidgetState, as last set
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.received_bytes = 0  # everything the server sent this session
        self._reader = None
        self.xsrf = ""

    async def open(self) -> None:
        import urllib.request

        import websockets

        def cookie() -> str:  # a page or health check sets the XSRF cookie, as it does for a browser
            with urllib.request.urlopen(f"{self.base_url}/_stcore/health", timeout=30) as response:
                for header in response.headers.get_all("Set-Cookie") or []:
                    name, _, rest = header.partition("=")
                    if name.strip() == XSRF_COOKIE:
                        return rest.split(";")[0]
            return ""

        self.xsrf = await asyncio.to_thread(cookie)
        url = self.base_url.replace("http", "ws", 1) + "/_stcore/stream"
        self.socket = await websockets.connect(
            url, subprotocols=["streamlit", self.xsrf] if self.xsrf else ["streamlit"],
            additional_headers={"Origin": self.base_url, "Cookie": f"{XSRF_COOKIE}={self.xsrf}"},
            max_size=None, open_timeout=120, ping_interval=None)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for data in self.socket:
                self.received_bytes += len(data)
                self.inbox.put_nowait((time.perf_counter(), ForwardMsg.FromString(data)))
        except Exception as error:  # the connection closed: whoever waits is told
            self.inbox.put_nowait((time.perf_counter(), error))

    async def _next(self, timeout: float):
        arrived, message = await asyncio.wait_for(self.inbox.get(), timeout)
        if isinstance(message, Exception):
            raise ConnectionError(f"the connection closed: {message}")
        return arrived, message

    def _send(self, back) -> asyncio.Future:
        return self.socket.send(back.SerializeToString())

    async def rerun(self, *, triggers=(), fragment_id: str = "", page: str | None = None,
                    timeout: float = TIMEOUT_MS / 1000) -> tuple[float, float]:
        """Ask for a run (of the page, or of one fragment) and take in what it draws.

        Returns the times (perf_counter) when the request left and when the run's own
        ``script_finished`` arrived; a run ended early by ``st.rerun`` or a page switch is
        followed into the run that replaces it.
        """
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        if page is not None and self.pages.get(page) != self.page_hash:
            self.page_hash = self.pages[page]
            self.widgets.clear()  # the browser forgets the widgets of the page it leaves
        back = BackMsg()
        state = back.rerun_script
        state.page_script_hash = self.page_hash
        state.fragment_id = fragment_id
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        state.context_info.url = self.base_url + "/"
        state.widget_states.widgets.extend(self.widgets.values())
        for widget_id in triggers:
            state.widget_states.widgets.append(WidgetState(id=widget_id, trigger_value=True))
        sent = time.perf_counter()
        await self._send(back)
        deadline = sent + timeout
        while True:
            arrived, message = await self._next(max(0.1, deadline - time.perf_counter()))
            kind = message.WhichOneof("type")
            if kind == "new_session":
                if not fragment_id:  # a fragment's run redraws the fragment only
                    self.elements, self.blocks = {}, {}
                if message.new_session.initialize.session_id:
                    self.session_id = message.new_session.initialize.session_id
                self.page_hash = message.new_session.page_script_hash or self.page_hash
            elif kind == "navigation":
                self.pages = {p.page_name: p.page_script_hash for p in message.navigation.app_pages}
                self.page_hash = message.navigation.page_script_hash or self.page_hash
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                path = tuple(message.metadata.delta_path)
                self.elements[path] = (message.delta.new_element, message.delta.fragment_id)
            elif kind == "delta" and message.delta.WhichOneof("type") == "add_block":
                path = tuple(message.metadata.delta_path)
                self.blocks[path] = (message.delta.add_block, message.delta.fragment_id)
                # what was drawn inside a redrawn container is drawn again (or is gone)
                for stale in [p for p in self.elements if p[:len(path)] == path and len(p) > len(path)]:
                    del self.elements[stale]
            elif kind == "script_finished":
                if message.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY,
                                               ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                    return sent, arrived
                if message.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise RuntimeError("the page did not compile")

    def find(self, kind: str, label: str | None = None, prefix: bool = False, **fields):
        """(element proto, widget id, fragment id) of the first ``kind`` element with ``label``."""
        for path in sorted(self.elements):
            element, fragment = self.elements[path]
            if element.WhichOneof("type") != kind:
                continue
            proto = getattr(element, kind)
            if label is not None:
                text = proto.label
                if not (text.startswith(label) if prefix else text == label):
                    continue
            if any(getattr(proto, k) != v for k, v in fields.items()):
                continue
            return proto, getattr(proto, "id", ""), fragment
        raise LookupError(f"no {kind} {label!r} on the page")

    def find_block(self, kind: str, label: str | None = None):
        """(block proto, widget id, fragment id) of the first ``kind`` block (tab_container, expandable, ...)."""
        for path in sorted(self.blocks):
            block, fragment = self.blocks[path]
            if block.WhichOneof("type") != kind:
                continue
            proto = getattr(block, kind)
            if label is not None and getattr(proto, "label", None) != label:
                continue
            return proto, block.id or getattr(proto, "id", ""), fragment
        raise LookupError(f"no {kind} {label!r} on the page")

    def set_state(self, widget_id: str, **value) -> None:
        """Set a widget's value as the browser would (``string_value="..."``, ``bool_value=True``, ...)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        self.widgets[widget_id] = WidgetState(id=widget_id, **value)

    def charts(self) -> list[str]:
        """The Plotly specifications (JSON text) the last runs drew."""
        return [element.plotly_chart.spec for element, _ in self.elements.values()
                if element.WhichOneof("type") == "plotly_chart"]

    def texts(self, container: int | None = None) -> list[str]:
        """Every text the last runs drew (in the main area 0 or the sidebar 1 when ``container`` is given)."""
        out = []
        for path, (element, _) in sorted(self.elements.items()):
            if container is not None and path[:1] != (container,):
                continue
            kind = element.WhichOneof("type")
            proto = getattr(element, kind)
            for name in ("body", "label", "title"):
                value = getattr(proto, name, None)
                if isinstance(value, str) and value:
                    out.append(re.sub(r"\\(.)", r"\1", value))  # markdown escapes undone: what a person reads
        return out

    def errors(self) -> list[str]:
        from streamlit.proto.Alert_pb2 import Alert

        out = []
        for element, _ in self.elements.values():
            kind = element.WhichOneof("type")
            if kind == "exception":
                out.append(f"{element.exception.type}: {element.exception.message}")
            elif kind == "alert" and element.alert.format == Alert.ERROR:
                out.append(element.alert.body)
        return out

    async def upload(self, path: Path) -> None:
        """What the browser's file uploader does: ask for an upload URL, PUT the file, rerun with its info."""
        import urllib.request
        import uuid

        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        _, widget_id, _ = self.find("file_uploader")
        request_id = uuid.uuid4().hex
        back = BackMsg()
        back.file_urls_request.request_id = request_id
        back.file_urls_request.file_names.append(path.name)
        back.file_urls_request.session_id = self.session_id
        await self._send(back)
        while True:
            _, message = await self._next(TIMEOUT_MS / 1000)
            if message.WhichOneof("type") == "file_urls_response" and message.file_urls_response.response_id == request_id:
                break
        response = message.file_urls_response
        if response.error_msg:
            raise RuntimeError(f"upload refused: {response.error_msg}")
        urls = response.file_urls[0]
        data = path.read_bytes()
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
                f"Content-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        target = urls.upload_url if urls.upload_url.startswith("http") else self.base_url + urls.upload_url

        def put() -> None:
            request = urllib.request.Request(target, data=body, method="PUT", headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": self.xsrf,
                "Cookie": f"{XSRF_COOKIE}={self.xsrf}", "Origin": self.base_url})
            with urllib.request.urlopen(request, timeout=TIMEOUT_MS / 1000):
                pass

        await asyncio.to_thread(put)
        state = WidgetState(id=widget_id)
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.name, info.size, info.file_id = path.name, len(data), urls.file_id
        info.file_urls.CopyFrom(urls)
        self.widgets[widget_id] = state
        await self.rerun()

    def set_number(self, widget_id: str, value: float) -> None:
        self.set_state(widget_id, double_value=value)


def _check_texts(tally: Tally, number: int, where: str, texts: list[str], *expected: str) -> bool:
    """Cross-talk when ``texts`` name another session's file; an error when ``expected`` is missing."""
    joined = "\n".join(texts)
    others = [f["name"] for i, f in enumerate(tally.files) if i != number and f["name"] in joined]
    if others:
        tally.cross_talk.append(f"session {number} {where}: shows {others}")
        return False
    missing = [e for e in expected if e not in joined]
    if missing:
        tally.errors.append(f"session {number} {where}: missing {missing}: {joined[:300]!r}")
        return False
    return True


def _no_other_file(tally: Tally, number: int, where: str, session: ServerSession) -> None:
    """Cross-talk when anything the last run drew names another session's file."""
    _check_texts(tally, number, where + " (anywhere on the page)", session.texts())


async def run_socket_session(url: str, number: int, tally: Tally, moves: int, delay: float,
                             pause: float = 0.0) -> None:
    await asyncio.sleep(delay)
    file = tally.files[number]
    session = ServerSession(url)
    step = "opening the app"
    try:
        await session.open()
        await session.rerun()
        step = "uploading"
        await session.upload(file["path"])
        _no_other_file(tally, number, "Data page", session)
        ready = [t for t in session.texts(0) if t.startswith("Ready:")]
        if ready and "labelled anomalies" not in ready[0]:
            raise RuntimeError(f"the label column was not found by itself: {ready[0]!r}")
        _check_texts(tally, number, "Data page", ready, f"{file['rows']:,} rows")
        _check_texts(tally, number, "sidebar after loading", session.texts(1), file["name"], f"{file['rows']:,} rows")
        step = "training"
        await session.rerun(page="Train")
        _, button, _ = session.find("button", "Train", prefix=True, type="primary")
        await session.rerun(triggers=[button])
        if not any(t == "Results" for t in session.texts(0)):
            raise RuntimeError(f"training did not open the Results page: {session.texts(0)[:5]}")
        header = [t for t in session.texts(0) if "tested on" in t]
        _check_texts(tally, number, "Results header", header, file["name"], f"tested on {file['test_rows']:,}")
        _no_other_file(tally, number, "Results page", session)
        step = "moving the threshold"
        for move in range(moves):
            if move:
                await asyncio.sleep(pause)  # a person looks at the new charts before moving again
            value, expected = (-1.0, f"{file['test_rows']:,}") if move % 2 == 0 else (1e9, "0")
            _, box, fragment = session.find("number_input", "Exact value")
            session.set_number(box, value)
            before = session.received_bytes
            sent, finished = await session.rerun(fragment_id=fragment)
            tally.answer_bytes.append(session.received_bytes - before)
            flagged, _, _ = session.find("metric", "Flagged")
            if flagged.body != expected:
                others = [f for i, f in enumerate(tally.files) if i != number and f"{f['test_rows']:,}" == flagged.body]
                (tally.cross_talk if others else tally.errors).append(
                    f"session {number} move {move}: Flagged shows {flagged.body!r}, expected {expected}")
                continue
            tally.answer_latencies.append(finished - sent)
            _no_other_file(tally, number, f"move {move}", session)
        _check_texts(tally, number, "sidebar at the end", session.texts(1), file["name"])
        for message in session.errors():
            tally.errors.append(f"session {number}: page shows {message[:200]!r}")
    except Exception as error:
        tally.errors.append(f"session {number} while {step}: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}")
    finally:
        await session.close()


async def watch_memory(pid: int, peak: list[int], done: asyncio.Event) -> None:
    while not done.is_set():
        try:
            text = Path(f"/proc/{pid}/status").read_text()
            peak[0] = max(peak[0], int(re.search(r"VmRSS:\s+(\d+)", text).group(1)))
            peak[1] = int(re.search(r"VmHWM:\s+(\d+)", text).group(1))
        except (OSError, AttributeError):
            pass
        await asyncio.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc (a figure the machine's other load
    does not inflate the way it inflates latencies)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(port: int) -> int:
    """The dashboard process serving on ``port`` (found by its command line)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--server.port" in words and str(port).encode() in words:
            return int(cmdline.parent.name)
    raise RuntimeError(f"no dashboard process found on port {port}")


async def drive(args) -> dict:
    """Run the sessions ``args`` describe against a server (started here unless ``args.url``); the tally."""
    with tempfile.TemporaryDirectory() as folder:
        tally = Tally(write_files(Path(folder), args.sessions))
        tally.screenshots = args.screenshots
        if args.url:  # a server started by hand (under a profiler, say)
            server, url = iter(()), args.url.rstrip("/")
        else:
            port = _free_port()
            log = open(Path(folder) / "server.log", "w")
            server = serve_dashboard(port, log)  # closes the log when it stops the server
            url = next(server)
        try:
            pid = server_pid(int(url.rsplit(":", 1)[1]))
            peak, done = [0, 0], asyncio.Event()
            memory = asyncio.create_task(watch_memory(pid, peak, done))
            cpu_before = cpu_seconds(pid)
            started = time.perf_counter()
            if args.client == "browser":
                from playwright.async_api import async_playwright

                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    await asyncio.gather(*(run_session(browser, url, number, tally, args.moves, number * args.stagger)
                                           for number in range(args.sessions)))
                    wall = time.perf_counter() - started
                    await browser.close()
            else:
                await asyncio.gather(*(run_socket_session(url, number, tally, args.moves, number * args.stagger,
                                                          args.pause) for number in range(args.sessions)))
                wall = time.perf_counter() - started
            cpu = cpu_seconds(pid) - cpu_before
            done.set()
            await memory
        finally:
            next(server, None)  # stops the server
            if args.screenshots is not None and not args.url:
                (args.screenshots / "server.log").write_text((Path(folder) / "server.log").read_text())
    return {"tally": tally, "wall": wall, "peak_mib": max(peak[0], peak[1]) / 1024, "cpu": cpu}


def report(args, outcome: dict) -> None:
    tally = outcome["tally"]
    latencies = np.array(tally.latencies) * 1000
    answers = np.array(tally.answer_latencies) * 1000
    moved = len(latencies) if args.client == "browser" else len(answers)
    print(f"{args.client} clients: {args.sessions} sessions, threshold moves: {moved} of "
          f"{args.sessions * args.moves}, wall {outcome['wall']:.0f} s")
    print(f"errors: {len(tally.errors)}")
    for line in tally.errors[:20]:
        print("  ", line)
    print(f"cross-talk: {len(tally.cross_talk)}")
    for line in tally.cross_talk[:20]:
        print("  ", line)
    if answers.size:
        print(f"threshold latency, server's answer received: p50 {np.percentile(answers, 50):.0f} ms, "
              f"p95 {np.percentile(answers, 95):.0f} ms, max {answers.max():.0f} ms")
    if latencies.size:
        print(f"threshold latency, new count shown: p50 {np.percentile(latencies, 50):.0f} ms, "
              f"p95 {np.percentile(latencies, 95):.0f} ms, max {latencies.max():.0f} ms")
    if tally.answer_bytes:
        print(f"one threshold move's answer: {np.median(tally.answer_bytes) / 1024:.0f} KiB (median)")
    print(f"server CPU time: {outcome['cpu']:.1f} s ({1000 * outcome['cpu'] / max(1, args.sessions):.0f} ms per session)")
    print(f"server peak memory: {outcome['peak_mib']:.0f} MiB (resident)")


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=["browser", "websocket"], default="browser",
                        help="Chromium contexts, or clients speaking Streamlit's websocket protocol (no drawing)")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--moves", type=int, default=6, help="threshold changes per session")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="websocket clients: seconds between one move's answer and the next move")
    parser.add_argument("--stagger", type=float, default=0.5, help="seconds between two sessions' starts")
    parser.add_argument("--url", help="drive a dashboard already running at this address instead of starting one")
    parser.add_argument("--screenshots", type=Path, help="folder for pictures of pages where a step failed")
    return parser


def main() -> None:
    args = arguments().parse_args()
    report(args, asyncio.run(drive(args)))


if __name__ == "__main__":
    main()

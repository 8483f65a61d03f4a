"""Background work of a browser session: training threads, and the watchdog that ends them.

Training runs on a thread so the page stays responsive and can be cancelled. The thread never
calls Streamlit: it only fills plain attributes (progress, result, error) that the page polls.
Cancel sets an event that the detector's ``should_stop`` callback reads between epochs.

Every thread started for a session (training, a live stream) belongs to that session: the
:data:`WATCHDOG` stops it once Streamlit's runtime no longer counts the session as active (the tab
was closed or reloaded; a reload starts a new session) for :data:`GRACE_SECONDS`, so nobody's
looping replay or hour-long training outlives its tab. The grace lets a briefly dropped
connection reconnect to its session without losing its work.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from core.errors import CoreError, TrainingCancelled

log = logging.getLogger("dashboard")
#: How long a session may stay inactive before its threads are stopped.
GRACE_SECONDS = 10.0
#: How often the watchdog looks at the sessions.
CHECK_SECONDS = 1.0


def current_session_id() -> str | None:
    """The id of the browser session running this script, or None outside a Streamlit server run."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx(suppress_warning=True)
    return context.session_id if context is not None else None


def session_is_active(session_id: str) -> bool:
    """Whether Streamlit's runtime still has this session connected (True when there is no runtime)."""
    from streamlit.runtime import Runtime

    return not Runtime.exists() or Runtime.instance().is_active_session(session_id)


@dataclass
class _Owned:
    session_id: str
    name: str
    stop: Callable[[], None]
    running: Callable[[], bool]
    inactive_since: float | None = None


class SessionWatchdog:
    """Stops registered work when the session that started it has been inactive for ``grace`` s.

    One daemon thread per watchdog, started with the first registration and ended when nothing is
    left to watch. ``stop`` callables may block until their thread has ended.
    """

    def __init__(self, is_active: Callable[[str], bool] = session_is_active, grace: float = GRACE_SECONDS,
                 period: float = CHECK_SECONDS):
        self.is_active, self.grace, self.period = is_active, grace, period
        self._owned: list[_Owned] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, session_id: str | None, name: str, stop: Callable[[], None], running: Callable[[], bool]) -> None:
        """Stop ``name`` (with ``stop``) once ``session_id`` has ended; no session id: nothing to watch."""
        if session_id is None:
            return
        with self._lock:
            self._owned.append(_Owned(session_id, name, stop, running))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="session-watchdog", daemon=True)
                self._thread.start()

    def adopt(self, name: str, session_id: str | None) -> None:
        """Hand the work called ``name`` to another session (the same person's tab after a reload)."""
        if session_id is None:
            return
        with self._lock:
            for item in self._owned:
                if item.name == name:
                    item.session_id, item.inactive_since = session_id, None

    def watched(self) -> list[str]:
        """Names of the work still watched."""
        with self._lock:
            return [owned.name for owned in self._owned]

    def check(self) -> None:
        """One pass: forget work that has ended, stop work whose session has been gone long enough."""
        now = time.monotonic()
        with self._lock:
            owned = list(self._owned)
        for item in owned:
            if not item.running():
                self._forget(item)
            elif self.is_active(item.session_id):
                item.inactive_since = None
            elif item.inactive_since is None:
                item.inactive_since = now
            elif now - item.inactive_since >= self.grace:
                self._forget(item)
                try:
                    item.stop()
                except Exception:  # a failing stop must not end the watchdog
                    log.exception("Stopping %s of ended session %s failed", item.name, item.session_id)
                    continue
                log.warning("Stopped %s: its session %s ended (%s)", item.name, item.session_id,
                            "thread ended" if not item.running() else "thread still finishing")

    def _forget(self, item: _Owned) -> None:
        with self._lock:
            if item in self._owned:
                self._owned.remove(item)

    def _loop(self) -> None:
        while True:
            time.sleep(self.period)
            try:
                self.check()
            except Exception:  # keep watching whatever happens to one item
                log.exception("The session watchdog failed")
            with self._lock:
                if not self._owned:
                    self._thread = None
                    return


#: The dashboard's one watchdog.
WATCHDOG = SessionWatchdog()


#: Training jobs still running on this server, by id, so that a reloaded tab can find its job again.
_RUNNING: dict[str, "TrainingJob"] = {}
_RUNNING_LOCK = threading.Lock()


def find_job(job_id: str) -> "TrainingJob | None":
    """The running job with this id, if any (ids are random: knowing one is owning it)."""
    with _RUNNING_LOCK:
        return _RUNNING.get(str(job_id))


class TrainingJob:
    """Run :func:`core.experiment.run_experiment` on a thread and record how it went.

    ``id`` names the job (and the run it becomes); :meth:`when_done` registers callables that get
    the result on the training thread as soon as there is one (to name it, then save it, whoever is
    watching). The job is :attr:`done` once its outcome is known, before that saving ends: a page
    shows the result at once, and the thread stays :attr:`running` until the result is saved.
    ``context`` holds what the page that started the job needs to pick it up again.
    """

    def __init__(self, dataset, method: str, params: dict, **options: Any):
        self.dataset, self.method, self.params, self.options = dataset, method, params, options
        self.id = uuid.uuid4().hex
        self.context: dict[str, Any] = {}
        self._on_result: Callable[[Any], None] | None = None
        self._prepare: Callable[[Any], None] | None = None
        self._delivered = False
        self._outcome = threading.Event()  # set once result, error or cancellation is known
        self._result_lock = threading.Lock()
        self.progress: list[tuple[int, int, float | None, float | None]] = []
        self.stop_event = threading.Event()
        self.result = None
        self.error: str | None = None
        self.cancelled = False
        self.started = time.time()
        self.finished: float | None = None
        self.thread = threading.Thread(target=self._run, name=f"train-{method}", daemon=True)

    def start(self, session_id: str | None = None) -> "TrainingJob":
        """Start training; with ``session_id``, training is cancelled when that session ends."""
        if session_id is not None:
            self.thread.name = f"train-{self.method}-{session_id[:8]}"
        with _RUNNING_LOCK:
            _RUNNING[self.id] = self
        self.thread.start()
        WATCHDOG.watch(session_id, self.thread.name, self.stop, lambda: self.running)
        return self

    def cancel(self) -> None:
        self.stop_event.set()

    def when_done(self, on_result: Callable[[Any], None], prepare: Callable[[Any], None] | None = None) -> None:
        """Call ``on_result(result)`` once a result exists: on the training thread, or now if it already does.

        ``prepare(result)`` (quick, e.g. naming the run) runs on the training thread before the result
        is published, so that whoever reads :attr:`result` sees it prepared; register it before
        :meth:`start`. ``on_result`` (slow, e.g. saving) runs after the job is :attr:`done`.
        """
        with self._result_lock:
            self._on_result, self._prepare = on_result, prepare
            ready = self.result is not None and not self._delivered
            self._delivered = self._delivered or ready
        if ready:
            on_result(self.result)

    @property
    def done(self) -> bool:
        """Whether the outcome (result, error or cancellation) is known; the result may still be being saved."""
        return self._outcome.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` s (None: for good) until the job is :attr:`done`; return whether it is."""
        return self._outcome.wait(timeout)

    def _deliver(self) -> None:
        with self._result_lock:
            on_result = self._on_result if self.result is not None and not self._delivered else None
            self._delivered = self._delivered or on_result is not None
        if on_result is not None:
            try:
                on_result(self.result)
            except Exception:  # the result stays with the job; saving it is not worth failing the training
                log.exception("Storing the result of %s failed", self.thread.name)

    def stop(self, wait: float = 30.0) -> None:
        """Cancel and wait (up to ``wait`` s) until the thread has ended (after the current epoch)."""
        self.cancel()
        self.thread.join(wait)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started

    def _progress(self, epoch, n_epochs, train_loss=None, val_loss=None) -> None:
        self.progress.append((int(epoch), int(n_epochs), train_loss, val_loss))

    def _run(self) -> None:
        from core.experiment import run_experiment

        try:
            result = run_experiment(self.dataset, self.method, self.params, progress=self._progress,
                                    should_stop=self.stop_event.is_set, **self.options)
            with self._result_lock:
                prepare = self._prepare
            if prepare is not None:
                prepare(result)
            self.result, self.finished = result, time.time()
            self._outcome.set()  # the page shows the result now; saving it below can take seconds
            self._deliver()
        except TrainingCancelled:
            self.cancelled = True
        except CoreError as error:
            self.error = str(error)
        except MemoryError:
            self.error = "The machine ran out of memory while training; use fewer rows or a lighter method."
        except Exception as error:  # shown as a message, never a traceback
            import logging

            logging.getLogger("dashboard").exception("Training failed")
            first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
            self.error = f"Training failed: {first}"
        finally:
            if self.stop_event.is_set() and self.result is None and self.error is None:
                self.cancelled = True
            self.finished = self.finished or time.time()
            self._outcome.set()
            with _RUNNING_LOCK:
                _RUNNING.pop(self.id, None)

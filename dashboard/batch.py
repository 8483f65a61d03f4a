"""Several methods trained one after another, each by a :class:`~dashboard.jobs.TrainingJob`.

The batch runs on its own thread, which starts each method's job and waits for it, so the page
only polls plain attributes (like a single job) and Cancel stops the method in training and the
ones after it. The batch, not its jobs, is what the session watchdog stops when the tab is gone.
"""

from __future__ import annotations

import threading
from typing import Any

from dashboard.jobs import WATCHDOG, TrainingJob


class TrainingBatch:
    """Train ``methods`` (``[(name, params), ...]``) in order on ``dataset`` with the same ``options``."""

    def __init__(self, dataset, methods: list[tuple[str, dict]], **options: Any):
        self.dataset, self.methods, self.options = dataset, list(methods), options
        self.finished: list[TrainingJob] = []
        self.current: TrainingJob | None = None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="train-batch", daemon=True)

    def start(self, session_id: str | None = None) -> "TrainingBatch":
        if session_id is not None:
            self.thread.name = f"train-batch-{session_id[:8]}"
        self.thread.start()
        WATCHDOG.watch(session_id, self.thread.name, self.stop, lambda: self.running)
        return self

    def cancel(self) -> None:
        self.stop_event.set()
        current = self.current
        if current is not None:
            current.cancel()

    def stop(self, wait: float = 30.0) -> None:
        """Cancel and wait (up to ``wait`` s) for the thread to end."""
        self.cancel()
        self.thread.join(wait)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    @property
    def cancelled(self) -> bool:
        return self.stop_event.is_set()

    def _run(self) -> None:
        for method, params in self.methods:
            if self.stop_event.is_set():
                break
            job = TrainingJob(self.dataset, method, params, **self.options)
            self.current = job
            job.start()
            while job.running:
                if self.stop_event.is_set():
                    job.cancel()
                job.thread.join(0.1)
            self.finished.append(job)
        self.current = None

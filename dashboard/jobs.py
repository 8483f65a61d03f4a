"""Training in a background thread, so the page stays responsive and can be cancelled.

The thread never calls Streamlit: it only fills plain attributes (progress, result, error) that the
page polls. Cancel sets an event that the detector's ``should_stop`` callback reads between epochs.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from core.errors import CoreError, TrainingCancelled


class TrainingJob:
    """Run :func:`core.experiment.run_experiment` on a thread and record how it went."""

    def __init__(self, dataset, method: str, params: dict, **options: Any):
        self.dataset, self.method, self.params, self.options = dataset, method, params, options
        self.progress: list[tuple[int, int, float | None, float | None]] = []
        self.stop_event = threading.Event()
        self.result = None
        self.error: str | None = None
        self.cancelled = False
        self.started = time.time()
        self.finished: float | None = None
        self.thread = threading.Thread(target=self._run, name=f"train-{method}", daemon=True)

    def start(self) -> "TrainingJob":
        self.thread.start()
        return self

    def cancel(self) -> None:
        self.stop_event.set()

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
            self.result = run_experiment(self.dataset, self.method, self.params, progress=self._progress,
                                         should_stop=self.stop_event.is_set, **self.options)
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
            self.finished = time.time()

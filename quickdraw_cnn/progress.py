"""How far a notebook run is: the code cell running (nbclient's callbacks), a live status line, timings.

In a terminal (never under CI) the line ``06_experiments.ipynb  cell 14/33  2:41  about 3:20 left`` is
redrawn every second; the estimate comes from the notebook's last run at the same parameters
(``series-timings.json`` in the experiment cache), else from the cells done so far.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path


def timings_path():
    """Where the seconds per cell of past runs are kept: the experiment cache. Used by load_timings."""
    from quickdraw_cnn.experiments import experiment_cache_dir  # loads no TensorFlow

    return experiment_cache_dir() / "series-timings.json"


def timing_key(name, params):
    """A notebook and its parameters, folders (a new artifacts_dir each run) aside. Used by the runner."""
    kept = {k: v for k, v in params.items() if not k.endswith(("_dir", "_path"))}
    return f"{name} {json.dumps(kept, sort_keys=True, default=str)}"


def load_timings():
    """{timing_key: seconds per code cell} of past runs ({} if unreadable). Used by the series runner."""
    try:
        return json.loads(timings_path().read_text())
    except (OSError, ValueError):
        return {}


def save_timings(key, seconds):
    """Keep ``seconds`` for the next estimate. Only the estimate reads them: a cache that cannot be
    written (read-only, full) costs the next run its estimate, never this run. Used by the runner."""
    from quickdraw_cnn.files import write_bytes  # numpy only: no TensorFlow in the runner

    timings = {**load_timings(), key: seconds}
    try:
        write_bytes(timings_path(), (json.dumps(timings, indent=1) + "\n").encode())
    except OSError:  # the project's WriteError is an OSError too
        return


def show_progress(stream=None):
    """Whether to draw the live line: only in a terminal, never under CI. Used by Progress."""
    stream = stream or sys.stderr
    return not os.environ.get("CI") and hasattr(stream, "isatty") and stream.isatty()


def _clock(seconds):
    return f"{int(round(seconds)) // 60}:{int(round(seconds)) % 60:02d}"


class Progress:
    """One notebook's run as nbclient reports it (``hooks()``), the line drawn from it (``live``) and
    the code cell running, named if the run stops. ``previous``: seconds per code cell of an earlier
    run at the same parameters; the estimate scales them by how this run compares so far, or without
    them takes the average cell so far times the cells left. Used by the series runner.
    """

    def __init__(self, name, previous=None, stream=None, live=None, interval=1.0, status_file=None):
        self.name, self._previous, self.status_file = name, previous, status_file
        self.stream = stream or sys.stderr
        self.live = show_progress(self.stream) if live is None else live
        self.interval, self.seconds, self.total, self.previous = interval, [], 0, None
        self.cell, self.source, self.code_cells = None, "", []  # the code cell running (index, source)
        self.start = self.cell_start_time = time.monotonic()
        self._stop, self._thread = threading.Event(), None

    def __enter__(self):
        if self.live:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            done = f"{len(self.seconds)}/{self.total} cells  {_clock(time.monotonic() - self.start)}"
            self._write(f"{self.name}  {done}" + ("" if exc[0] is None else "  stopped") + "\n")

    def hooks(self):
        """nbclient's documented callbacks, which papermill hands on to nbclient's NotebookClient."""
        return dict(
            on_notebook_start=self.notebook_started,
            on_cell_execute=self.cell_started,
            on_cell_executed=self.cell_done,
        )

    def notebook_started(self, notebook):
        """The code cells nbclient will run (papermill's injected parameters included)."""
        self.code_cells = [
            i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.source.strip()
        ]
        self.total = len(self.code_cells)
        self.previous = self._previous if self._previous and len(self._previous) == self.total else None

    def cell_started(self, cell, cell_index):
        self.cell, self.source, self.cell_start_time = cell_index, cell.source, time.monotonic()

    def cell_done(self, cell, cell_index, execute_reply):
        self.seconds.append(time.monotonic() - self.cell_start_time)

    def where(self):
        """The code cell running, as a reader finds it: ``code cell 2 of 3 ('import time')``."""
        if self.cell is None:
            return "before its first cell"
        first = next((line.strip() for line in self.source.splitlines() if line.strip()), "")
        return f"code cell {self.code_cells.index(self.cell) + 1} of {self.total} ({first[:60]!r})"

    def remaining(self, now=None):
        """Seconds left, estimated; None while there is nothing to go on. A cell running longer than
        expected counts as about to end, so the estimate never claims the run is over."""
        now = time.monotonic() if now is None else now
        done, running = len(self.seconds), now - self.cell_start_time
        if self.previous is not None:
            ratio = (sum(self.seconds) + 1) / (sum(self.previous[:done]) + 1) if done else 1.0
            expected = [t * min(max(ratio, 0.2), 5.0) for t in self.previous[done:]]
        elif done >= 3:
            expected = [sum(self.seconds) / done] * (self.total - done)
        else:
            return None
        return max(expected[0] - running, 0.0) + sum(expected[1:]) if expected else 0.0

    def line(self, now=None):
        now = time.monotonic() if now is None else now
        elapsed = _clock(now - self.start)
        if self.cell is None:
            return f"{self.name}  {elapsed}  starting the kernel"
        text = f"{self.name}  cell {min(len(self.seconds) + 1, self.total)}/{self.total}  {elapsed}"
        left = self.remaining(now)
        if left is not None:
            text += f"  about {_clock(left)} left ({'by cells' if self.previous is None else 'as last time'})"
        return f"{text}  {self.download()}".rstrip()

    def download(self):
        """What a download in the notebook reports into ``status_file`` (quickdraw_cnn.data:
        "downloading apple.npy: 1.2 of 2.4 MB") while the report is fresh (5 s); else ""."""
        try:
            path = Path(self.status_file or "")
            return path.read_text().strip() if time.time() - path.stat().st_mtime <= 5 else ""
        except OSError:
            return ""

    def _write(self, text):
        self.stream.write("\r\033[K" + text)
        self.stream.flush()

    def _tick(self):
        while not self._stop.wait(self.interval):
            self._write(self.line())

"""How far a notebook run is: its code cells as nbclient reports them, a live status line, timings.

In a terminal (never under CI): ``06_experiments.ipynb  cell 14/33  2:41  about 3:20 left``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path

HOOKS = ("on_notebook_start", "on_cell_execute", "on_cell_executed")  # nbclient's, named after them


def timings_path():
    """Where the seconds per cell of past runs are kept: the experiment cache. Used by Progress."""
    from quickdraw_cnn.experiments import experiment_cache_dir  # loads no TensorFlow

    return experiment_cache_dir() / "series-timings.json"


def timings(key, seconds=None):
    """The seconds per code cell of the last run under ``key`` (None if unknown); with ``seconds``,
    keep those instead. Only the estimate reads them: a cache that cannot be read or written
    (read-only, full) costs the next run its estimate, never this run. Used by Progress."""
    from quickdraw_cnn.files import write_bytes  # numpy only: no TensorFlow in the runner

    try:
        kept = json.loads(timings_path().read_text())
    except (OSError, ValueError):
        kept = {}
    if seconds is not None:
        with contextlib.suppress(OSError):  # the project's WriteError is an OSError too
            write_bytes(timings_path(), (json.dumps({**kept, key: seconds}, indent=1) + "\n").encode())
    return kept.get(key)


def _clock(seconds):
    return f"{int(round(seconds)) // 60}:{int(round(seconds)) % 60:02d}"


class Progress:
    """One notebook's run as nbclient reports it (``hooks()``), its code cell running (named if the run
    stops) and the line drawn from it (``live``). The estimate: the last run's timings at the same
    ``params``, scaled by how this run compares so far, else the average cell so far. Used by the runner."""

    def __init__(self, name, params=None, stream=None, live=None, interval=1.0, status_file=None):
        self.name, self.status_file, self.stream = name, status_file, stream or sys.stderr
        kept = {k: v for k, v in (params or {}).items() if not k.endswith(("_dir", "_path"))}  # new each run
        self.key = None if params is None else f"{name} {json.dumps(kept, sort_keys=True, default=str)}"
        self._previous = timings(self.key) if self.key else None
        terminal = hasattr(self.stream, "isatty") and self.stream.isatty() and not os.environ.get("CI")
        self.live = terminal if live is None else live  # the line: in a terminal, never under CI
        self.interval, self.seconds, self.total, self.previous = interval, [], 0, None
        self.cell, self.source, self.cells = None, "", []  # the code cell running (index, source)
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
        if self.key and exc[0] is None and len(self.seconds) == self.total:
            timings(self.key, [round(t, 2) for t in self.seconds])

    def hooks(self):
        """nbclient's documented callbacks, which papermill hands on to nbclient's NotebookClient."""
        return {name: getattr(self, name) for name in HOOKS}

    def on_notebook_start(self, notebook):  # papermill's injected parameters cell included
        self.cells = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.source.strip()]
        self.total = len(self.cells)
        self.previous = self._previous if self._previous and len(self._previous) == self.total else None

    def on_cell_execute(self, cell, cell_index):
        self.cell, self.source, self.cell_start_time = cell_index, cell.source, time.monotonic()

    def on_cell_executed(self, cell, cell_index, execute_reply):
        self.seconds.append(time.monotonic() - self.cell_start_time)

    def where(self):
        """The code cell running, as a reader finds it: ``code cell 2 of 3 ('import time')``."""
        if self.cell is None:
            return "before its first cell"
        first = next((line.strip() for line in self.source.splitlines() if line.strip()), "")
        return f"code cell {self.cells.index(self.cell) + 1} of {self.total} ({first[:60]!r})"

    def remaining(self, now=None):
        """Seconds left (None: nothing to go on yet); a cell overrunning counts as about to end."""
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
        elapsed, left = _clock(now - self.start), self.remaining(now)
        if self.cell is None:
            return f"{self.name}  {elapsed}  starting the kernel"
        text = f"{self.name}  cell {min(len(self.seconds) + 1, self.total)}/{self.total}  {elapsed}"
        if left is not None:
            text += f"  about {_clock(left)} left ({'by cells' if self.previous is None else 'as last time'})"
        return f"{text}  {self.download()}".rstrip()

    def download(self):
        """A download's report in ``status_file`` (quickdraw_cnn.data) while fresh (5 s); else ""."""
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

"""Run the notebook series in order with papermill: ``python -m quickdraw_cnn.series [-p NAME VALUE ...]``.

Each run gets a folder ``runs/<date-time>/`` holding the executed notebooks,
``artifacts/`` (what one chapter hands to the next, figures included) and
``metrics.json``; ``runs/latest`` points at the newest. A ``-p`` parameter is
forwarded to every notebook that declares it; a name that no notebook declares is
an error. Values are Python literals (``5``, ``0.1``, ``"text"``, ``[1, 2]``), or
YAML lists like ``[cat, dog]``, or else plain strings. Relative paths in ``*_dir`` and
``*_path`` parameters are taken from where you run the command.

In a terminal, a status line shows which notebook runs, which cell of how many, the elapsed time
and an estimate of what is left (from the previous run at the same parameters, else from the cells
done so far); it stays quiet under CI (``CI`` set) or when the output is not a terminal.

``--solutions [ARTIFACTS_DIR]`` runs the exercise solutions (``solutions/``) against the artifacts
of a run (default ``runs/latest/artifacts``); a solution whose assertion fails stops with an error.

Every execution has deadlines: each cell may run at most ``--cell-timeout`` seconds (default
3600, or ``$QUICKDRAW_CELL_TIMEOUT``; 06's longest cell, twenty trainings, takes a few minutes),
and the whole run at most ``--deadline`` seconds (default 14400, or ``$QUICKDRAW_RUN_DEADLINE``).
On expiry the kernel is stopped and the run ends with a message naming the notebook and the cell.
Kernels started here get ``QUICKDRAW_HEADLESS=1``: no frontend shows their widgets.

Each run has a folder of its own, even for runs started in the same second (``runs/<date-time>``,
then ``-2``, ``-3`` ...), and a lock: a second run writing into the same run folder or the same
``artifacts_dir`` at the same time is refused. ``-p`` values must have the type of the notebook's
default (a whole number for 5, a list of whole numbers for [2, 4]).

``--in-place`` re-executes the committed notebooks (at their default parameters), then the solutions
against their artifacts, into a temporary folder, and replaces the committed ones only when all of
them succeeded.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import yaml

CELL_TIMEOUT = 3600.0  # seconds one cell may run (06's longest: a few minutes on 2 cores)
RUN_DEADLINE = 4 * 3600.0  # seconds a whole run may take (the series at its defaults: about 25 min)

REPO_DIR = Path(__file__).resolve().parent.parent  # the repository: quickdraw_cnn/..
NOTEBOOK_DIR = REPO_DIR / "notebooks"
SOLUTION_DIR = REPO_DIR / "solutions"
COMMITTED_NETWORKS = REPO_DIR / "web" / "networks"  # the committed notebooks' exported networks (make html)


def notebooks(names=None):
    """The series' notebooks in order (``names`` keeps those whose name starts with one of them)."""
    found = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if names:
        found = [p for p in found if any(p.name.startswith(n) for n in names)]
    if not found:
        raise SystemExit(f"no notebooks match {names!r} in {NOTEBOOK_DIR}")
    return found


def declared_parameters(path):
    """Names of the parameters a notebook declares in its cell tagged `parameters`."""
    import papermill as pm

    return set(pm.inspect_notebook(str(path)))


# ------------------------------------------------------------- progress ----


def timings_path():
    """Where per-cell times of past runs are kept, for the estimates: in the experiment cache."""
    from quickdraw_cnn.experiments import experiment_cache_dir  # loads no TensorFlow

    return experiment_cache_dir() / "series-timings.json"


def _timing_key(name, params):
    """Timings are kept per notebook and parameters; folders (a new artifacts_dir each run) aside."""
    kept = {k: v for k, v in params.items() if not k.endswith(("_dir", "_path"))}
    return f"{name} {json.dumps(kept, sort_keys=True, default=str)}"


def _load_timings():
    try:
        return json.loads(timings_path().read_text())
    except (OSError, ValueError):
        return {}


def _save_timings(key, seconds):
    timings = _load_timings()
    timings[key] = seconds
    from quickdraw_cnn.files import replacing  # numpy only: no TensorFlow in the runner

    with replacing(timings_path()) as fh:
        fh.write((json.dumps(timings, indent=1) + "\n").encode())


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def show_progress(stream=None):
    """Whether to show the live status line: only in a terminal, and never under CI."""
    stream = stream or sys.stderr
    return not os.environ.get("CI") and hasattr(stream, "isatty") and stream.isatty()


class Progress:
    """The status line of one notebook: ``06_experiments.ipynb  cell 14/33  2:41  about 3:20 left``.

    ``previous``: seconds per code cell of an earlier run at the same parameters (or None). The
    estimate is what those cells took, scaled by how this run compares so far on the cells done;
    without a previous run, the average time per cell so far times the cells left (rough: one
    cell of 06 may train twenty networks).
    """

    def __init__(
        self, name, code_cells, previous=None, stream=None, live=None, interval=1.0, status_file=None
    ):
        self.name, self._previous, self.status_file = name, previous, status_file
        self.begin(code_cells)
        self.stream = stream or sys.stderr
        self.live = show_progress(self.stream) if live is None else live
        self.interval, self.seconds, self.started = interval, [], False
        self.start = self.cell_start_time = time.monotonic()
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.live:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._write(
                f"{self.name}  {len(self.seconds)}/{self.total} cells  "
                f"{_clock(time.monotonic() - self.start)}" + ("" if exc[0] is None else "  failed") + "\n"
            )

    def begin(self, code_cells):
        """The number of code cells to run (the engine counts them, injected parameters included)."""
        self.total = code_cells
        self.previous = self._previous if self._previous and len(self._previous) == code_cells else None

    def cell_started(self):
        self.started = True
        self.cell_start_time = time.monotonic()

    def cell_done(self):
        self.seconds.append(time.monotonic() - self.cell_start_time)

    def remaining(self, now=None):
        """Seconds left, estimated; None while there is nothing to go on. A cell that runs longer
        than expected counts as about to end, so the estimate never claims the run is over."""
        now = time.monotonic() if now is None else now
        done, running = len(self.seconds), now - self.cell_start_time
        if self.previous is not None:
            before = sum(self.previous[:done])
            ratio = (sum(self.seconds) + 1) / (before + 1) if done else 1.0
            expected = [t * min(max(ratio, 0.2), 5.0) for t in self.previous[done:]]
        elif done >= 3:
            expected = [sum(self.seconds) / done] * (self.total - done)
        else:
            return None
        if not expected:
            return 0.0
        return max(expected[0] - running, 0.0) + sum(expected[1:])

    def line(self, now=None):
        now = time.monotonic() if now is None else now
        elapsed = _clock(now - self.start)
        if not self.started:
            return f"{self.name}  {elapsed}  starting the kernel"
        text = f"{self.name}  cell {min(len(self.seconds) + 1, self.total)}/{self.total}  {elapsed}"
        left = self.remaining(now)
        if left is not None:
            basis = "as last time" if self.previous is not None else "by cells"
            text += f"  about {_clock(left)} left ({basis})"
        download = self.download()
        return f"{text}  {download}" if download else text

    def download(self):
        """What a download in the notebook reports (quickdraw_cnn.data: "downloading apple.npy:
        1.2 of 2.4 MB"), when its report is fresh (a few seconds old at most); else ""."""
        try:
            path = Path(self.status_file) if self.status_file else None
            if path is None or time.time() - path.stat().st_mtime > 5:
                return ""
            return path.read_text().strip()
        except OSError:
            return ""

    def _write(self, text):
        self.stream.write("\r\033[K" + text)
        self.stream.flush()

    def _tick(self):
        while not self._stop.wait(self.interval):
            self._write(self.line())


def _progress_engine():
    """papermill's nbclient engine, telling a Progress when each code cell starts and ends."""
    from papermill.engines import NBClientEngine, papermill_engines

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, progress=None, current=None, **kwargs):
            if current is not None:  # which cell runs: named if it times out
                code_cells = [i for i, c in enumerate(nb_man.nb.cells) if c.cell_type == "code"]
                first_start = nb_man.cell_start

                def track(cell, cell_index=None, **kw):
                    if cell.cell_type == "code":
                        current.update(index=cell_index, number=code_cells.index(cell_index) + 1)
                        current.update(of=len(code_cells), source=cell.source)
                    return first_start(cell, cell_index, **kw)

                nb_man.cell_start = track
            if progress is not None:
                progress.begin(sum(c.cell_type == "code" for c in nb_man.nb.cells))
                start, complete = nb_man.cell_start, nb_man.cell_complete

                def cell_start(cell, cell_index=None, **kw):
                    if cell.cell_type == "code":
                        progress.cell_started()
                    return start(cell, cell_index, **kw)

                def cell_complete(cell, cell_index=None, **kw):
                    if cell.cell_type == "code":
                        progress.cell_done()
                    return complete(cell, cell_index, **kw)

                nb_man.cell_start, nb_man.cell_complete = cell_start, cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("quickdraw-progress", ProgressEngine)
    return "quickdraw-progress"


def kernel_manager_class(sync=False):
    """The kernel manager that papermill (here) and nbval (conftest.py) start kernels with: on Linux
    and macOS the kernel and its client talk over Unix sockets in a folder of their own, not over
    TCP ports on 127.0.0.1. ``sync``: jupyter_client's blocking KernelManager (nbval's) instead
    of the AsyncKernelManager that papermill uses.

    Over TCP, jupyter_client picks five free ports, lets them go and hands them to the kernel,
    which binds them a moment later; a kernel started at the same moment by another process (two
    runs side by side, the other pytest worker) or any new connection can take one of them in
    between. The kernel then dies with "Address already in use", and its client waits 60 s for
    "Kernel didn't respond" (papermill#511). A socket file in a fresh folder cannot be taken. On
    Windows (no Unix sockets in ZeroMQ there): TCP, jupyter_client's default.
    """
    from jupyter_client import AsyncKernelManager, KernelManager

    base = KernelManager if sync else AsyncKernelManager
    if os.name == "nt":
        return base

    import tempfile

    from traitlets import default

    class UnixSocketKernelManager(base):
        @default("transport")
        def _transport_default(self):
            return "ipc"

        def _ip_default(self):  # the socket files' prefix: <fresh folder>/kernel-1 ... kernel-5
            return os.path.join(tempfile.mkdtemp(prefix="quickdraw-kernel-"), "kernel")

        async def _async_cleanup_resources(self, restart=False):  # on shutdown, sync or not
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(os.path.dirname(self.ip), ignore_errors=True)

    return UnixSocketKernelManager


def run_series(
    run_dir, params=None, names=None, log=print, progress=None, cell_timeout=None, deadline=None, limits=None
):
    """Execute the notebooks into ``run_dir``/notebooks; return {notebook name: seconds}.

    ``progress``: show the live status line (default: in a terminal, not under CI).
    ``cell_timeout``: seconds a cell may run (default ``$QUICKDRAW_CELL_TIMEOUT`` or CELL_TIMEOUT);
    ``deadline``: seconds the whole run may take (``$QUICKDRAW_RUN_DEADLINE`` or RUN_DEADLINE).
    On expiry: ``NotebookTimeout``, naming the notebook and the cell. Holds a lock on ``run_dir``
    and on the artifacts folder while it runs: another run into either is refused.
    """

    limits = limits or _Limits(cell_timeout, deadline)

    params = {
        k: str(Path(v).expanduser().resolve())
        if k.endswith(("_dir", "_path")) and v and isinstance(v, str)
        else v
        for k, v in (params or {}).items()
    }
    paths = notebooks(names)
    declared = {p: declared_parameters(p) for p in paths}
    unknown = set(params) - set().union(*declared.values())
    if unknown:
        raise SystemExit(
            f"no notebook declares the parameter(s) {sorted(unknown)}; "
            f"known: {sorted(set().union(*declared.values()))}"
        )
    check_types(params, paths)
    run_dir = Path(run_dir).resolve()
    params.setdefault("artifacts_dir", str(run_dir / "artifacts"))
    with _locked(run_dir), _locked(Path(params["artifacts_dir"])):
        return _run_locked(paths, declared, run_dir, params, log, progress, limits)


def _run_locked(paths, declared, run_dir, params, log, progress, limits):
    import nbformat

    from quickdraw_cnn.data import PROGRESS_FILE_ENV

    seconds = {}
    for path in paths:
        out = run_dir / "notebooks" / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        mine = {k: v for k, v in params.items() if k in declared[path]}
        log(f"running {path.name} {mine if mine else ''}".rstrip(), flush=True)
        code_cells = sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)
        key = _timing_key(path.name, mine)
        start = time.perf_counter()
        status = run_dir / ".download-progress"  # the notebook's downloads report here (data.py)
        with (
            Progress(
                path.name, code_cells, _load_timings().get(key), live=progress, status_file=status
            ) as watch,
            _environment(PROGRESS_FILE_ENV, str(status)),
        ):
            execute_notebook(path, out, mine, engine_name=_progress_engine(), progress=watch, limits=limits)
        status.unlink(missing_ok=True)
        seconds[path.name] = time.perf_counter() - start
        if len(watch.seconds) == watch.total:
            _save_timings(key, [round(t, 2) for t in watch.seconds])
    return seconds


@contextlib.contextmanager
def _environment(name, value):
    """``$name`` set to ``value`` while the block runs (a notebook kernel started in it inherits
    it), then as it was."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def execute_notebook(path, out, parameters, cwd=NOTEBOOK_DIR, limits=None, **engine_options):
    """Execute one notebook with papermill as the series does: kernel ``python3`` started in
    ``cwd``, data and cache folders made absolute, quiet (no progress bars, no TF start-up logs),
    headless (``QUICKDRAW_HEADLESS=1``), each cell within the time ``limits`` allow (a ``_Limits``;
    default: CELL_TIMEOUT a cell, RUN_DEADLINE in all); on expiry ``NotebookTimeout``."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    limits = limits or _Limits()
    current = {}
    if "engine_name" not in engine_options:
        engine_options["engine_name"] = _progress_engine()

    for var in ("QUICKDRAW_DATA_DIR", "QUICKDRAW_CACHE_DIR", "QUICKDRAW_EXPERIMENT_CACHE"):
        if os.environ.get(var):  # absolute: kernels run in another folder
            os.environ[var] = str(Path(os.environ[var]).expanduser().resolve())
    os.environ.setdefault("QUICKDRAW_QUIET", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["QUICKDRAW_HEADLESS"] = "1"
    limits.check(Path(path).name, None)
    try:
        return pm.execute_notebook(
            str(path),
            str(out),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(cwd),
            progress_bar=False,
            log_output=False,
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            kernel_manager_class=kernel_manager_class(),
            timeout_func=lambda cell: limits.for_cell(),
            current=current,
            **engine_options,
        )
    except CellTimeoutError as err:
        raise NotebookTimeout(limits.message(Path(path).name, current, out)) from err
    except pm.PapermillExecutionError as err:
        err.notebook, err.output = Path(path).name, Path(out)  # for the runner's last words (stopped)
        raise


class NotebookTimeout(SystemExit):
    """A cell ran past its timeout, or the run past its deadline; the message names the notebook
    and the cell. (A SystemExit: ``make run`` ends with the message, not a traceback.)

    Used by run_series and execute_notebook.
    """

    def __str__(self):
        return str(self.code)


class _Limits:
    """The time limits of one run: ``cell_timeout`` seconds a cell, ``deadline`` seconds in all
    (None: from the environment, else CELL_TIMEOUT and RUN_DEADLINE)."""

    def __init__(self, cell_timeout=None, deadline=None):
        env = os.environ.get
        self.cell = float(cell_timeout or env("QUICKDRAW_CELL_TIMEOUT") or CELL_TIMEOUT)
        self.total = float(deadline or env("QUICKDRAW_RUN_DEADLINE") or RUN_DEADLINE)
        if self.cell <= 0 or self.total <= 0:
            raise SystemExit(f"timeouts must be positive seconds, got {self.cell} and {self.total}")
        self.ends = time.monotonic() + self.total
        self.by_deadline = False

    def for_cell(self):
        """Seconds the next cell may take: its timeout, or what is left of the run if less."""
        left = self.ends - time.monotonic()
        self.by_deadline = left < self.cell
        return max(int(min(self.cell, left)), 1)

    def check(self, name, current):
        if time.monotonic() >= self.ends:
            raise NotebookTimeout(self.message(name, current or {}, None, before=True))

    def message(self, name, current, out, before=False):
        if before:
            return f"the run's deadline ({self.total:.0f} s) passed before {name} started; stopped"
        first = next((line for line in current.get("source", "").splitlines() if line.strip()), "")
        cell = f"cell {current.get('number', '?')} of {current.get('of', '?')} ({first.strip()[:60]!r})"
        why = (
            f"the run's deadline of {self.total:.0f} s (--deadline, QUICKDRAW_RUN_DEADLINE) passed"
            if self.by_deadline
            else f"it ran longer than the cell timeout of {self.cell:.0f} s "
            "(--cell-timeout, QUICKDRAW_CELL_TIMEOUT)"
        )
        kept = f"; the notebook as far as it ran: {out}" if out else ""
        return f"{name}, code {cell}: stopped, {why}{kept}"


def check_types(params, paths):
    """Refuse a ``-p`` value whose type differs from the default of a notebook that declares it:
    a whole number for 5, a number for 0.1, a list of whole numbers for [2, 4], text for "x".

    Used by run_series.
    """
    import papermill as pm

    problems = []
    for path in paths:
        for name, info in pm.inspect_notebook(str(path)).items():
            if name not in params:
                continue
            try:
                default = ast.literal_eval(info["default"])
            except (ValueError, SyntaxError):
                continue
            if not _same_kind(params[name], default):
                problems.append(
                    f"{name} must be like its default {info['default']} "
                    + f"({_kind(default)}), got {params[name]!r}"
                )
    if problems:
        raise SystemExit("bad parameter: " + "; ".join(sorted(set(problems))))


def _kind(value):
    if isinstance(value, bool):
        return "True or False"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)) and value:
        return f"a list of {_kind(value[0]).removeprefix('a ')}s".replace("texts", "names")
    return type(value).__name__


def _same_kind(value, default):
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return False
        return not default or all(_same_kind(v, default[0]) for v in value)
    return True


@contextlib.contextmanager
def _locked(folder):
    """Hold ``folder``/.series-lock for the block; refuse if a live process holds it already."""
    folder = Path(folder).expanduser().resolve()
    if folder in _HELD:  # this process holds it already (--in-place: series, then solutions)
        yield folder
        return
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".series-lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise SystemExit(
                    f"another run (process {pid}) is writing into {folder} right now: wait for it, "
                    "or give this run another --run-dir / artifacts_dir"
                ) from None
            lock.unlink(missing_ok=True)  # left by a run that was killed
    else:
        raise SystemExit(f"could not take the lock {lock}")
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{os.getpid()}\n")
    _HELD.add(folder)
    try:
        yield folder
    finally:
        _HELD.discard(folder)
        lock.unlink(missing_ok=True)


_HELD = set()


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_run_dir(parent=None, stamp=None):
    """A new, empty folder ``runs/<date-time>`` (``-2``, ``-3`` ... when that one exists): created
    here, so two runs started in the same second get two folders.

    Used by main.
    """
    parent = Path(parent or REPO_DIR / "runs")
    parent.mkdir(parents=True, exist_ok=True)
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        candidate = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            candidate.mkdir()
            return candidate.resolve()
        except FileExistsError:
            continue
    raise SystemExit(f"no free run folder for {stamp} in {parent}")


def solutions(names=None):
    """The exercise solutions (``solutions/NN_<chapter>.ipynb``), in chapter order."""
    found = sorted(SOLUTION_DIR.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in found if not names or any(p.name.startswith(n) for n in names)]


def run_solutions(artifacts_dir, out_dir, names=None, smoke=False, log=print, limits=None):
    """Execute the solutions against the artifacts of a run of the series (``artifacts_dir``)
    into ``out_dir``; ``smoke`` adds each notebook's tiny ``smoke_parameters`` (tests).
    Returns {notebook name: seconds}; a failed assertion raises PapermillExecutionError."""
    import nbformat

    artifacts = Path(artifacts_dir).expanduser().resolve()
    if not (artifacts / "split.npz").is_file():
        raise SystemExit(
            f"{artifacts} holds no run of the series (no split.npz): run the series "
            "first (make run), or name the artifacts folder of a run"
        )
    seconds = {}
    for path in solutions(names):
        params = {"artifacts_dir": str(artifacts)}
        if smoke:
            params.update(nbformat.read(path, as_version=4).metadata.get("smoke_parameters", {}))
        out = Path(out_dir) / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        log(f"running solutions/{path.name}", flush=True)
        start = time.perf_counter()
        execute_notebook(path, out, params, cwd=SOLUTION_DIR, limits=limits)
        seconds[path.name] = time.perf_counter() - start
    return seconds


def stopped(err):
    """The runner's last words when a cell raised (a PapermillExecutionError from execute_notebook):
    the notebook and the cell, the error's own message, which says what to do, and where the
    executed notebook with the whole traceback lies. ``make run`` prints it instead of two
    tracebacks, the runner's and the notebook's."""
    notebook = getattr(err, "notebook", "a notebook")
    lines = [f"\n{notebook} stopped in cell [{err.exec_count}] with {err.ename}:", f"  {err.evalue}"]
    if getattr(err, "output", None):
        lines.append(f"The executed notebook, with the whole traceback: {err.output}")
    return "\n".join(lines)


def parse_value(text):
    """A -p value: a Python literal, else a YAML list or mapping, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.strip().startswith(("[", "{")):
            return yaml.safe_load(text)
        return text


def parse_params(pairs):
    return {name: parse_value(value) for name, value in pairs}


def execute_in_place(log=print, chapters=True, cell_timeout=None, deadline=None):
    """Re-execute the committed notebooks at their defaults (artifacts in ../artifacts), then the
    solutions against those artifacts; copy the results over the committed ones only if every
    notebook succeeded, and the exported networks (ONNX) into web/networks/, which the pages of a
    fresh clone use (tools/build_html.py). ``chapters=False``: only the solutions, against the
    artifacts already there."""
    import tempfile

    artifacts = REPO_DIR / "artifacts"
    with tempfile.TemporaryDirectory(prefix="quickdraw-notebooks-") as tmp:
        limits = _Limits(cell_timeout, deadline)
        with _locked(artifacts):  # run_series locks it again, as one process: allowed
            seconds = (
                run_series(tmp, {"artifacts_dir": str(artifacts)}, log=log, limits=limits) if chapters else {}
            )
            solved = run_solutions(artifacts, Path(tmp) / "solutions", log=log, limits=limits)
        seconds.update({f"solutions/{name}": s for name, s in solved.items()})
        done = [(p, Path(tmp) / "notebooks" / p.name) for p in (notebooks() if chapters else [])]
        done += [(p, Path(tmp) / "solutions" / p.name) for p in solutions()]
        from quickdraw_cnn.files import write_bytes

        for path, executed in done:
            write_bytes(path, _without_injected_cell(executed.read_text()).encode())
        if chapters:  # the networks these outputs came from, for the pages of a fresh clone (make html)
            for old in COMMITTED_NETWORKS.glob("model_*.onnx*"):
                old.unlink()
            for path in sorted(artifacts.glob("model_*.onnx*")):
                write_bytes(COMMITTED_NETWORKS / path.name, path.read_bytes())
    return seconds


def _without_injected_cell(text):
    """Drop papermill's injected-parameters cell and its run metadata (temporary paths): the
    committed notebooks show their own defaults. Also saved widget state: a headless run builds no
    widget, so any state there is left from an earlier session in JupyterLab, with its figures."""
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
    return nbformat.writes(nb) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="forwarded to every notebook that declares it",
    )
    ap.add_argument("--run-dir", help="output folder (default runs/<date-time>)")
    ap.add_argument("--only", nargs="*", help="run only notebooks whose name starts with these")
    ap.add_argument(
        "--cell-timeout",
        type=float,
        metavar="SECONDS",
        help=f"stop if one cell runs longer (default $QUICKDRAW_CELL_TIMEOUT or {CELL_TIMEOUT:.0f})",
    )
    ap.add_argument(
        "--deadline",
        type=float,
        metavar="SECONDS",
        help=f"stop if the whole run takes longer (default $QUICKDRAW_RUN_DEADLINE or {RUN_DEADLINE:.0f})",
    )
    ap.add_argument(
        "--in-place",
        action="store_true",
        help="re-execute the committed notebooks at their default parameters",
    )
    ap.add_argument(
        "--solutions",
        nargs="?",
        const=str(REPO_DIR / "runs" / "latest" / "artifacts"),
        metavar="ARTIFACTS_DIR",
        help="run the exercise solutions (solutions/) against the "
        "artifacts of a run of the series (default runs/latest/artifacts)",
    )
    args = ap.parse_args(argv)
    import papermill as pm

    try:
        return _main(ap, args)
    except pm.PapermillExecutionError as err:
        raise SystemExit(stopped(err)) from None


def _main(ap, args):
    if args.solutions:
        if args.parameter or args.in_place:
            ap.error("--solutions takes only --run-dir and --only")
        out = Path(args.run_dir or REPO_DIR / "runs" / time.strftime("solutions-%Y%m%d-%H%M%S"))
        seconds = run_solutions(
            args.solutions, out, args.only, limits=_Limits(args.cell_timeout, args.deadline)
        )
        print(
            f"\nran {len(seconds)} solutions in {sum(seconds.values()):.1f} s, every assertion held; "
            f"executed notebooks: {out.resolve()}"
        )
        return 0
    if args.in_place:
        if args.parameter or args.only or args.run_dir:
            ap.error("--in-place runs every notebook at its defaults: it takes no other option")
        seconds = execute_in_place(cell_timeout=args.cell_timeout, deadline=args.deadline)
        print(f"re-executed {len(seconds)} notebooks in place in {sum(seconds.values()):.0f} s")
        return 0
    params = parse_params(args.parameter)
    run_dir = Path(args.run_dir).resolve() if args.run_dir else new_run_dir()
    start = time.perf_counter()
    seconds = run_series(run_dir, params, args.only, cell_timeout=args.cell_timeout, deadline=args.deadline)
    total = time.perf_counter() - start
    latest = REPO_DIR / "runs" / "latest"
    if run_dir.parent == latest.parent:
        tmp_link = latest.with_name(f".latest-{os.getpid()}")
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(run_dir.name)
        os.replace(tmp_link, latest)  # atomic: two runs ending together leave one valid link
    artifacts = Path(params.get("artifacts_dir") or run_dir / "artifacts").expanduser().resolve()
    print(
        f"\nran {len(seconds)} notebooks in {total:.1f} s ("
        + ", ".join(f"{k[:2]}: {v:.1f} s" for k, v in seconds.items())
        + ")"
    )
    metrics_file = artifacts / "metrics.json"
    if any(name.startswith("05") for name in seconds) and metrics_file.is_file():
        shutil.copy(metrics_file, run_dir / "metrics.json")
        m = json.loads(metrics_file.read_text())
        print(
            f"model '{m['model']}': test accuracy {m['test']['accuracy']:.2%} (threshold 0.5) "
            f"on {m['test']['n']} drawings; the origin's astype(int) measure gives "
            f"{m['test']['accuracy_astype_int']:.2%}"
        )
        for name, conf in m.get("configurations", {}).items():
            if "independent" in conf:
                print(
                    f"  '{name}' on the independent sample: {conf['independent']['accuracy']:.2%} "
                    f"of {conf['independent']['n']} drawings"
                )
    many_file = artifacts / "multiclass_metrics.json"
    if any(name.startswith("08") for name in seconds) and many_file.is_file():
        m = json.loads(many_file.read_text())
        for name, conf in m["configurations"].items():
            print(
                f"08, {len(m['categories'])} categories, '{name}': top-1 {conf['test']['top1']:.2%}, "
                f"top-3 {conf['test']['top3']:.2%} on {conf['test']['n']} unseen drawings"
            )
    print(f"executed notebooks: {run_dir / 'notebooks'}")
    print(f"artifacts and figures: {artifacts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

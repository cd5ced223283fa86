"""Execute one notebook with papermill within time limits; any stop is a RunError naming notebook and cell."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from pathlib import Path

from quickdraw_cnn.errors import ParameterError, RunError
from quickdraw_cnn.progress import Progress

CELL_TIMEOUT = 3600.0  # seconds one cell may run (06's longest: a few minutes on 2 cores)
RUN_DEADLINE = 4 * 3600.0  # seconds a whole run may take (the series at its defaults: about 10 min)
LONGEST = 7 * 24 * 3600.0  # a time limit beyond a week is a typo


class Limits:
    """A run's time limits: ``cell_timeout`` seconds a cell, ``deadline`` in all (None: from
    $QUICKDRAW_CELL_TIMEOUT and $QUICKDRAW_RUN_DEADLINE, else the defaults), each from 1 s to a week,
    else a ParameterError naming the flag or the variable. Used by the runner."""

    def __init__(self, cell_timeout=None, deadline=None):
        def pick(given, flag, var, default):
            name, value = (flag, given) if given is not None else (var, os.environ.get(var) or default)
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not 1 <= number <= LONGEST:  # NaN fails this too
                raise ParameterError(
                    f"{name} must be a number of seconds from 1 to {LONGEST:.0f}, got {value!r}"
                )
            return number

        self.cell = pick(cell_timeout, "--cell-timeout", "QUICKDRAW_CELL_TIMEOUT", CELL_TIMEOUT)
        self.total = pick(deadline, "--deadline", "QUICKDRAW_RUN_DEADLINE", RUN_DEADLINE)
        self.ends = time.monotonic() + self.total

    def for_cell(self, cell=None):
        """nbclient's ``timeout_func``: the cell timeout, or what is left of the run if less."""
        return max(int(min(self.cell, self.ends - time.monotonic())), 1)

    def why(self):
        if time.monotonic() >= self.ends - 1:
            return f"the run's deadline of {self.total:.0f} s (--deadline, QUICKDRAW_RUN_DEADLINE) passed"
        return f"it ran past the cell timeout of {self.cell:.0f} s (--cell-timeout, QUICKDRAW_CELL_TIMEOUT)"


def kernel_manager_class(sync=False):
    """Kernels (papermill's here, nbval's in conftest.py; ``sync``: nbval's blocking kind) that talk over Unix
    sockets in a fresh folder, not TCP ports, which jupyter_client picks, lets go and hands to the kernel: a
    kernel starting elsewhere meanwhile can take one ("Address already in use", then "Kernel didn't respond":
    papermill#511).

    Used by execute_notebook.
    """
    from jupyter_client import AsyncKernelManager, KernelManager
    from traitlets import default

    base = KernelManager if sync else AsyncKernelManager
    if os.name == "nt":  # no Unix sockets in ZeroMQ there
        return base

    class UnixSocketKernelManager(base):
        @default("transport")
        def unix_sockets(self):
            return "ipc"

        @default("connection_file")
        def in_a_fresh_folder(self):  # the sockets: <folder>/kernel-ipc-1 ...
            return os.path.join(tempfile.mkdtemp(prefix="quickdraw-kernel-"), "kernel.json")

        def cleanup_ipc_files(self):  # at shutdown, after cleanup_connection_file
            super().cleanup_ipc_files()
            with contextlib.suppress(OSError):  # not empty on a restart: the connection file stays
                os.rmdir(os.path.dirname(self.connection_file))

    return UnixSocketKernelManager


def execute_notebook(path, out, parameters, cwd, limits=None, progress=None, env=None):
    """Execute ``path`` into ``out`` with papermill (kernel ``python3`` in ``cwd``: quiet, headless,
    ``env`` added), each cell within ``limits``, reporting to ``progress``. A stop raises RunError
    naming the notebook and the cell; ``out`` then shows where it stopped. Used by the runner."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    limits, name, env = limits or Limits(), Path(path).name, env or {}
    watch, cause, before = progress or Progress(name, live=False), None, {v: os.environ.get(v) for v in env}
    if time.monotonic() >= limits.ends:
        raise RunError(f"the run's deadline ({limits.total:.0f} s) passed before {name} started; stopped")
    for var in ("QUICKDRAW_DATA_DIR", "QUICKDRAW_CACHE_DIR", "QUICKDRAW_EXPERIMENT_CACHE"):
        if os.environ.get(var):  # absolute: kernels run in another folder
            os.environ[var] = str(Path(os.environ[var]).expanduser().resolve())
    os.environ.update({"QUICKDRAW_QUIET": "1", "QUICKDRAW_HEADLESS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **env})
    options = dict(kernel_name="python3", cwd=str(cwd), progress_bar=False, **watch.hooks())
    options.update(kernel_manager_class=kernel_manager_class(), timeout_func=limits.for_cell)
    try:
        quiet = ["--IPKernelApp.log_level=CRITICAL"]  # the kernel's own log stays out of the terminal
        return pm.execute_notebook(str(path), str(out), parameters, extra_arguments=quiet, **options)
    except pm.PapermillExecutionError as err:
        stop = RunError(
            f"{name} stopped in cell [{err.exec_count}] ({watch.where()}) with {err.ename}:\n  {err.evalue}\n"
            f"The executed notebook, with the whole traceback: {out}"
        )
        stop.ename, stop.evalue = err.ename, err.evalue
    except (CellTimeoutError, DeadKernelError, KeyboardInterrupt) as err:
        why, cause = "interrupted (Ctrl-C)", err
        if not isinstance(err, KeyboardInterrupt):
            died = "its kernel died: killed, or out of memory (close other programs, or lower parameters)"
            why = limits.why() if isinstance(err, CellTimeoutError) else died
        mark_failed(out, watch.cell, type(err).__name__, why)
        stop = RunError(f"{name}, {watch.where()}: stopped, {why}; the notebook as far as it ran: {out}")
    finally:
        for var, value in before.items():
            os.environ.pop(var) if value is None else os.environ.update({var: value})
    stop.notebook, stop.output, stop.interrupted = name, Path(out), isinstance(cause, KeyboardInterrupt)
    raise stop from cause


def mark_failed(out, index, ename, why):
    """Mark the executed notebook ``out`` failed at cell ``index`` (an error output saying ``why``), the
    cells after it not run: papermill marks them completed when the kernel dies. Used by execute_notebook."""
    import nbformat

    from quickdraw_cnn.files import write_bytes

    try:
        nb = nbformat.read(out, as_version=4)
    except (OSError, ValueError):
        return  # papermill wrote nothing yet
    nb.metadata.setdefault("papermill", {})["exception"] = True
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.setdefault("papermill", {})
        if i == index:
            meta.update(status="failed", exception=True)
            cell.outputs.append(nbformat.v4.new_output("error", ename=ename, evalue=why, traceback=[why]))
        elif index is None or i > index:
            meta["status"] = "pending"
    write_bytes(out, nbformat.writes(nb).encode())

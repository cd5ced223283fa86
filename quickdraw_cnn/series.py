"""Run the notebook series in order with papermill: ``python -m quickdraw_cnn.series [-p NAME VALUE ...]``.

A run gets a folder of its own, ``runs/<date-time>/``: executed notebooks, ``artifacts/``, ``metrics.json``;
``runs/latest`` points at the newest complete run (not an ``--only`` run, nor one that stopped). ``-p``
goes to every notebook that declares it, checked before any runs: a Python literal, a YAML list
(``[cat, dog]``) or text. A run that stops names the notebook and the cell. ``--solutions`` runs the
exercise solutions against a run's artifacts; ``--in-place`` re-executes the committed notebooks.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from quickdraw_cnn import parameters
from quickdraw_cnn.errors import ParameterError, QuickDrawError, RunError, WriteError
from quickdraw_cnn.execute import Limits, execute_notebook
from quickdraw_cnn.progress import Progress

REPO_DIR = Path(__file__).resolve().parent.parent  # the repository: quickdraw_cnn/..
NOTEBOOK_DIR, SOLUTION_DIR = REPO_DIR / "notebooks", REPO_DIR / "solutions"
LOCK_NAME, ANOTHER = ".series-lock", "give this run another folder (--run-dir, -p artifacts_dir)"


def notebooks(names=None, folder=None):
    """The notebooks in order, chapters then appendices (``A1_...``); ``names``: those starting so."""
    where = Path(folder or NOTEBOOK_DIR)
    found = sorted(where.glob("[0-9][0-9]_*.ipynb")) + sorted(where.glob("A[0-9]_*.ipynb"))
    found = [p for p in found if not names or any(p.name.startswith(n) for n in names)]
    if not found and folder is None:
        raise ParameterError(f"no notebook in {where} starts with {' or '.join(names or ['NN_'])}")
    return found


def solutions(names=None):
    """The exercise solutions (``solutions/NN_<chapter>.ipynb``), in chapter order."""
    return notebooks(names, SOLUTION_DIR)


def declared_parameters(path):
    """Names of the parameters a notebook declares in its cell tagged `parameters`."""
    import papermill as pm

    return set(pm.inspect_notebook(str(path)))


def parse_params(pairs):
    """-p values: a Python literal, else a YAML list or mapping, else the text itself."""

    def value(text):
        with contextlib.suppress(ValueError, SyntaxError):
            return ast.literal_eval(text)
        return yaml.safe_load(text) if text.strip().startswith(("[", "{")) else text

    return {name: value(text) for name, text in pairs}


_HELD = set()  # folders this process holds (--in-place: the series, then the solutions)
if os.name == "nt":  # the C runtime's lock of the file's first byte
    import msvcrt

    lock_file = lambda fd: msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    lock_file = lambda fd: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _take(path):
    """The lock file ``path``, locked by the OS, which releases it however the process ends (no lock is
    ever stale); its process number in it. None while another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            lock_file(fd)
        except OSError:
            return os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:  # not removed by its last holder meanwhile
                os.ftruncate(fd, 0)  # a killed run's number may be there
                os.write(fd, f"{os.getpid()}\n".encode())
                return fd
        os.close(fd)


@contextlib.contextmanager
def locked(folder):
    """Hold ``folder``'s lock for the block: a run into the same folder meanwhile is refused."""
    folder, fd, holder = Path(folder).expanduser().resolve(), None, None
    try:
        if folder not in _HELD:
            folder.mkdir(parents=True, exist_ok=True)
            fd = _take(folder / LOCK_NAME)
            holder = None if fd is not None else (folder / LOCK_NAME).read_text().strip() or "not written yet"
    except OSError as err:
        raise WriteError(f"cannot write into {folder} ({err.strerror}): {ANOTHER} it can write") from None
    if holder:
        raise WriteError(f"another run (process {holder}) is writing into {folder}: wait, or {ANOTHER}")
    _HELD.add(folder)
    try:
        yield folder
    finally:
        if fd is not None:
            _HELD.discard(folder)
            with contextlib.suppress(OSError):  # while still locked: a run waiting on it retries anew
                os.unlink(folder / LOCK_NAME)
            os.close(fd)


def new_run_dir(parent=None, stamp=None):
    """A new, empty ``runs/<date-time>`` (``-2``, ``-3`` ... when taken), made here: two runs
    started in the same second get two folders."""
    parent, stamp = Path(parent or REPO_DIR / "runs"), stamp or time.strftime("%Y%m%d-%H%M%S")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            with contextlib.suppress(FileExistsError):
                (folder := parent / (stamp if n == 1 else f"{stamp}-{n}")).mkdir()
                return folder.resolve()
    except OSError as err:
        raise WriteError(f"cannot make a run folder in {parent} ({err.strerror}): use --run-dir") from None
    raise WriteError(f"no free run folder for {stamp} in {parent}: use --run-dir")


def checked(params, names=None, artifacts=None):
    """({notebook: the parameters it declares}, the artifacts folder) for the notebooks ``names`` name,
    every value checked (a name none declares too), ``*_dir``/``*_path`` values made absolute."""
    resolve = lambda k, v: str(Path(v).expanduser().resolve()) if k.endswith(("_dir", "_path")) and v else v
    params = {k: resolve(k, v) if isinstance(v, str) else v for k, v in (params or {}).items()}
    declared = {p: declared_parameters(p) for p in notebooks(names)}
    if unknown := sorted(set(params) - set().union(*declared.values())):
        raise ParameterError(f"no notebook declares the parameter(s) {unknown}")
    params.setdefault("artifacts_dir", str(artifacts))
    mine = {p: {k: v for k, v in params.items() if k in known} for p, known in declared.items()}
    for path, given in mine.items():  # every notebook's parameters, before the first one runs
        parameters.check(path, given)
    return mine, params["artifacts_dir"]


def run_series(run_dir, params=None, names=None, log=print, progress=None, limits=None, env=None):
    """Execute the notebooks into ``run_dir``/notebooks; return {notebook name: seconds}. Checks every
    parameter first; holds the locks of ``run_dir`` and the artifacts folder. ``progress``: draw the
    live line (default: in a terminal, not under CI); ``env``: added to the kernels' environment."""
    from quickdraw_cnn.data import PROGRESS_FILE_ENV

    run_dir, limits = Path(run_dir).resolve(), limits or Limits()
    mine, artifacts = checked(params, names, run_dir / "artifacts")
    seconds, status = {}, run_dir / ".download-progress"  # downloads report here (quickdraw_cnn.data)
    kernel_env = {PROGRESS_FILE_ENV: str(status), **(env or {})}
    with locked(run_dir), locked(artifacts):
        for path in mine:
            (run_dir / "notebooks").mkdir(exist_ok=True)
            log(f"running {path.name} {mine[path]}", flush=True)
            start, out = time.perf_counter(), run_dir / "notebooks" / path.name
            with Progress(path.name, mine[path], live=progress, status_file=status) as watch:
                execute_notebook(path, out, mine[path], NOTEBOOK_DIR, limits, watch, kernel_env)
            status.unlink(missing_ok=True)
            seconds[path.name] = time.perf_counter() - start
    return seconds


def run_solutions(artifacts_dir, out_dir, names=None, smoke=False, log=print, limits=None):
    """Execute the solutions against a run's artifacts into ``out_dir`` (``smoke``: with each one's
    tiny ``smoke_parameters``); return {notebook name: seconds}."""
    import nbformat

    artifacts, seconds = Path(artifacts_dir).expanduser().resolve(), {}
    if not (artifacts / "split.npz").is_file():
        raise RunError(f"{artifacts} holds no run of the series: run it first (make run), or name a run's")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for path in solutions(names):
        smoke_parameters = nbformat.read(path, as_version=4).metadata.get("smoke_parameters", {})
        log(f"running solutions/{path.name}", flush=True)
        params = {"artifacts_dir": str(artifacts), **(smoke_parameters if smoke else {})}
        start = time.perf_counter()
        execute_notebook(path, Path(out_dir) / path.name, params, SOLUTION_DIR, limits or Limits())
        seconds[path.name] = time.perf_counter() - start
    return seconds


def execute_in_place(log=print, limits=None):
    """Re-execute the committed notebooks at their defaults (artifacts in ../artifacts), then the
    solutions against those artifacts; replace the committed ones only if every one of them ran."""
    import nbformat

    from quickdraw_cnn.files import write_bytes

    artifacts, limits = REPO_DIR / "artifacts", limits or Limits()
    with tempfile.TemporaryDirectory(prefix="quickdraw-notebooks-") as tmp, locked(artifacts):
        seconds = run_series(tmp, {"artifacts_dir": str(artifacts)}, log=log, limits=limits)
        solved = run_solutions(artifacts, f"{tmp}/solutions", log=log, limits=limits)
        seconds.update({f"solutions/{name}": s for name, s in solved.items()})
        done = [(p, f"{tmp}/notebooks/{p.name}") for p in notebooks()]
        for path, executed in done + [(p, f"{tmp}/solutions/{p.name}") for p in solutions()]:
            nb = nbformat.read(executed, as_version=4)  # less papermill's injected cell and run data
            nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
            for meta in [nb.metadata, *(c.metadata for c in nb.cells)]:
                meta.pop("papermill", None)
            nb.metadata.pop("widgets", None)  # a headless run builds no widget: state of a session
            write_bytes(path, (nbformat.writes(nb) + "\n").encode())
    return seconds


def headline(metrics, where=""):
    """``  test.accuracy: 97.90%`` for each accuracy on test or independent drawings in a metrics JSON."""
    if isinstance(metrics, dict):
        return [line for k, v in metrics.items() for line in headline(v, f"{where}.{k}".lstrip("."))]
    kind, wanted = where.rsplit(".")[-1], "test" in where or "independent" in where
    return [f"  {where}: {metrics:.2%}"] if wanted and kind in ("accuracy", "top1", "auroc") else []


def finish(run_dir, artifacts, seconds, total):
    """Point runs/latest at a complete run; say what ran, where it is, and its headline figures."""
    latest, complete = REPO_DIR / "runs" / "latest", len(seconds) == len(notebooks())
    if complete and run_dir.parent == latest.parent:
        (link := latest.with_name(f".latest-{os.getpid()}")).unlink(missing_ok=True)
        link.symlink_to(run_dir.name)
        os.replace(link, latest)  # atomic: two runs ending together leave one valid link
    times = ", ".join(f"{k[:2]}: {v:.1f} s" for k, v in seconds.items())
    print(f"\nran {len(seconds)} notebooks in {total:.1f} s ({times})")
    if not complete:
        print(f"runs/latest left as it was: this run ran {len(seconds)} of the {len(notebooks())} notebooks")
    for path in sorted(artifacts.glob("*metrics.json")):
        shutil.copy(path, run_dir / path.name)
        print(f"{path.name}:", *headline(json.loads(path.read_text()))[:12], sep="\n")
    print(f"executed notebooks: {run_dir / 'notebooks'}\nartifacts and figures: {artifacts}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    add("--run-dir", help="output folder (default runs/<date-time>)")
    add("--only", nargs="*", help="run only the notebooks whose names start with these")
    add("--cell-timeout", metavar="SECONDS", help="default $QUICKDRAW_CELL_TIMEOUT, else 3600")
    add("--deadline", metavar="SECONDS", help="default $QUICKDRAW_RUN_DEADLINE, else 14400")
    add("--in-place", action="store_true")
    add("--solutions", nargs="?", const=str(REPO_DIR / "runs/latest/artifacts"), metavar="ARTIFACTS_DIR")
    args = ap.parse_args(argv)
    if (args.solutions or args.in_place) and args.parameter or args.in_place and (args.only or args.run_dir):
        ap.error("--solutions takes --run-dir, --only and the time limits; --in-place only the time limits")
    logging.getLogger("papermill").setLevel(logging.CRITICAL)  # nbclient's log of a stop we report
    try:
        return _main(args, Limits(args.cell_timeout, args.deadline))
    except QuickDrawError as err:  # its message says what happened and what to do: no traceback
        print(f"\n{err}", file=sys.stderr)
        return 130 if getattr(err, "interrupted", False) else 1
    except KeyboardInterrupt:
        return print("\nstopped (Ctrl-C)", file=sys.stderr) or 130


def _main(args, limits):
    start = time.perf_counter()
    if args.solutions:
        out = Path(args.run_dir or REPO_DIR / "runs" / time.strftime("solutions-%Y%m%d-%H%M%S")).resolve()
        seconds = run_solutions(args.solutions, out, args.only, limits=limits)
        print(f"\nran {len(seconds)} solutions, every assertion held; executed notebooks: {out}")
    elif args.in_place:
        seconds = execute_in_place(limits=limits)
        print(f"re-executed {len(seconds)} notebooks in place in {time.perf_counter() - start:.0f} s")
    else:
        params = parse_params(args.parameter)
        checked(params, args.only, "artifacts")  # bad input: refused before a run folder is made
        run_dir = Path(args.run_dir).resolve() if args.run_dir else new_run_dir()
        seconds = run_series(run_dir, params, args.only, limits=limits)
        artifacts = Path(params.get("artifacts_dir") or run_dir / "artifacts").expanduser().resolve()
        finish(run_dir, artifacts, seconds, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the notebook series in order with papermill: ``python -m quickdraw_cnn.series [-p NAME VALUE ...]``.

Each run gets a folder of its own, ``runs/<date-time>/`` (``-2``, ``-3`` ... in the same second): the
executed notebooks, ``artifacts/`` (what one chapter hands the next, figures included) and
``metrics.json``. ``runs/latest`` points at the newest complete run (an ``--only`` run, or one that
stopped, leaves it). ``-p`` goes to every notebook that declares it, checked before any runs: a
Python literal, a YAML list (``[cat, dog]``) or text; relative ``*_dir``/``*_path`` values are taken
from where you run the command. Limits: ``--cell-timeout`` a cell, ``--deadline`` a run; a run that
stops names the notebook and the cell. Two runs into the same run or artifacts folder: refused.
``--solutions [ARTIFACTS_DIR]`` runs the exercise solutions against a run's artifacts (default
``runs/latest/artifacts``); ``--in-place`` re-executes the committed notebooks at their defaults, then
the solutions, and replaces the committed ones only if every one of them ran.
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

from quickdraw_cnn.errors import ParameterError, QuickDrawError, RunError, WriteError
from quickdraw_cnn.execute import Limits, execute_notebook
from quickdraw_cnn.progress import Progress, load_timings, save_timings, timing_key

REPO_DIR = Path(__file__).resolve().parent.parent  # the repository: quickdraw_cnn/..
NOTEBOOK_DIR = REPO_DIR / "notebooks"
SOLUTION_DIR = REPO_DIR / "solutions"
LOCK_NAME = ".series-lock"


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


def _same_kind(value, default):
    if isinstance(default, (bool, int, float)) and isinstance(value, bool) != isinstance(default, bool):
        return False
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple)) and (
            not default or all(_same_kind(v, default[0]) for v in value)
        )
    kinds = {int: int, float: (int, float), str: str}
    return type(default) not in kinds or isinstance(value, kinds[type(default)])


# MERGE: this function is replaced by quickdraw_cnn.parameters.check(path, params).
def check_parameter_types(path, params):
    """Refuse a ``-p`` value whose type differs from the notebook's default (a whole number for 5, a
    number for 0.1, a list of whole numbers for [2, 4], text for "x"): ParameterError."""
    import papermill as pm

    for name, info in pm.inspect_notebook(str(path)).items():
        try:
            default = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            continue
        if name in params and not _same_kind(params[name], default):
            raise ParameterError(
                f"-p {name} must be like its default {info['default']}, got {params[name]!r}"
            )


def parse_params(pairs):
    """-p values: a Python literal, else a YAML list or mapping, else the text itself."""

    def value(text):
        with contextlib.suppress(ValueError, SyntaxError):
            return ast.literal_eval(text)
        return yaml.safe_load(text) if text.strip().startswith(("[", "{")) else text

    return {name: value(text) for name, text in pairs}


_HELD = set()  # folders this process holds (--in-place: the series, then the solutions)


def _take(path):
    """The lock file ``path`` opened and locked by the OS, which releases it however the process
    ends (no lock is ever stale); None while another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:  # not removed by its last holder meanwhile
                os.write(fd, f"{os.getpid()}\n".encode())  # for the message of a run refused
                return fd
        os.close(fd)


@contextlib.contextmanager
def locked(folder):
    """Hold ``folder``'s lock for the block: a run into the same folder meanwhile is refused."""
    folder, fd = Path(folder).expanduser().resolve(), None
    try:
        if folder not in _HELD:
            folder.mkdir(parents=True, exist_ok=True)
            fd = _take(folder / LOCK_NAME)
            if fd is None:
                holder = (folder / LOCK_NAME).read_text().strip() or "not written yet"
                raise WriteError(
                    f"another run (process {holder}) is writing into {folder}: wait for it, or "
                    "give this run another folder (--run-dir, -p artifacts_dir)"
                )
    except OSError as err:
        if isinstance(err, WriteError):
            raise
        raise WriteError(
            f"cannot write into {folder} ({err.strerror or err}): give the run a writable "
            "folder (--run-dir, -p artifacts_dir)"
        ) from None
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
    """A new, empty folder ``runs/<date-time>`` (``-2``, ``-3`` ... when taken), made here: two
    runs started in the same second get two folders."""
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


def run_series(run_dir, params=None, names=None, log=print, progress=None, limits=None, env=None):
    """Execute the notebooks into ``run_dir``/notebooks; return {notebook name: seconds}. Checks
    every parameter first; holds the lock of ``run_dir`` and of the artifacts folder. ``progress``:
    draw the live line (default: in a terminal, not under CI); ``limits``: a Limits; ``env``: added
    to the kernels' environment."""
    from quickdraw_cnn.data import PROGRESS_FILE_ENV

    resolve = lambda k, v: str(Path(v).expanduser().resolve()) if k.endswith(("_dir", "_path")) and v else v
    params = {k: resolve(k, v) if isinstance(v, str) else v for k, v in (params or {}).items()}
    paths, run_dir, limits = notebooks(names), Path(run_dir).resolve(), limits or Limits()
    declared = {p: declared_parameters(p) for p in paths}
    if set(params) - set().union(*declared.values()):
        raise ParameterError(
            f"no notebook declares the parameter(s) {sorted(set(params) - set().union(*declared.values()))}"
        )
    params.setdefault("artifacts_dir", str(run_dir / "artifacts"))
    mine = {p: {k: v for k, v in params.items() if k in declared[p]} for p in paths}
    for path in paths:  # every notebook's parameters, before the first one runs
        check_parameter_types(path, mine[path])
    seconds, status = {}, run_dir / ".download-progress"  # downloads report here (quickdraw_cnn.data)
    with locked(run_dir), locked(params["artifacts_dir"]):
        for path in paths:
            (run_dir / "notebooks").mkdir(exist_ok=True)
            log(f"running {path.name} {mine[path]}", flush=True)
            key, start = timing_key(path.name, mine[path]), time.perf_counter()
            with Progress(path.name, load_timings().get(key), live=progress, status_file=status) as watch:
                out, kernel_env = (
                    run_dir / "notebooks" / path.name,
                    {PROGRESS_FILE_ENV: str(status), **(env or {})},
                )
                execute_notebook(path, out, mine[path], NOTEBOOK_DIR, limits, watch, kernel_env)
            status.unlink(missing_ok=True)
            seconds[path.name] = time.perf_counter() - start
            if len(watch.seconds) == watch.total:
                save_timings(key, [round(t, 2) for t in watch.seconds])
    return seconds


def run_solutions(artifacts_dir, out_dir, names=None, smoke=False, log=print, limits=None):
    """Execute the solutions against a run's artifacts into ``out_dir``; ``smoke`` adds each one's
    tiny ``smoke_parameters`` (tests). Returns {notebook name: seconds}."""
    import nbformat

    artifacts, seconds = Path(artifacts_dir).expanduser().resolve(), {}
    if not (artifacts / "split.npz").is_file():
        raise RunError(
            f"{artifacts} holds no run of the series (no split.npz): run the series first "
            "(make run), or name the artifacts folder of a run"
        )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for path in solutions(names):
        smoke_parameters = nbformat.read(path, as_version=4).metadata.get("smoke_parameters", {})
        log(f"running solutions/{path.name}", flush=True)
        start = time.perf_counter()
        params = {"artifacts_dir": str(artifacts), **(smoke_parameters if smoke else {})}
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
        solved = run_solutions(artifacts, Path(tmp) / "solutions", log=log, limits=limits)
        seconds.update({f"solutions/{name}": s for name, s in solved.items()})
        executed = [(p, f"{tmp}/notebooks/{p.name}") for p in notebooks()]
        for path, done in executed + [(p, f"{tmp}/solutions/{p.name}") for p in solutions()]:
            nb = nbformat.read(done, as_version=4)  # less papermill's injected cell and run data
            nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
            for meta in [nb.metadata, *(c.metadata for c in nb.cells)]:
                meta.pop("papermill", None)
            nb.metadata.pop("widgets", None)  # a headless run builds no widget: state of a session
            write_bytes(path, (nbformat.writes(nb) + "\n").encode())
    return seconds


def headline(metrics, where=""):
    """``  test.accuracy: 97.90%`` for each accuracy measured on test or independent drawings in a
    metrics JSON, whatever its layout."""
    if isinstance(metrics, dict):
        return [line for k, v in metrics.items() for line in headline(v, f"{where}.{k}".lstrip("."))]
    wanted = where.rsplit(".")[-1] in ("accuracy", "top1", "auroc") and (
        "test" in where or "independent" in where
    )
    return [f"  {where}: {metrics:.2%}"] if wanted and isinstance(metrics, float) else []


def finish(run_dir, artifacts, seconds, total):
    """Point runs/latest at a complete run; say what ran, where it is, and its headline figures."""
    latest, complete = REPO_DIR / "runs" / "latest", len(seconds) == len(notebooks())
    if complete and run_dir.parent == latest.parent:
        link = latest.with_name(f".latest-{os.getpid()}")
        link.unlink(missing_ok=True)
        link.symlink_to(run_dir.name)
        os.replace(link, latest)  # atomic: two runs ending together leave one valid link
    times = ", ".join(f"{k[:2]}: {v:.1f} s" for k, v in seconds.items())
    print(f"\nran {len(seconds)} notebooks in {total:.1f} s ({times})")
    if not complete:
        print(f"runs/latest left as it was: this run ran {len(seconds)} of the {len(notebooks())} notebooks")
    for path in sorted(artifacts.glob("*metrics.json")):
        if path.name == "metrics.json":
            shutil.copy(path, run_dir / "metrics.json")
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
        print("\nstopped (Ctrl-C)", file=sys.stderr)
        return 130


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
        run_dir = Path(args.run_dir).resolve() if args.run_dir else new_run_dir()
        seconds = run_series(run_dir, params, args.only, limits=limits)
        artifacts = Path(params.get("artifacts_dir") or run_dir / "artifacts").expanduser().resolve()
        finish(run_dir, artifacts, seconds, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The experiment cache: ``run`` computes each result once, side by side, and finds it on every later run."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import re
import sys
from pathlib import Path

import numpy as np

from quickdraw_cnn.errors import ParameterError, WorkerError
from quickdraw_cnn.files import REPO_DIR, write_json


def experiment_cache_dir():
    """The folder where ``run`` keeps results: ``$QUICKDRAW_EXPERIMENT_CACHE``, else ``cache/experiments``.

    Explained in 06_experiments.ipynb
    """
    folder = os.environ.get("QUICKDRAW_EXPERIMENT_CACHE") or REPO_DIR / "cache" / "experiments"
    return Path(folder).expanduser().resolve()  # made by the first result cached there


def fingerprint(*arrays):
    """A short hash of arrays' contents, to tell whether two results came from the same data.

    Explained in 04_training.ipynb
    """
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:16]


def run(function, calls, version="1", **shared):
    """``[function(**call, **shared) for call in calls]``, each result from the experiment cache when there;
    the missing ones computed side by side, one process per core, each with one TensorFlow thread.

    Explained in 06_experiments.ipynb
    """
    calls = [dict(call) for call in calls]
    name = getattr(function, "__name__", None)
    if not callable(function) or not name or not isinstance(version, str):
        raise ParameterError(
            f"run needs a named function and a version string, got {function!r} and {version!r}: "
            'define the function with def and pass version="1" (a string)'
        )
    for call in calls:
        if both := sorted(set(call) & set(shared)):
            raise ParameterError(f"{both} given both in a call and shared: give each once")
    plain_shared = _plain(shared)  # fingerprinted once, not once per call
    keys = [{"function": name, "version": version, "call": _plain(c), "shared": plain_shared} for c in calls]
    folder = experiment_cache_dir()
    stem = re.sub(r"\W", "_", name)  # a lambda's "<lambda>" is no file name everywhere
    paths = [folder / f"{stem}-{_digest(key)[:16]}.json" for key in keys]
    results = [_read(path, key) for path, key in zip(paths, keys)]

    def keep(i, result):
        results[i] = _store(paths[i], keys[i], result, f"{name}({_shown(calls[i])})")

    missing = _largest_first([i for i, r in enumerate(results) if r is None], calls, shared)
    if missing:  # always in worker processes of one TensorFlow thread: a result does not depend on
        # how many were missing (TensorFlow's results differ with its thread count)
        _side_by_side(function, [(i, calls[i]) for i in missing], shared, keep)
    return results


def _plain(value):
    """A value as the key holds it: arrays by fingerprint, containers element by element."""
    if isinstance(value, np.ndarray):
        return {"array": fingerprint(value)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ParameterError(
        f"the experiment cache cannot key a {type(value).__name__} ({value!r:.60}): pass arrays, numbers, "
        "strings, lists and dicts of them to run"
    )


def _digest(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _shown(call):
    return ", ".join(f"{k}={v!r:.40}" for k, v in call.items())


def _read(path, key):
    """The result stored at ``path`` for ``key``, or None (a bad entry is named on stderr, computed again)."""
    if not path.exists():
        return None
    try:
        entry = json.loads(path.read_text())
        if entry["key"] != key:
            problem = "holds another key"
        elif entry["result"] is None or entry["checksum"] != _digest(entry["result"]):
            problem = "holds a result that does not match its checksum (edited or cut short)"
        else:
            return entry["result"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = f"is unreadable ({type(error).__name__})"
    print(f"experiment cache: {path.name} {problem}: computing it again", file=sys.stderr, flush=True)
    return None


def _store(path, key, result, what):
    """Write ``result`` with its key, version and checksum to ``path``; return it as JSON gives it
    back. A result JSON cannot hold (or None) raises before anything is written; a cache that
    cannot be written (read-only, full) is named in one line and the result still returned."""
    try:
        plain = json.loads(json.dumps(result, default=_as_json))
    except (TypeError, ValueError) as error:
        plain, problem = None, str(error)
    else:
        problem = "None"
    if plain is None:
        raise ParameterError(
            f"{what} returned what the experiment cache cannot store ({problem}): return numbers, "
            "strings, lists and dicts of them"
        )
    entry = {"key": key, "version": key["version"], "checksum": _digest(plain), "result": plain}
    try:
        write_json(path, entry)
    except OSError as error:  # a read-only or full cache: the result is right, only not kept
        print(f"experiment cache: {what} not kept ({error})", file=sys.stderr, flush=True)
    return plain


def _as_json(value):
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"a {type(value).__name__} is not JSON")


def _largest_first(indices, calls, shared):
    """``indices`` ordered by a rough size of each call (epochs x training drawings), largest first."""

    def size(i):
        settings = {**shared, **calls[i]}
        try:
            labels = np.asarray(settings["data"][settings["train"]][1])
            n = int((labels < settings["classes"]).sum()) if "classes" in settings else len(labels)
            return float(settings.get("epochs", 1)) * n
        except (KeyError, TypeError, IndexError, ValueError):
            return 0.0

    return sorted(indices, key=lambda i: -size(i))  # a stable sort: equal sizes keep their order


_SHARED = {}


def _worker_start(shared, threads, tensorflow):
    """A worker process gets ``threads`` TensorFlow threads (TensorFlow is started here, quietly, when
    the calling process uses it) and keeps ``shared`` (sent once when it starts, not with every call)."""
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    if tensorflow:
        from quickdraw_cnn.environment import import_tensorflow_quietly

        tf = import_tensorflow_quietly()
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf.get_logger().setLevel("ERROR")  # no retracing notes: a worker's stderr is the notebook's
    _SHARED.clear()
    _SHARED.update(shared)


def _worker_call(blob, call):
    import cloudpickle

    return cloudpickle.loads(blob)(**call, **_SHARED)


def _side_by_side(function, jobs, shared, keep, threads=1):
    """``function(**call, **shared)`` for each ``(i, call)`` of ``jobs`` in spawned processes, one per
    core, ``threads`` TensorFlow threads each; ``keep(i, result)`` as each finishes."""
    import cloudpickle

    blob = cloudpickle.dumps(function)
    workers = max(1, min(os.cpu_count() or 1, len(jobs)))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        workers, context, _worker_start, (shared, threads, "tensorflow" in sys.modules)
    ) as pool:
        futures = {pool.submit(_worker_call, blob, call): i for i, call in jobs}
        try:
            for future in concurrent.futures.as_completed(futures):
                keep(futures[future], future.result())
        except concurrent.futures.process.BrokenProcessPool as error:
            raise WorkerError(
                f"a worker process of the experiment cache died while computing {function.__name__} "
                "(out of memory?): the results finished so far are cached; run again, or with fewer "
                "calls at a time"
            ) from error
        finally:
            pool.shutdown(cancel_futures=True)

"""The experiment cache shared by every run: a result computed once is never trained again.

A result is stored under a hash of everything it depends on: the settings a chapter passes, the
fingerprints of its drawings, the Keras version and the source of the training code. So a second
``make run`` at the same parameters trains nothing, and a larger grid computes only what is new.
Importing this module loads no TensorFlow.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import warnings
from pathlib import Path

from quickdraw_cnn.files import REPO_DIR, write_json


def _code_version():
    """Versions of what a training result depends on besides its data: Keras and the code."""
    import inspect

    import keras

    import helpers

    code = "".join(
        inspect.getsource(f)
        for f in (
            helpers.build_cnn,
            helpers.train,
            helpers.validation_slice,
            helpers.scale,
            helpers.predict_proba,
            helpers.accuracy,
        )
    )
    return f"keras {keras.__version__}, code {hashlib.sha256(code.encode()).hexdigest()[:12]}"


def experiment_cache_dir():
    """The folder where ``cached`` keeps experiment results, shared by every run so that a rerun
    at the same parameters trains nothing: ``$QUICKDRAW_EXPERIMENT_CACHE``, else ``cache/experiments``
    in the repository. Results are keyed by everything they depend on, so sharing is safe.

    Explained in 06_experiments.ipynb
    """
    folder = os.environ.get("QUICKDRAW_EXPERIMENT_CACHE") or REPO_DIR / "cache" / "experiments"
    return Path(folder).expanduser().resolve()  # made by the first result cached there


def _entry_path(folder, key):
    """Used by cached and run_many: the file that holds ``key``'s result."""
    blob = json.dumps(key, sort_keys=True)
    return Path(folder) / f"{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"


def _read_entry(path, key):
    """Used by cached and run_many: the result stored at ``path`` for ``key``, or None when there
    is none; a bad entry (unreadable, another key, ``"result": null``) is named in a warning."""
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
        if stored["key"] == key and stored["result"] is not None:
            return stored["result"]
        problem = 'holds "result": null' if stored["key"] == key else "holds another key"
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = f"is unreadable ({type(error).__name__})"
    warnings.warn(f"experiment cache entry {path} {problem}: computing it again", stacklevel=3)
    return None


def _full_key(key):
    return json.loads(json.dumps({**key, "version": _code_version()}, sort_keys=True, default=str))


def cached(folder, key, compute):
    """``compute()``'s JSON-able result, stored in ``folder`` under a hash of ``key`` (a dict of
    everything the result depends on; the Keras version and the training code are added): a
    rerun with the same key recomputes nothing. A bad cache entry is named in a warning and
    computed again.

    Explained in 06_experiments.ipynb
    """
    key = _full_key(key)
    path = _entry_path(folder, key)
    result = _read_entry(path, key)
    if result is None:
        result = compute()
        write_json(path, {"key": key, "result": result})
    return result


_DATA = {}


def _worker_start(data, threads):
    """Used by run_many and cached_calls: a worker process gets ``threads`` TensorFlow threads and
    keeps the shared data (sent once when it starts, not with every task)."""
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import helpers  # imports TensorFlow quietly

    del helpers
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.get_logger().setLevel("ERROR")  # no retracing notes: a worker's stderr is the notebook's
    _DATA.clear()
    _DATA.update(data)


def _worker_run(task, setting):
    """Used by run_many: one task in a worker process."""
    return task(setting, _DATA)


def _worker_call(function, call):
    """Used by cached_calls: ``function`` (sent with cloudpickle) called with the worker's shared
    arguments and one call's own."""
    import cloudpickle

    return cloudpickle.loads(function)(**_DATA, **call)


def _size(setting, data):
    """Used by run_many: a rough size of a training (epochs x training drawings), so that the
    largest start first and the last to finish are small ones (fewer idle cores at the end)."""
    try:
        labels = data[setting["train"]][1]
        n = int((labels < setting["classes"]).sum()) if "classes" in setting else len(labels)
        return float(setting.get("epochs", 1)) * n
    except (KeyError, TypeError, IndexError, ValueError):
        return 0.0


def _stored(folder, keys):
    """Used by run_many and cached_calls: each key's result from ``folder`` (None where there is
    none yet), and ``keep(i, result)``, which puts a computed result in that list and in the cache."""
    paths = [_entry_path(folder, k) for k in keys]
    results = [_read_entry(p, k) for p, k in zip(paths, keys)]

    def keep(i, result):
        results[i] = result
        write_json(paths[i], {"key": keys[i], "result": result})

    return results, keep


def _side_by_side(run, jobs, data, workers, threads, keep):
    """Used by run_many and cached_calls: ``run(*arguments)`` for each ``(i, arguments)`` of
    ``jobs``, in that order, in ``workers`` spawned processes (default one per core) of ``threads``
    TensorFlow threads each, ``data`` sent once to each; ``keep(i, result)`` as each finishes."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, context, _worker_start, (data, threads)) as pool:
        futures = {pool.submit(run, *arguments): i for i, arguments in jobs}
        for future in concurrent.futures.as_completed(futures):
            keep(futures[future], future.result())


def run_many(task, settings, data, folder=None, workers=None, threads=1):
    """``task(setting, data)`` for every setting of ``settings``, in order: from the experiment
    cache where present, the missing ones computed side by side in ``workers`` processes
    (default: one per core, ``os.cpu_count()``) of ``threads`` TensorFlow threads each, the
    largest trainings first (epochs x training drawings, where a setting names them).

    ``task`` is a module-level function (each worker imports it, e.g. ``train_and_score``); a
    setting is a JSON-able dict; ``data`` maps names to arrays (or tuples of arrays) that every
    setting may use. A result is cached under the task's name, its setting, fingerprints of
    ``data`` and the code version. Workers are fresh processes (spawn, not fork), so this works
    in Jupyter, papermill and nbval after TensorFlow was imported; each task seeds itself, so
    the results equal those of running the settings one by one (timings aside).

    The chapters that train many networks use it (06, 08; tests/test_experiments.py checks it).

    Explained in 06_experiments.ipynb
    """
    import helpers

    folder = experiment_cache_dir() if folder is None else Path(folder)
    prints = {n: helpers.fingerprint(*(v if isinstance(v, tuple) else (v,))) for n, v in data.items()}
    name = f"{task.__module__}.{task.__qualname__}"
    keys = [_full_key({"task": name, "setting": s, "data": prints}) for s in settings]
    results, keep = _stored(folder, keys)
    missing = [i for i, r in enumerate(results) if r is None]
    missing.sort(key=lambda i: -_size(settings[i], data))  # a stable sort: equal sizes keep their order
    if missing:
        _side_by_side(_worker_run, [(i, (task, settings[i])) for i in missing], data, workers, threads, keep)
    return results


def train_and_score(setting, data):
    """A task for run_many: train ``setting["config"]`` (a name in helpers.CONFIGS or a dict of
    build_cnn arguments) for ``setting["epochs"]`` with ``setting["seed"]`` (and optional
    ``batch_size``, ``classes``, ``validation``) on ``data[setting["train"]]`` (images, labels),
    limited to labels below ``classes``; score it on each data name in ``setting["score"]``:
    accuracy for 2 classes, the top-3 labels per drawing for more (also for 2 with
    ``setting["top3"]``). Also the fit seconds, the loss per epoch, the epochs run and the number
    of weights; with ``setting["onnx"]`` the network as ONNX text (quickdraw_cnn.export.onnx_text).

    A task for run_many, in the chapters that train many networks (06, 08).

    Explained in 06_experiments.ipynb
    """
    import helpers
    from quickdraw_cnn import export, multiclass

    classes = setting.get("classes", 2)

    def kept(pair):
        x, y = pair
        return x[y < classes], y[y < classes]

    x, y = kept(data[setting["train"]])
    net, history = helpers.train(
        setting["config"],
        x,
        y,
        setting["epochs"],
        batch_size=setting.get("batch_size", 32),
        validation_fraction=setting.get("validation", 0.0),
        seed=setting["seed"],
        verbose=0,
        classes=classes,
    )
    result = {
        "seconds": history["fit_seconds"],
        "loss": history["loss"],
        "epochs_run": history["epochs_run"],
        "params": net.count_params(),
    }
    for name in setting.get("score", []):
        xs, ys = kept(data[name])
        if classes == 2 and not setting.get("top3"):
            result[name] = helpers.accuracy(helpers.predict_proba(net, xs), ys)
        else:
            result[name] = multiclass.top3_labels(multiclass.predict(net, xs))
    if setting.get("onnx"):
        result["onnx"] = export.onnx_text(net)
    return result


def _call_key(function, arguments):
    """Used by cached_call and cached_calls: a call's key, NumPy arrays by their fingerprint."""
    import inspect

    import numpy as np

    from helpers import fingerprint

    return {
        "function": function.__name__,
        "source": inspect.getsource(function),
        "arguments": {k: fingerprint(v) if isinstance(v, np.ndarray) else v for k, v in arguments.items()},
    }


def cached_call(function, **arguments):
    """``function(**arguments)`` through the experiment cache (``cached`` in
    ``experiment_cache_dir()``), keyed by the function's name, its source code and its arguments,
    NumPy arrays by their fingerprint: a chapter calls it once per result and builds no key.

    Explained in 06_experiments.ipynb
    """
    return cached(experiment_cache_dir(), _call_key(function, arguments), lambda: function(**arguments))


def cached_calls(function, calls, workers=None, threads=1, **shared):
    """``[function(**shared, **call) for call in calls]``, each result kept in the experiment cache
    under the key ``cached_call`` gives it (so either finds what the other computed); the missing
    ones are computed side by side in ``workers`` processes (default: one per core) of ``threads``
    TensorFlow threads each, ``shared`` sent once to each process.

    ``function`` may be defined in the notebook itself: it travels to the workers by value
    (cloudpickle), the modules it uses by name. It must seed itself, so that the results equal
    those of calling it one by one (tests/test_experiments.py checks it).

    Explained in 05_evaluation.ipynb
    """
    import cloudpickle

    keys = [_full_key(_call_key(function, {**shared, **call})) for call in calls]
    results, keep = _stored(experiment_cache_dir(), keys)
    blob = cloudpickle.dumps(function)
    jobs = [(i, (blob, calls[i])) for i, r in enumerate(results) if r is None]
    if jobs:
        _side_by_side(_worker_call, jobs, shared, workers, threads, keep)
    return results

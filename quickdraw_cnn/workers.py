"""Multi-worker training: one process per worker, tf_keras and MultiWorkerMirroredStrategy.

``train(classes, n, epochs, workers=2, out=...)`` is all chapter 08 and ``tools/multiworker.py``
need: it checks every setting before anything starts, starts one worker process per index on
127.0.0.1 with its ``TF_CONFIG`` (the cluster's addresses and the worker's index) and one CPU
thread, waits for them at most ``timeout`` seconds, always stops them, says which worker failed and
how, and returns the workers' reports and weights, with the trained network as a Keras 3 model.

The route. Keras 3 does not train under ``tf.distribute.MultiWorkerMirroredStrategy``
(keras-team/keras#20585). TensorFlow's own route is ``tf_keras`` (Keras 2, the package that
``TF_USE_LEGACY_KERAS=1`` selects): its ``fit`` runs under the strategy, which all-reduces the
gradients at every step, and its ``BackupAndRestore`` is built for several workers. It is what
Ray Train's ``TensorflowTrainer`` and Kubeflow's ``TFJob`` drive. The workers build the chapters'
network from the same code (``helpers.build_cnn(keras=tf_keras)``); the weights then move into a
Keras 3 model of the same layers with ``set_weights``. (The other supported route, Keras 3 on the
JAX backend with ``keras.distribution``, needs JAX, about 620 MB more per install.)

Data: each worker streams the same shuffled batches (multiclass.stream, same seed) and keeps every
``workers``-th one, its shard; a step of the job is one batch per worker, ``batch_size x workers``
drawings, averaged by the all-reduce.

Files in ``out``: ``worker-<i>.log`` (its output), ``progress-<i>.json`` (epochs finished),
``worker-<i>.json`` (report) and ``weights-<i>.npz``; ``backup/`` holds the job's backup while it
runs (Keras deletes it once training ends) and ``backup/job-settings.json`` the settings it was
made with: a rerun of the same job resumes from the last finished epoch, a job of other settings
is refused (or, with ``fresh=True``, starts anew and says so).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import helpers
from quickdraw_cnn import multiclass
from quickdraw_cnn.data import QuickDrawError, check_categories, shown_path, whole_number
from quickdraw_cnn.files import replacing, write_json

HOST = "127.0.0.1"
ROUTE = "tf_keras + tf.distribute.MultiWorkerMirroredStrategy"
SETTINGS_FILE = "job-settings.json"
# What a worker's log says when it failed because another worker went away (not the first failure)
PEER_LOST = ("Socket closed", "Connection reset", "UNAVAILABLE", "ollective ops is aborted", "CancelledError")
LOG_NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages")  # TensorFlow's start-up lines
PROBE_ROWS = 2  # drawings per class whose probabilities each worker reports (Keras 3 must agree)


class WorkerError(QuickDrawError, RuntimeError):
    """A multi-worker job that could not start or did not finish; the message says why.

    Explained in 08_many_categories.ipynb
    """


class PortBusyError(WorkerError):
    """A worker's port on 127.0.0.1 is taken by another program.

    Explained in 08_many_categories.ipynb
    """


class WorkerFailedError(WorkerError):
    """A worker exited with an error or was killed; ``index`` and ``returncode`` say which and how.

    Explained in 08_many_categories.ipynb
    """

    def __init__(self, message, index=None, returncode=None):
        super().__init__(message)
        self.index, self.returncode = index, returncode


class WorkerTimeoutError(WorkerError, TimeoutError):
    """The job did not finish within its ``timeout`` seconds; its workers were stopped.

    Explained in 08_many_categories.ipynb
    """


class BackupMismatchError(WorkerError):
    """The backup folder holds the backup of a job with other settings.

    Explained in 08_many_categories.ipynb
    """


# ------------------------------------------------------------ settings ----


def job_settings(
    classes,
    n,
    epochs,
    workers=2,
    offset=0,
    data_dir=None,
    batch_size=32,
    config="origin",
    seed=0,
    shards=None,
):
    """The settings that define a training (what its backup must match), checked: a clear
    error before anything starts. ``shards`` (default ``workers``): the data is cut into that many
    shards and worker i trains on shard i; more shards than workers trains on the first ones only
    (the tests compare two workers with one worker on one shard).

    Used by train and tools/multiworker.py.
    """
    workers = whole_number("workers", workers, 1)
    shards = workers if shards is None else whole_number("shards", shards, 1)
    if shards < workers:
        raise ValueError(f"shards ({shards}) must be at least workers ({workers}): one shard per worker")
    n, epochs = whole_number("n", n, 1), whole_number("epochs", epochs, 1)
    offset, seed = whole_number("offset", offset, 0), whole_number("seed", seed, 0)
    batch_size = whole_number("batch_size", batch_size, 1)
    if config not in helpers.CONFIGS:
        raise ValueError(f"config must be one of {sorted(helpers.CONFIGS)}, got {config!r}")
    classes = check_categories(classes, min_count=2)
    steps = len(classes) * n // batch_size // shards
    if steps < 1:
        raise ValueError(
            f"nothing to train: {len(classes)} classes x {n} drawings make {len(classes) * n // batch_size} "
            f"full batches of {batch_size}, fewer than the {shards} shards; give more drawings (n) or a "
            "smaller batch_size"
        )
    settings = {
        "classes": classes,
        "n": n,
        "offset": offset,
        "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
        "epochs": epochs,
        "batch_size": batch_size,
        "config": config,
        "architecture": helpers.CONFIGS[config],
        "seed": seed,
        "workers": workers,
        "shards": shards,
        "steps_per_epoch": steps,
    }
    return json.loads(json.dumps(settings))  # as the backup's record reads back (lists, not tuples)


def free_ports(count):
    """``count`` ports on 127.0.0.1 that are free now (the system picks them).

    Used by train.
    """
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def check_ports(ports, workers):
    """``ports`` as a list of ``workers`` distinct free ports on 127.0.0.1, or a clear error.

    Used by train.
    """
    if not isinstance(ports, (list, tuple)) or len(ports) != workers:
        raise ValueError(f"ports must list one port per worker ({workers}), got {ports!r}")
    ports = [whole_number("port", p, 1) for p in ports]
    if max(ports) > 65535 or len(set(ports)) != len(ports):
        raise ValueError(f"ports must be distinct numbers from 1 to 65535, got {ports}")
    for p in ports:
        with socket.socket() as s:
            try:
                s.bind((HOST, p))
            except OSError as e:
                raise PortBusyError(
                    f"port {p} on {HOST} is in use ({e.strerror}): stop what holds it (a job still "
                    "running?), choose other ports, or leave ports unset so that free ones are picked"
                ) from None
    return ports


def tf_config(ports, index):
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers on 127.0.0.1.

    Explained in 08_many_categories.ipynb
    """
    workers = [f"{HOST}:{p}" for p in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def prepare_backup(out, settings, fresh=False):
    """Check ``out/backup`` against the job's ``settings`` and record them there: a backup of the
    same job is kept (the workers resume from it), one of other settings or of unknown settings
    is refused with BackupMismatchError, or with ``fresh`` deleted, saying so. Returns the epoch
    the workers resume after, if a backup was kept ("yes" when unknown), else None.

    Used by train.
    """
    backup = Path(out) / "backup"
    record = backup / SETTINGS_FILE
    saved = [p for p in backup.rglob("*") if p.is_file() and p != record] if backup.is_dir() else []
    recorded = json.loads(record.read_text()) if record.is_file() else None
    resuming = bool(saved)
    if saved and recorded != settings:
        if recorded is None:
            why = "records no settings (a backup of an older version, or copied in by hand?)"
        else:
            keys = [k for k in sorted(set(settings) | set(recorded)) if settings.get(k) != recorded.get(k)]
            why = "was made with other settings: " + "; ".join(
                f"{k} {recorded.get(k)!r} there, {settings.get(k)!r} now" for k in keys
            )
        where = shown_path(backup)
        if not fresh:
            raise BackupMismatchError(
                f"{where} holds the backup of another job, which {why}. Resuming from it would train "
                "on weights of that job: rerun with that job's settings to resume it, or start fresh "
                f"(delete {where}, fresh=True, or --fresh), or choose another output folder"
            )
        print(f"starting fresh: deleted the backup in {where}, which {why}")
        shutil.rmtree(backup)
        resuming = False
    elif not saved and backup.is_dir():
        shutil.rmtree(backup)  # no checkpoint in it: nothing to resume
    write_json(record, settings)
    return resuming


# ------------------------------------------------------------ launcher ----


class Result:
    """What a finished job left: ``reports`` (one dict per worker), ``weights`` (per worker, the
    list of arrays of ``get_weights``), ``seconds`` (wall time, process start included), and the
    settings.

    Explained in 08_many_categories.ipynb
    """

    def __init__(self, settings, reports, weights, seconds):
        self.settings, self.reports, self.weights, self.seconds = settings, reports, weights, seconds

    @property
    def identical_weights(self):
        """True if every worker ended with bit-identical weights."""
        first = self.weights[0]
        return all(
            len(w) == len(first) and all(np.array_equal(a, b) for a, b in zip(w, first)) for w in self.weights
        )

    def keras_model(self):
        """The trained network as a Keras 3 model (helpers.build_cnn, same layers), with the weights
        of worker 0."""
        s = self.settings
        model = helpers.build_cnn(classes=len(s["classes"]), name=s["config"], **s["architecture"])
        model.set_weights(self.weights[0])
        return model


class Job:
    """A running job: its worker processes (``procs``, ``Popen``), ``out`` folder and deadline.
    ``wait()`` returns a Result or raises a WorkerError; ``stop()`` ends every worker.

    Used by train and tests/test_workers.py (which kills a worker of a running job).
    """

    def __init__(self, settings, out, ports, timeout, threads):
        self.settings, self.out, self.ports, self.timeout = settings, Path(out), ports, timeout
        self.started = time.monotonic()
        job_file = self.out / "job.json"
        write_json(job_file, {"settings": settings, "threads": threads})
        self.procs = []
        try:
            for i in range(settings["workers"]):
                env = {
                    **os.environ,
                    "TF_CONFIG": tf_config(ports, i),
                    "TF_USE_LEGACY_KERAS": "1",
                    "TF_CPP_MIN_LOG_LEVEL": "3",
                    "OMP_NUM_THREADS": str(threads),
                    "CUDA_VISIBLE_DEVICES": "-1",  # CPU workers, one machine: they would share one GPU
                }
                command = [sys.executable, "-m", "quickdraw_cnn.workers", str(job_file)]
                with open(self.out / f"worker-{i}.log", "wb") as log:  # the child keeps its own copy
                    self.procs.append(
                        subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                    )
        except BaseException:
            self.stop()
            raise

    def epochs_done(self):
        """Per worker, the epochs it has finished and backed up (from its progress file)."""
        done = []
        for i in range(len(self.procs)):
            path = self.out / f"progress-{i}.json"
            done.append(json.loads(path.read_text())["epochs_done"] if path.is_file() else 0)
        return done

    def stop(self):
        """Kill the workers still running, each by its own process id, and reap them."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()

    def wait(self):
        """Wait for every worker; on the first failure or at the deadline stop them all and raise."""
        deadline = self.started + self.timeout
        try:
            while any(p.poll() is None for p in self.procs):
                if any(p.poll() not in (None, 0) for p in self.procs) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        finally:
            running = [i for i, p in enumerate(self.procs) if p.poll() is None]
            self.stop()
        failed = [i for i, p in enumerate(self.procs) if p.returncode and i not in running]
        if failed:
            raise self._failure(failed, running)
        if running:
            raise WorkerTimeoutError(
                f"the job did not finish within its timeout of {self.timeout:g} s: worker(s) "
                f"{', '.join(map(str, running))} still running were stopped (epochs finished per worker: "
                f"{self.epochs_done()}). Give it more time (timeout), or fewer drawings or epochs; "
                f"rerunning the same job resumes from its backup in {shown_path(self.out / 'backup')}"
            )
        seconds = time.monotonic() - self.started
        reports, weights = [], []
        for i in range(len(self.procs)):
            report, npz = self.out / f"worker-{i}.json", self.out / f"weights-{i}.npz"
            if not report.is_file() or not npz.is_file():
                raise WorkerFailedError(f"worker {i} exited without writing its report or weights", i, 0)
            reports.append(json.loads(report.read_text()))
            with np.load(npz) as f:
                weights.append([f[f"w{j}"] for j in range(len(f.files))])
        record = self.out / "backup" / SETTINGS_FILE
        if not any(p.is_file() and p != record for p in record.parent.rglob("*")):
            # Keras deleted the finished job's checkpoint: nothing to resume, no record to keep
            shutil.rmtree(record.parent, ignore_errors=True)
        return Result(self.settings, reports, weights, seconds)

    def _log(self, index):
        log = self.out / f"worker-{index}.log"
        return log.read_text(errors="replace") if log.is_file() else ""

    def _failure(self, failed, stopped):
        """The error for the workers that ended with an error: the one that failed first is named
        (killed by a signal, else one that did not merely lose a peer), the others after it."""
        codes = {i: self.procs[i].returncode for i in failed}
        lost_peer = {i for i in failed if any(m in self._log(i) for m in PEER_LOST)}
        index = min(failed, key=lambda i: (codes[i] > 0, i in lost_peer, i))
        text, log = self._log(index), self.out / f"worker-{index}.log"
        notes = [f"worker {i} then exited with code {codes[i]}" for i in failed if i != index]
        notes += [f"worker(s) {', '.join(map(str, stopped))} were stopped"] if stopped else []
        others = "".join(f"; {note}" for note in notes)
        if "Could not start gRPC server" in text:
            return PortBusyError(
                f"worker {index} could not listen on port {self.ports[index]} of {HOST}: it is in use by "
                f"another program{others}. Free the port, choose other ports, or leave ports unset so "
                "that free ones are picked"
            )
        code = codes[index]
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else "unknown"
            how = f"was killed by signal {-code} ({name})"
        else:
            how = f"exited with code {code}"
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(LOG_NOISE)]
        last = "\n".join("    " + ln for ln in lines[-6:]) or "    (nothing)"
        return WorkerFailedError(
            f"worker {index} {how}{others}. Rerunning the same job resumes from its backup in "
            f"{shown_path(self.out / 'backup')} (epochs finished per worker: {self.epochs_done()}). "
            f"The end of its log {shown_path(log)}:\n{last}",
            index,
            code,
        )


def start(
    classes,
    n,
    epochs,
    workers=2,
    out="runs/multiworker",
    offset=0,
    data_dir=None,
    batch_size=32,
    config="origin",
    seed=0,
    shards=None,
    threads=1,
    timeout=300,
    ports=None,
    fresh=False,
):
    """Check everything, then start the workers and return the running Job (see train).

    Used by train and tests/test_workers.py.
    """
    settings = job_settings(classes, n, epochs, workers, offset, data_dir, batch_size, config, seed, shards)
    threads = whole_number("threads", threads, 1)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds above 0, got {timeout!r}")
    ports = check_ports(ports, workers) if ports is not None else free_ports(workers)
    # the files, fetched if needed, before any worker starts (two workers would fetch them twice)
    multiclass.category_files(settings["classes"], settings["n"], settings["offset"], settings["data_dir"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prepare_backup(out, settings, fresh)
    for pattern in ("worker-*.json", "weights-*.npz", "progress-*.json", "worker-*.log"):
        for old in out.glob(pattern):  # an earlier job's results are never read as this one's
            old.unlink()
    return Job(settings, out, ports, timeout, threads)


def train(classes, n, epochs, workers=2, out="runs/multiworker", **options):
    """Train the chapters' network on ``classes`` (``n`` drawings each, from row ``offset``) for
    ``epochs`` epochs with ``workers`` processes on 127.0.0.1, and return a Result: ``reports``,
    ``weights``, ``identical_weights``, ``seconds``, ``keras_model()``. Options: offset, data_dir,
    batch_size (per worker), config ("origin" or "improved"), seed, shards, threads (per worker),
    timeout (seconds, for the whole job), ports (one per worker; default: free ones), fresh (start
    anew over another job's backup). Errors: WorkerError subclasses naming the worker, the port or
    the setting.

    Explained in 08_many_categories.ipynb
    """
    return start(classes, n, epochs, workers, out, **options).wait()


# -------------------------------------------------------------- worker ----


def run_worker(job_file):
    """One worker (in its own process, ``TF_CONFIG`` set): the strategy first, before any other
    TensorFlow op, then the network (tf_keras), its shard of the stream, ``fit`` with a backup.

    Used by Job (``python -m quickdraw_cnn.workers JOB_FILE``).
    """
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.keras is tf_keras, before TensorFlow is imported
    job = json.loads(Path(job_file).read_text())
    s, out = job["settings"], Path(job_file).parent
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(job["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(job["threads"])
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import tf_keras

    index = strategy.cluster_resolver.task_id or 0
    steps, batch, k = s["steps_per_epoch"], s["batch_size"], len(s["classes"])
    tf_keras.utils.set_random_seed(s["seed"])
    with strategy.scope():
        model = helpers.build_cnn(classes=k, name=s["config"], keras=tf_keras, **s["architecture"])

    def shard(context):  # every worker streams the same batches and keeps every shards-th one
        ds = multiclass.stream(s["classes"], s["n"], s["offset"], s["data_dir"], batch, seed=s["seed"])
        return ds.shard(s["shards"], context.input_pipeline_id).take(steps).repeat()

    data = strategy.distribute_datasets_from_function(shard)
    epochs_run, times = [], []

    def epoch_end(epoch, logs):
        times[-1] = time.perf_counter() - times[-1]
        write_json(out / f"progress-{index}.json", {"epochs_done": epoch + 1})

    timing = tf_keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: (epochs_run.append(e), times.append(time.perf_counter())),
        on_epoch_end=epoch_end,
    )
    backup = tf_keras.callbacks.BackupAndRestore(str(out / "backup"))  # saves before timing runs
    start = time.perf_counter()
    verbose = 2 if index == 0 else 0
    hist = model.fit(
        data, epochs=s["epochs"], steps_per_epoch=steps, callbacks=[backup, timing], verbose=verbose
    )
    seconds = time.perf_counter() - start
    x, _ = multiclass.load_many(s["classes"], PROBE_ROWS, s["offset"], s["data_dir"])
    probe = model.predict(helpers.scale(helpers.to_images(x)), verbose=0)
    with replacing(out / f"weights-{index}.npz") as fh:
        np.savez(fh, **{f"w{j}": w for j, w in enumerate(model.get_weights())})
    steady = times[1:] or times
    drawings = steps * batch * strategy.num_replicas_in_sync  # per epoch, all workers together
    report = {
        "index": index,
        "workers": strategy.num_replicas_in_sync,
        "route": ROUTE,
        "tf_keras": tf_keras.__version__,
        "tensorflow": tf.__version__,
        "epochs_run": epochs_run,
        "epoch_seconds": times,
        "fit_seconds": seconds,
        "drawings_per_epoch": drawings,
        "drawings_per_second": drawings / (sum(steady) / len(steady)) if steady else None,
        "history": {key: [float(v) for v in vs] for key, vs in hist.history.items()},
        "probe": probe.tolist(),
    }
    write_json(out / f"worker-{index}.json", report)


if __name__ == "__main__":
    run_worker(sys.argv[1])

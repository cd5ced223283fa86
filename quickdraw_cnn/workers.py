"""Multi-worker training (chapter 10): one process per worker, tf_keras and MultiWorkerMirroredStrategy.

Keras 3 does not train under this strategy (keras-team/keras#20585); tf_keras does.
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
from quickdraw_cnn.data import check_categories, whole_number
from quickdraw_cnn.errors import ParameterError, WorkerError
from quickdraw_cnn.files import replacing, shown_path, write_json

HOST = "127.0.0.1"
ROUTE = "tf_keras + tf.distribute.MultiWorkerMirroredStrategy"
SETTINGS_FILE = "job-settings.json"
# What a worker's log says when it failed because another worker went away (not the first failure)
PEER_LOST = ("Socket closed", "Connection reset", "UNAVAILABLE", "ollective ops is aborted", "CancelledError")
LOG_NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages")  # TensorFlow's start-up lines
PROBE_ROWS = 2  # drawings per class whose probabilities each worker reports (Keras 3 must agree)


def failure(message, index=None, returncode=None):
    """A WorkerError that also carries the failed worker's ``index`` and ``returncode``.

    Used by Job.
    """
    error = WorkerError(message)
    error.index, error.returncode = index, returncode
    return error


# ------------------------------------------------------------ settings ----


# A job's settings besides its classes, drawings per class and epochs, with their defaults
JOB = dict(workers=2, offset=0, data_dir=None, batch_size=32, config="origin", seed=0, shards=None)


def job_settings(classes, n, epochs, **options):
    """The settings that define a job (JOB's, changed by ``options``), checked before anything starts.

    Used by start.
    """
    if unknown := sorted(set(options) - set(JOB)):
        raise ParameterError(f"unknown settings {unknown}: the settings are {list(JOB)}")
    s = {**JOB, **options, "classes": check_categories(classes, min_count=2), "n": n, "epochs": epochs}
    for name, low in (("workers", 1), ("n", 1), ("epochs", 1), ("offset", 0), ("seed", 0), ("batch_size", 1)):
        s[name] = whole_number(name, s[name], low)
    s["shards"] = s["workers"] if s["shards"] is None else whole_number("shards", s["shards"], 1)
    if s["shards"] < s["workers"]:
        raise ParameterError(
            f"shards ({s['shards']}) must be at least workers ({s['workers']}): one shard per worker"
        )
    if s["config"] not in helpers.CONFIGS:
        raise ParameterError(f"config must be one of {sorted(helpers.CONFIGS)}, got {s['config']!r}")
    batches = len(s["classes"]) * s["n"] // s["batch_size"]
    if batches < s["shards"]:
        raise ParameterError(
            f"nothing to train: {len(s['classes'])} classes x {s['n']} drawings make {batches} full "
            f"batches of {s['batch_size']}, fewer than the {s['shards']} shards: give more drawings (n) "
            "or a smaller batch_size"
        )
    s |= {"data_dir": str(Path(s["data_dir"]).resolve()) if s["data_dir"] else None}
    s |= {"architecture": helpers.CONFIGS[s["config"]], "steps_per_epoch": batches // s["shards"]}
    return json.loads(json.dumps(s))  # as the backup's record reads back (lists, not tuples)


def ports_for(workers, ports=None):
    """``ports`` checked (one distinct free port on 127.0.0.1 per worker), or free ones the system picks.

    Used by start.
    """
    if ports is None:
        socks = [socket.socket() for _ in range(workers)]
        for sock in socks:
            sock.bind((HOST, 0))
        ports = [sock.getsockname()[1] for sock in socks]
        for sock in socks:
            sock.close()
        return ports
    if not isinstance(ports, (list, tuple)) or len(ports) != workers:
        raise ParameterError(f"ports must list one port per worker ({workers}), got {ports!r}")
    ports = [whole_number("port", p, 1) for p in ports]
    if max(ports) > 65535 or len(set(ports)) != len(ports):
        raise ParameterError(f"ports must be distinct numbers from 1 to 65535, got {ports}")
    for p in ports:
        with socket.socket() as sock:
            try:
                sock.bind((HOST, p))
            except OSError as e:
                raise WorkerError(
                    f"port {p} on {HOST} is in use ({e.strerror}): stop what holds it (a job still "
                    "running?), choose other ports, or leave ports unset so that free ones are picked"
                ) from None
    return ports


def tf_config(ports, index):
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers on 127.0.0.1.

    Explained in 10_beyond_one_machine.ipynb
    """
    workers = [f"{HOST}:{p}" for p in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def prepare_backup(out, settings, fresh=False):
    """Check ``out/backup`` against the job's ``settings`` and record them there: the same job's backup
    is kept, another's refused (a WorkerError) or, with ``fresh``, deleted.

    Used by start.
    """
    backup = Path(out) / "backup"
    record = backup / SETTINGS_FILE
    saved = [p for p in backup.rglob("*") if p.is_file() and p != record] if backup.is_dir() else []
    recorded = json.loads(record.read_text()) if record.is_file() else None
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
            raise WorkerError(
                f"{where} holds the backup of another job, which {why}. Resuming from it would train "
                "on weights of that job: rerun with that job's settings to resume it, or start fresh "
                f"(delete {where}, fresh=True, or --fresh), or choose another output folder"
            )
        print(f"starting fresh: deleted the backup in {where}, which {why}")
        shutil.rmtree(backup)
    elif not saved and backup.is_dir():
        shutil.rmtree(backup)  # no checkpoint in it: nothing to resume
    write_json(record, settings)


# ------------------------------------------------------------ launcher ----


class Result:
    """What a finished job left: ``reports`` (one dict per worker), ``weights`` (per worker, the
    arrays of ``get_weights``), ``seconds`` (wall time, process start included), ``settings``.

    Explained in 10_beyond_one_machine.ipynb
    """

    def __init__(self, settings, reports, weights, seconds):
        self.settings, self.reports, self.weights, self.seconds = settings, reports, weights, seconds

    @property
    def identical_weights(self):
        """True if every worker ended with bit-identical weights."""
        first = self.weights[0]
        return all(len(w) == len(first) and all(map(np.array_equal, w, first)) for w in self.weights)

    def keras_model(self):
        """The trained network as a Keras 3 model (helpers.build_cnn), with worker 0's weights."""
        s = self.settings
        model = helpers.build_cnn(classes=len(s["classes"]), name=s["config"], **s["architecture"])
        model.set_weights(self.weights[0])
        return model


class Job:
    """A running job: its worker processes (``procs``), ``out`` folder and deadline.

    Used by start and tests/test_workers.py (which kills a worker of a running job).
    """

    def __init__(self, settings, out, ports, timeout, threads):
        self.settings, self.out, self.ports, self.timeout = settings, Path(out), ports, timeout
        self.started = time.monotonic()
        job_file = self.out / "job.json"
        write_json(job_file, {"settings": settings, "threads": threads})
        self.procs = []
        try:
            for i in range(settings["workers"]):
                env = {**os.environ, "TF_CONFIG": tf_config(ports, i), "TF_USE_LEGACY_KERAS": "1"}
                env |= {"TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": str(threads)}
                env["CUDA_VISIBLE_DEVICES"] = "-1"  # CPU workers on one machine: they would share one GPU
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
        paths = [self.out / f"progress-{i}.json" for i in range(len(self.procs))]
        return [json.loads(p.read_text())["epochs_done"] if p.is_file() else 0 for p in paths]

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
            raise self.failure(failed, running)
        if running:
            raise failure(
                f"the job did not finish within its timeout of {self.timeout:g} s: worker(s) "
                f"{', '.join(map(str, running))} still running were stopped (epochs finished per worker: "
                f"{self.epochs_done()}). Give it more time (timeout), or fewer drawings or epochs; "
                f"rerunning the same job resumes from its backup in {shown_path(self.out / 'backup')}"
            )
        return self.result(time.monotonic() - self.started)

    def result(self, seconds):
        """The finished job's Result; its backup folder goes when Keras has emptied it."""
        reports, weights = [], []
        for i in range(len(self.procs)):
            report, npz = self.out / f"worker-{i}.json", self.out / f"weights-{i}.npz"
            if not report.is_file() or not npz.is_file():
                raise failure(f"worker {i} exited without writing its report or weights", i, 0)
            reports.append(json.loads(report.read_text()))
            with np.load(npz) as f:
                weights.append([f[f"w{j}"] for j in range(len(f.files))])
        record = self.out / "backup" / SETTINGS_FILE
        if not any(p.is_file() and p != record for p in record.parent.rglob("*")):
            shutil.rmtree(record.parent, ignore_errors=True)  # nothing to resume, no record to keep
        return Result(self.settings, reports, weights, seconds)

    def log(self, index):
        """Worker ``index``'s output so far."""
        log = self.out / f"worker-{index}.log"
        return log.read_text(errors="replace") if log.is_file() else ""

    def failure(self, failed, stopped):
        """The error for the workers that ended with an error: the one that failed first is named
        (killed by a signal, else one that did not merely lose a peer), the others after it."""
        codes = {i: self.procs[i].returncode for i in failed}
        lost_peer = {i for i in failed if any(m in self.log(i) for m in PEER_LOST)}
        index = min(failed, key=lambda i: (codes[i] > 0, i in lost_peer, i))
        notes = [f"worker {i} then exited with code {codes[i]}" for i in failed if i != index]
        notes += [f"worker(s) {', '.join(map(str, stopped))} were stopped"] if stopped else []
        others = "".join(f"; {note}" for note in notes)
        text, code = self.log(index), codes[index]
        if "Could not start gRPC server" in text:
            port = f"port {self.ports[index]} of {HOST}"
            why = (
                f"it is in use by another program{others}. Free it, choose other ports, or leave ports unset"
            )
            return failure(f"worker {index} could not listen on {port}: {why}", index, code)
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else "unknown"
            how = f"was killed by signal {-code} ({name})"
        else:
            how = f"exited with code {code}"
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(LOG_NOISE)]
        last = "\n".join("    " + ln for ln in lines[-6:]) or "    (nothing)"
        resume = f"Rerunning the same job resumes from its backup in {shown_path(self.out / 'backup')}"
        log = f"(epochs finished per worker: {self.epochs_done()}). The end of its log {shown_path(self.out)}"
        return failure(
            f"worker {index} {how}{others}. {resume} {log}/worker-{index}.log:\n{last}", index, code
        )


def start(
    classes, n, epochs, out="runs/multiworker", threads=1, timeout=300, ports=None, fresh=False, **options
):
    """Check everything, then start the workers and return the running Job (see train).

    Used by train and tests/test_workers.py.
    """
    settings = job_settings(classes, n, epochs, **options)
    workers = settings["workers"]
    threads = whole_number("threads", threads, 1)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ParameterError(f"timeout must be a number of seconds above 0, got {timeout!r}")
    ports = ports_for(workers, ports)
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
    """Train the chapters' network on ``classes`` (``n`` drawings each) for ``epochs`` with ``workers``
    processes on 127.0.0.1 and return a Result. Options: JOB's settings, threads (per worker), timeout
    (seconds), ports (default: free ones), fresh (start anew over another job's backup).

    Explained in 10_beyond_one_machine.ipynb
    """
    return start(classes, n, epochs, out, workers=workers, **options).wait()


# -------------------------------------------------------------- worker ----


def fit_worker(model, data, s, out, index):
    """A worker's ``fit`` with a backup and a progress file; returns (history, epochs run, epoch seconds).

    Used by run_worker.
    """
    import tf_keras

    epochs_run, times = [], []

    def epoch_end(epoch, logs):
        times[-1] = time.perf_counter() - times[-1]
        write_json(out / f"progress-{index}.json", {"epochs_done": epoch + 1})

    timing = tf_keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: (epochs_run.append(e), times.append(time.perf_counter())),
        on_epoch_end=epoch_end,
    )
    backup = tf_keras.callbacks.BackupAndRestore(str(out / "backup"))  # saves before timing runs
    fit = dict(epochs=s["epochs"], steps_per_epoch=s["steps_per_epoch"], verbose=2 if index == 0 else 0)
    hist = model.fit(data, callbacks=[backup, timing], **fit)
    return hist, epochs_run, times


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

    index, steps, k = strategy.cluster_resolver.task_id or 0, s["steps_per_epoch"], len(s["classes"])
    tf_keras.utils.set_random_seed(s["seed"])
    with strategy.scope():
        model = helpers.build_cnn(classes=k, name=s["config"], keras=tf_keras, **s["architecture"])

    def shard(context):  # every worker streams the same batches and keeps every shards-th one
        ds = multiclass.stream(
            s["classes"], s["n"], s["offset"], s["data_dir"], s["batch_size"], seed=s["seed"]
        )
        return ds.shard(s["shards"], context.input_pipeline_id).take(steps).repeat()

    start = time.perf_counter()
    data = strategy.distribute_datasets_from_function(shard)
    hist, epochs_run, times = fit_worker(model, data, s, out, index)
    seconds = time.perf_counter() - start
    x, _ = multiclass.load_many(s["classes"], PROBE_ROWS, s["offset"], s["data_dir"])
    probe = model.predict(helpers.scale(helpers.to_images(x)), verbose=0)
    with replacing(out / f"weights-{index}.npz") as fh:
        np.savez(fh, **{f"w{j}": w for j, w in enumerate(model.get_weights())})
    steady = times[1:] or times
    drawings = steps * s["batch_size"] * strategy.num_replicas_in_sync  # per epoch, all workers together
    report = {"index": index, "workers": strategy.num_replicas_in_sync, "route": ROUTE}
    report |= {"probe": probe.tolist(), "tf_keras": tf_keras.__version__, "tensorflow": tf.__version__}
    report |= {"epochs_run": epochs_run, "epoch_seconds": times, "fit_seconds": seconds}
    report |= {"drawings_per_epoch": drawings, "drawings_per_second": drawings / (sum(steady) / len(steady))}
    report["history"] = {key: [float(v) for v in vs] for key, vs in hist.history.items()}
    write_json(out / f"worker-{index}.json", report)


if __name__ == "__main__":
    run_worker(sys.argv[1])

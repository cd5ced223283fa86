"""Train on many categories with tf.distribute.MultiWorkerMirroredStrategy: one process per worker.

    python tools/multiworker.py --workers 2 --classes cat dog fish --n 500 --epochs 3 --out /tmp/mw

This launcher starts ``--workers`` copies of itself on 127.0.0.1, each with its own ``TF_CONFIG``
(the cluster's addresses and the worker's index) and one CPU thread, waits for them at most
``--timeout`` seconds and always stops them. Each worker builds the chapter's network
(helpers.build_cnn, softmax over the classes) under the strategy and fits it on the streamed
pipeline of multiclass.stream; the strategy all-reduces the gradients at every step, so all workers
hold the same weights. Keras 3 needs multiclass.patch_keras_for_multi_worker for that (see
08_many_categories.ipynb). Keras' BackupAndRestore saves each worker's state at every epoch end in
``<out>/backup/worker-<i>`` (one folder per worker: they would overwrite each other's files);
after a crash, starting the same command again resumes from the last finished epoch.
Each worker writes ``<out>/worker-<i>.json`` (epochs run, timing) and ``weights-<i>.npz``.
On a cluster, a launcher does what this script does on one machine: Ray Train's
TensorflowTrainer or Kubeflow's TFJob (Kubernetes) start one process per worker and set TF_CONFIG
for each. Explained in 08_many_categories.ipynb.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def free_ports(count):
    """Ports on 127.0.0.1 that are free now (the OS picks them)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(ports, index):
    """The TF_CONFIG of worker ``index`` in a cluster of workers on 127.0.0.1."""
    return json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    )


def start_workers(workers, worker_args, out, ports=None):
    """Start one worker process per index with its TF_CONFIG; returns the Popen objects."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ports = ports or free_ports(workers)
    procs = []
    for i in range(workers):
        env = {
            **os.environ,
            "TF_CONFIG": tf_config(ports, i),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "OMP_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": "-1",
        }
        command = [sys.executable, str(HERE), "--worker", *worker_args, "--out", str(out)]
        with open(out / f"worker-{i}.log", "w") as log:  # the child keeps its own copy of the file
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def stop_workers(procs):
    """Kill the workers still running (each by its own process id) and reap them."""
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def wait_workers(procs, timeout):
    """Wait for every worker; stop them all if one fails or the time is up. Returns exit codes."""
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        stop_workers(procs)
    return [p.returncode for p in procs]


def tail(path, chars=3000):
    """The end of a worker's log."""
    return path.read_text()[-chars:] if path.is_file() else "(no log)"


def launch(workers, worker_args, out, timeout=300):
    """Run a training with ``workers`` processes and return their reports (worker-<i>.json)."""
    procs = start_workers(workers, worker_args, out)
    codes = wait_workers(procs, timeout)
    if any(codes):
        logs = "\n".join(
            f"--- worker {i} (exit {c}):\n" + tail(Path(out) / f"worker-{i}.log")
            for i, c in enumerate(codes)
            if c
        )
        raise RuntimeError(f"a worker failed or the {timeout} s were up (exit codes {codes}):\n{logs}")
    return [json.loads((Path(out) / f"worker-{i}.json").read_text()) for i in range(workers)]


def agree_on_epoch(strategy, backup):
    """A callback, run after BackupAndRestore, that makes all workers resume from the same epoch.

    Workers save their backups one after the other, so a worker killed around the end of an epoch
    can have one epoch fewer saved than the others; they would then train different epochs with
    different weights. The workers compare the epochs they restored (a gather through the
    strategy's collective ops), and those ahead step back to their previous backup.
    """
    import keras
    import tensorflow as tf

    class AgreeOnEpoch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            mine = int(self.model._initial_epoch or 0)
            restored = strategy.gather(strategy.run(lambda: tf.constant([mine])), axis=0).numpy()
            lowest = int(restored.min())
            if mine == lowest:
                return
            previous = Path(backup._prev_weights_path)
            if mine - lowest != 1 or not previous.is_file() or lowest == 0:
                raise RuntimeError(
                    f"the workers' backups hold epochs {restored.tolist()}: they cannot "
                    f"resume together; delete {Path(backup.backup_dir).parent}, start again"
                )
            self.model.load_weights(str(previous))
            self.model._initial_epoch = lowest

    return AgreeOnEpoch()


def worker(args):
    """One worker: the strategy first (before any other TensorFlow op), then model, data, fit."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras
    import numpy as np

    import helpers
    from quickdraw_cnn import multiclass

    patched = not args.no_patch and multiclass.patch_keras_for_multi_worker()
    index = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0)
    out = Path(args.out)
    classes = multiclass.check_classes(args.classes)
    helpers.set_seed(args.seed)
    with strategy.scope():
        model = helpers.build_cnn(classes=len(classes), name=args.config, **helpers.CONFIGS[args.config])
    ds = multiclass.stream(
        classes,
        args.n,
        args.offset,
        args.data_dir or None,
        seed=args.seed,
        batch_size=args.batch_size * strategy.num_replicas_in_sync,
    )
    options = tf.data.Options()  # every worker reads all rows and keeps its share of the batches
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    epochs_run, times = [], []
    log = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: (epochs_run.append(e), times.append(time.perf_counter())),
        on_epoch_end=lambda e, logs: times.__setitem__(-1, time.perf_counter() - times[-1]),
    )
    # double_checkpoint: keep the previous epoch's backup too (a worker killed while saving leaves a
    # corrupt file, and AgreeOnEpoch may need to step back)
    backup = keras.callbacks.BackupAndRestore(str(out / "backup" / f"worker-{index}"), double_checkpoint=True)
    agree = agree_on_epoch(strategy, backup)
    start = time.perf_counter()
    hist = model.fit(
        ds, epochs=args.epochs, callbacks=[backup, agree, log], verbose=2 if index == 0 else 0, shuffle=False
    )  # the stream shuffles
    seconds = time.perf_counter() - start
    np.savez(out / f"weights-{index}.npz", *model.get_weights())
    steady = times[1:] or times
    report = {
        "index": index,
        "workers": strategy.num_replicas_in_sync,
        "epochs_run": epochs_run,
        "epoch_seconds": times,
        "fit_seconds": seconds,
        "classes": classes,
        "n": args.n,
        "drawings_per_second": len(classes) * args.n / (sum(steady) / len(steady)) if steady else None,
        "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()},
        "patched": patched,
        "keras": keras.__version__,
    }
    helpers.save_json(out / f"worker-{index}.json", report)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2, help="worker processes on 127.0.0.1")
    ap.add_argument("--classes", nargs="+", default=["cat", "dog", "fish"])
    ap.add_argument("--n", type=int, default=500, help="drawings per class, from row --offset")
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--data-dir", default="", help="folder with <category>.npy (default: as load_drawings)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32, help="per worker")
    ap.add_argument("--config", default="origin", choices=["origin", "improved"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per worker")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before all workers are stopped")
    ap.add_argument("--out", default="runs/multiworker")
    ap.add_argument(
        "--no-patch",
        action="store_true",
        help="leave Keras unpatched (to see whether a Keras release still needs the patch)",
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    worker_args = [
        "--classes",
        *args.classes,
        "--n",
        str(args.n),
        "--offset",
        str(args.offset),
        "--data-dir",
        args.data_dir,
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
        "--config",
        args.config,
        "--seed",
        str(args.seed),
        "--threads",
        str(args.threads),
        *(["--no-patch"] if args.no_patch else []),
    ]
    reports = launch(args.workers, worker_args, args.out, args.timeout)
    for r in reports:
        print(
            f"worker {r['index']}: epochs {r['epochs_run']}, {r['fit_seconds']:.1f} s, "
            f"{r['drawings_per_second']:,.0f} drawings/s; final loss {r['history']['loss'][-1]:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

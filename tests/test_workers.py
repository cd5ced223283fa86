"""Multi-worker training (quickdraw_cnn.workers, tools/multiworker.py): tf_keras under
MultiWorkerMirroredStrategy, one process per worker.

Every test has "worker" in its name (`pytest -k worker` selects them). The data are generated
drawings of three categories in a temporary folder, so they run the same with or without the real
sample. The tests that start worker processes are marked slow; their workers listen on 127.0.0.1
only, use one thread each, run under a timeout and are always stopped.
"""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from synthetic import draw_synthetic

import helpers
from quickdraw_cnn import multiclass, workers
from quickdraw_cnn.errors import QuickDrawError, WorkerError

REPO_DIR = Path(__file__).resolve().parents[1]
CLASSES = ["apple", "banana", "rainbow"]
ROWS = 300
TIMEOUT = 180  # seconds for one job: a few epochs of a few hundred drawings, on a loaded machine


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """apple.npy, banana.npy and rainbow.npy: ROWS generated drawings each."""
    path = tmp_path_factory.mktemp("three")
    for seed, kind in enumerate(CLASSES):
        np.save(path / f"{kind}.npy", draw_synthetic(kind, ROWS, seed=10 + seed))
    return path


def job(folder, **options):
    """The keyword arguments of a small job on the generated drawings."""
    return {"classes": CLASSES, "n": 150, "epochs": 2, "data_dir": folder, "timeout": TIMEOUT, **options}


def max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


@pytest.mark.parametrize("config", sorted(helpers.CONFIGS))
def test_worker_network_from_tf_keras_has_the_chapters_layers_and_weights(config):
    """The workers' network comes from the chapters' code (helpers.build_cnn with keras=tf_keras):
    the same layers, and weights of the same shapes in the same order as the Keras 3 model."""
    import tf_keras

    legacy = helpers.build_cnn(classes=14, name=config, keras=tf_keras, **helpers.CONFIGS[config])
    model = helpers.build_cnn(classes=14, name=config, **helpers.CONFIGS[config])
    assert [type(x).__name__ for x in legacy.layers] == [type(x).__name__ for x in model.layers]
    assert [w.shape for w in legacy.get_weights()] == [w.shape for w in model.get_weights()]
    model.set_weights(legacy.get_weights())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "workers must be a whole number of at least 1, got 0"),
        ({"workers": -2}, "workers must be a whole number of at least 1"),
        ({"workers": "2"}, "workers must be a whole number, got '2'"),
        ({"workers": 1.5}, "workers must be a whole number"),
        ({"epochs": 0}, "epochs must be a whole number of at least 1"),
        ({"n": 0}, "n must be a whole number of at least 1"),
        ({"batch_size": 0}, "batch_size must be a whole number of at least 1"),
        ({"timeout": 0}, "timeout must be a number of seconds above 0"),
        ({"timeout": "soon"}, "timeout must be a number of seconds above 0"),
        ({"threads": 0}, "threads must be a whole number of at least 1"),
        ({"shards": 1}, "shards (1) must be at least workers (2)"),
        ({"ports": [5000]}, "ports must list one port per worker (2)"),
        ({"ports": [5000, 5000]}, "ports must be distinct"),
        ({"config": "huge"}, "config must be one of"),
        ({"classes": ["apple"]}, "at least 2"),
        ({"classes": ["apple", "bananna"]}, "banana"),
        ({"n": 5}, "nothing to train"),
        ({"n": ROWS + 1}, "rows"),
    ],
)
def test_worker_settings_that_make_no_sense_are_refused_before_anything_starts(
    folder, tmp_path, options, message
):
    with pytest.raises((QuickDrawError, ValueError, TypeError)) as err:
        workers.start(**{**job(folder), "out": tmp_path / "out", **options})
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()  # no folder, no process


def test_worker_command_line_refuses_zero_workers_and_says_why(folder, tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable,
        str(REPO_DIR / "tools" / "multiworker.py"),
        "--workers",
        "0",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "workers must be a whole number of at least 1, got 0" in done.stderr
    assert not out.exists()


def test_a_busy_worker_port_is_named_before_anything_starts(folder, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        free = workers.ports_for(1)[0]
        with pytest.raises(WorkerError, match=f"port {port} on 127.0.0.1 is in use"):
            workers.start(**job(folder), out=tmp_path / "out", ports=[free, port])
    assert not (tmp_path / "out").exists()


def test_worker_backup_of_other_settings_is_refused_or_deleted_with_fresh(folder, tmp_path, capsys):
    mine = workers.job_settings(CLASSES, 150, 2, data_dir=folder)
    other = workers.job_settings(CLASSES[:2], 150, 2, data_dir=folder, seed=3)
    workers.prepare_backup(tmp_path, other)  # the other job starts: its settings recorded
    checkpoint = tmp_path / "backup" / "chief" / "ckpt-1.index"  # as BackupAndRestore leaves it
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"x")
    workers.prepare_backup(tmp_path, other)
    assert checkpoint.is_file()  # the same job: kept, to resume from
    with pytest.raises(WorkerError) as err:
        workers.prepare_backup(tmp_path, mine)
    for words in (
        "holds the backup of another job",
        "classes ['apple', 'banana'] there",
        "seed 3 there, 0 now",
    ):
        assert words in str(err.value)
    assert checkpoint.is_file()  # refused: nothing deleted
    (tmp_path / "backup" / workers.SETTINGS_FILE).unlink()
    with pytest.raises(WorkerError, match="records no settings"):
        workers.prepare_backup(tmp_path, mine)
    workers.prepare_backup(tmp_path, mine, fresh=True)
    assert "starting fresh: deleted the backup" in capsys.readouterr().out
    assert not checkpoint.exists()
    assert json.loads((tmp_path / "backup" / workers.SETTINGS_FILE).read_text()) == mine


@pytest.mark.slow
def test_two_workers_hold_identical_weights_from_combined_gradients(folder, tmp_path):
    """Two workers end with identical weights, equal to one process trained on both shards' batches
    at once (batch 2 x 32) and unlike one process trained on worker 0's shard alone: the gradients
    really are combined. The Keras 3 model that takes the weights predicts as the workers did."""
    two = workers.train(**job(folder), workers=2, out=tmp_path / "two")
    assert two.identical_weights
    assert [r["epochs_run"] for r in two.reports] == [[0, 1], [0, 1]]
    assert all(r["workers"] == 2 and r["tf_keras"].startswith("2.") for r in two.reports)
    assert not (tmp_path / "two" / "backup").exists()  # a finished job leaves no backup
    both = workers.train(**job(folder), workers=1, batch_size=64, out=tmp_path / "both")
    alone = workers.train(**job(folder), workers=1, shards=2, out=tmp_path / "alone")
    assert both.reports[0]["drawings_per_epoch"] == two.reports[0]["drawings_per_epoch"]
    assert alone.reports[0]["drawings_per_epoch"] * 2 == two.reports[0]["drawings_per_epoch"]
    assert max_difference(two.weights[0], both.weights[0]) < 1e-5
    assert max_difference(two.weights[0], alone.weights[0]) > 1e-3
    model = two.keras_model()  # Keras 3, helpers.build_cnn
    assert model.count_params() == sum(w.size for w in two.weights[0])
    x, _ = multiclass.load_many(CLASSES, workers.PROBE_ROWS, 0, folder)
    p = model.predict(helpers.scale(helpers.to_images(x)), verbose=0)
    np.testing.assert_allclose(p, two.reports[0]["probe"], atol=1e-5)


@pytest.mark.slow
def test_a_killed_worker_is_named_and_the_job_resumes_from_its_backup(folder, tmp_path):
    """Worker 1 is killed mid-training: the error names it and its signal; a rerun with other
    settings is refused; the same job resumes from the last epoch backed up and finishes."""
    options = job(folder, n=ROWS, epochs=8)
    running = workers.start(**options, out=tmp_path)
    try:
        deadline = time.monotonic() + TIMEOUT
        while (
            running.procs[0].poll() is None and running.epochs_done()[0] < 1 and time.monotonic() < deadline
        ):
            time.sleep(0.05)  # until worker 0 (the chief, which writes the backup) has finished an epoch
        assert running.procs[0].poll() is None, "the job ended before a worker could be killed"
        running.procs[1].kill()  # by its own process id
        with pytest.raises(WorkerError) as err:
            running.wait()
    finally:
        running.stop()
    assert err.value.index == 1 and err.value.returncode == -9
    assert "worker 1 was killed by signal 9 (SIGKILL)" in str(err.value)
    assert "Rerunning the same job resumes" in str(err.value)
    with pytest.raises(WorkerError, match="seed 0 there, 1 now"):
        workers.start(**options, out=tmp_path, seed=1)
    resumed = workers.train(**options, out=tmp_path)
    first = resumed.reports[0]["epochs_run"][0]
    assert 1 <= first < 8
    assert [r["epochs_run"] for r in resumed.reports] == [list(range(first, 8))] * 2
    assert resumed.identical_weights


@pytest.mark.slow
def test_a_worker_whose_port_was_taken_after_the_check_names_the_port(folder, tmp_path, monkeypatch):
    """A port taken between the check and the worker's start: the worker's gRPC error is turned
    into one that names the worker and the port."""
    free = workers.ports_for(1)[0]
    monkeypatch.setattr(workers, "ports_for", lambda count, ports=None: ports)  # as if taken just after
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WorkerError, match=f"worker 0 could not listen on port {port} of 127.0.0.1"):
            workers.train(**job(folder), out=tmp_path, ports=[port, free])


@pytest.mark.slow
def test_a_worker_job_past_its_timeout_is_stopped_and_says_so(folder, tmp_path):
    """A job given 2 s: stopped, every worker reaped, and the error gives the seconds and the workers."""
    running = workers.start(**job(folder, timeout=2), out=tmp_path)
    with pytest.raises(WorkerError) as err:
        running.wait()
    assert "did not finish within its timeout of 2 s: worker(s) 0, 1 still running were stopped" in str(
        err.value
    )
    assert all(p.returncode is not None for p in running.procs)  # stopped and reaped

"""Faults (issues 15 and 25): atomic writes that fail cleanly, parameter checks, and the runner's
limits, lock, stops and signals, tried with real files, processes and signals, each bounded in time."""

import errno
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import time

import nbformat
import numpy as np
import pytest

import helpers
from quickdraw_cnn import files, series
from quickdraw_cnn.errors import ParameterError, RunError, WriteError
from quickdraw_cnn.execute import Limits, execute_notebook


def test_written_files_get_ordinary_permissions(tmp_path):
    files.write_json(tmp_path / "a.json", {"x": 1})
    files.atomic_save(tmp_path / "a.npy", np.zeros((1, 784), np.uint8))
    for name in ("a.json", "a.npy"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == files.ORDINARY_MODE
    files.write_bytes(tmp_path / "secret", b"x", private=True)
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch, code):
    path = tmp_path / "split.npz"
    helpers.save_split(path, ["apple", "banana"], 2, 0, 0.5, x_train=np.ones((2, 784), np.uint8))
    before = path.read_bytes()
    real_open = open

    def full_disk_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if "w" in mode and ".tmp" in str(file):
            fh.write = lambda data: (_ for _ in ()).throw(OSError(code, os.strerror(code)))
        return fh

    monkeypatch.setattr("builtins.open", full_disk_open)
    with pytest.raises(WriteError, match="split.npz in the folder") as err:
        helpers.save_split(path, ["apple", "banana"], 3, 0, 0.5, x_train=np.zeros((3, 784), np.uint8))
    monkeypatch.undo()
    assert ".tmp" not in str(err.value)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["split.npz"]


def test_a_failed_write_of_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(
        files.os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full"))
    )
    with pytest.raises(WriteError, match="the disk is full"):
        files.write_json(tmp_path / "m.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_save_split_round_trips(tmp_path):
    parts = {k: np.full((2, 784), i, np.uint8) for i, k in enumerate(("x_train", "x_test"))}
    parts.update(y_train=np.array([1, 0]), y_test=np.array([0, 1]))
    helpers.save_split(tmp_path / "split.npz", ["apple", "banana"], 2, 7, 0.5, **parts)
    back = helpers.load_split(tmp_path)
    assert back["categories"] == ["apple", "banana"] and back["seed"] == 7
    np.testing.assert_array_equal(back["x_test"], parts["x_test"])


@pytest.mark.parametrize(
    "params, word",
    [
        ({"class_counts": ["two"]}, r"class_counts = \[.two.\] is not a list of whole numbers"),
        ({"batch_size": "8"}, "batch_size"),
    ],
)
def test_the_runner_refuses_values_of_another_type(tmp_path, params, word):
    with pytest.raises(ParameterError, match=word):
        series.run_series(tmp_path, params, ["04", "08"], log=lambda *a, **k: None)
    assert not (tmp_path / "notebooks").exists()  # refused before any notebook ran


# -- tiny notebooks, run by the runner in this process or by its command line in another ----------


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# The runner's command line on the notebooks of a folder of our own (``<repo>/notebooks``, ``<repo>/runs``)
CLI = (
    "import sys\nfrom pathlib import Path\nfrom quickdraw_cnn import series\n"
    "series.REPO_DIR = Path(sys.argv[1])\nseries.NOTEBOOK_DIR = series.REPO_DIR / 'notebooks'\n"
    "sys.exit(series.main(sys.argv[2:]))\n"
)


def runner(repo, *args, **popen):
    env = {**os.environ, "CI": "true"}
    return subprocess.Popen(
        [sys.executable, "-c", CLI, str(repo), *args], env=env, text=True, cwd=series.REPO_DIR, **popen
    )


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


def test_run_folders_are_unique_within_a_second(tmp_path):
    made = {series.new_run_dir(tmp_path, stamp="20260101-000000") for _ in range(3)}
    assert sorted(p.name for p in made) == ["20260101-000000", "20260101-000000-2", "20260101-000000-3"]


HOLD = (
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "if sys.argv[2] == 'pid':\n    os.write(fd, f'{os.getpid()}\\n'.encode())\n"
    "print('held', flush=True)\ntime.sleep(60)\n"
)


@pytest.mark.skipif(os.name == "nt", reason="flock: Linux and macOS")
@pytest.mark.parametrize("written", ["pid", "nothing yet"])
def test_a_run_into_a_folder_another_live_process_holds_is_refused(tmp_path, written):
    """Another process holds the lock, with its process number written or not yet: an empty lock
    file of a live run is not stale."""
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder / series.LOCK_NAME), written],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        expected = f"process {holder.pid if written == 'pid' else 'not written yet'}"
        refused = pytest.raises(WriteError, match=f"another run \\({expected}\\) is writing into {folder}")
        with refused, series.locked(folder):
            pass
    finally:
        holder.kill()
        holder.wait(10)
    with series.locked(folder):  # the holder is gone: its lock went with it
        assert (folder / series.LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert not (folder / series.LOCK_NAME).exists()


@pytest.mark.parametrize("left", ["", "9999999\n"])
def test_a_lock_file_left_by_a_killed_run_is_taken(tmp_path, left):
    (tmp_path / series.LOCK_NAME).write_text(left)  # "": killed between creating and writing it
    with series.locked(tmp_path):
        assert (tmp_path / series.LOCK_NAME).read_text() == f"{os.getpid()}\n"


def _contend(folder, rounds, start, report):
    """Take the lock ``rounds`` times; inside, a marker file made with O_EXCL proves nobody else is."""
    from quickdraw_cnn import series
    from quickdraw_cnn.errors import WriteError

    start.wait()
    held = overlaps = 0
    while held < rounds:
        try:
            with series.locked(folder):
                try:
                    fd = os.open(folder / "inside", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    overlaps += 1
                    continue
                held += 1
                os.close(fd)
                os.unlink(folder / "inside")
        except WriteError:
            continue
    report.put(overlaps)


@pytest.mark.skipif(os.name == "nt", reason="fork: Linux and macOS")
def test_two_processes_racing_for_the_lock_never_both_hold_it(tmp_path):
    """Two processes take and release the same lock 300 times each, as fast as they can (the race
    that held both in 138 of 200 trials with the hand-made lock)."""
    context = multiprocessing.get_context("fork")
    start, report = context.Event(), context.Queue()
    racers = [context.Process(target=_contend, args=(tmp_path, 300, start, report)) for _ in range(2)]
    for racer in racers:
        racer.start()
    start.set()
    overlaps = [report.get(timeout=120) for _ in racers]
    for racer in racers:
        racer.join(10)
    assert overlaps == [0, 0] and [r.exitcode for r in racers] == [0, 0]


@pytest.mark.parametrize("where", ["run", "artifacts"])
def test_a_folder_that_cannot_be_written_is_named_with_what_to_do(tmp_path, where):
    """A run or artifacts folder that cannot be made (here under a regular file, which stops root
    too; a read-only file system gives the same WriteError): no raw OSError, nothing run."""
    (tmp_path / "file").write_text("")
    bad = tmp_path / "file" / "sub"
    run_dir, params = (bad, {}) if where == "run" else (tmp_path / "run", {"artifacts_dir": str(bad)})
    with pytest.raises(WriteError, match=f"cannot write into {bad} .*--run-dir, -p artifacts_dir"):
        series.run_series(run_dir, params, ["01"], log=lambda *a, **k: None)
    with pytest.raises(WriteError, match="cannot make a run folder"):
        series.new_run_dir(bad)


@pytest.mark.parametrize(
    "given, name",
    [
        ({"cell_timeout": "nan"}, "--cell-timeout"),
        ({"cell_timeout": "-1"}, "--cell-timeout"),
        ({"cell_timeout": "0"}, "--cell-timeout"),
        ({"deadline": "1e300"}, "--deadline"),
        ({"deadline": "inf"}, "--deadline"),
        ({"env": ("QUICKDRAW_CELL_TIMEOUT", "abc")}, "QUICKDRAW_CELL_TIMEOUT"),
        ({"env": ("QUICKDRAW_RUN_DEADLINE", "nan")}, "QUICKDRAW_RUN_DEADLINE"),
    ],
)
def test_time_limits_are_checked_and_named(monkeypatch, given, name):
    if "env" in given:
        monkeypatch.setenv(*given.pop("env"))
    with pytest.raises(ParameterError, match=f"{name} must be a number of seconds from 1 to 604800"):
        Limits(**given)


def test_a_bad_time_limit_on_the_command_line_is_one_line_not_a_traceback(tmp_path):
    run = runner(tmp_path, "--cell-timeout", "nan", stderr=subprocess.PIPE)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 1 and lines(err) == [
        "--cell-timeout must be a number of seconds from 1 to 604800, got 'nan'"
    ]


def test_bad_parameters_are_refused_before_a_run_folder_is_made(tmp_path):
    write_notebook(tmp_path / "notebooks" / "01_a.ipynb", "x = 1")
    nb = nbformat.read(tmp_path / "notebooks" / "01_a.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("epochs = 25", metadata={"tags": ["parameters"]}))
    nbformat.write(nb, tmp_path / "notebooks" / "01_a.ipynb")
    for args, said in [
        (["-p", "epochz", "3"], "['epochz']"),
        (["-p", "epochs", "2.5"], "epochs = 2.5 is not a whole number"),
    ]:
        run = runner(tmp_path, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = run.communicate(timeout=60)
        assert run.returncode == 1 and said in err and len(lines(err)) == 1, err
    assert not (tmp_path / "runs").exists()


def test_a_cell_past_its_timeout_stops_the_run_naming_notebook_and_cell(tmp_path):
    path = write_notebook(tmp_path / "slow.ipynb", "x = 1", "import time\ntime.sleep(60)", "y = 2")
    with pytest.raises(
        RunError, match=r"slow.ipynb, code cell 2 of 3 \('import time'\).*cell timeout of 3 s"
    ):
        execute_notebook(path, tmp_path / "out.ipynb", {}, tmp_path, limits=Limits(3, 100))
    statuses = [c.metadata.papermill["status"] for c in nbformat.read(tmp_path / "out.ipynb", 4).cells]
    assert statuses == ["completed", "failed", "pending"]


def test_a_kernel_killed_mid_cell_names_notebook_and_cell_and_marks_the_notebook_failed(tmp_path):
    """SIGKILL, as the kernel gets from the out-of-memory killer: one short message, exit 1, and an
    executed notebook that shows the cell that died and none after it as run."""
    write_notebook(
        tmp_path / "notebooks" / "01_dies.ipynb",
        "x = 1",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "y = 2",
    )
    run = runner(tmp_path, "--run-dir", str(tmp_path / "run"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1, err
    out = tmp_path / "run" / "notebooks" / "01_dies.ipynb"
    assert lines(err) == [
        "01_dies.ipynb, code cell 2 of 3 ('import os, signal'): stopped, its kernel died: killed, or out "
        f"of memory (close other programs, or lower parameters); the notebook as far as it ran: {out}"
    ]
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata.papermill["exception"] is True
    assert [c.metadata.papermill["status"] for c in nb.cells] == ["completed", "failed", "pending"]
    assert nb.cells[1].outputs[-1]["ename"] == "DeadKernelError"
    assert not (tmp_path / "runs" / "latest").exists()


@pytest.mark.skipif(os.name == "nt", reason="process groups and SIGINT: Linux and macOS")
def test_ctrl_c_stops_the_run_with_one_line_and_a_whole_notebook(tmp_path):
    """Ctrl-C in a terminal signals the whole process group: the runner stops in seconds, says so
    in one line, exits 130, and leaves a readable executed notebook marked where it stopped."""
    write_notebook(tmp_path / "notebooks" / "01_waits.ipynb", "import time", "time.sleep(120)", "z = 3")
    out = tmp_path / "run" / "notebooks" / "01_waits.ipynb"
    run = runner(
        tmp_path,
        "--run-dir",
        str(tmp_path / "run"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the sleeping cell runs
        if out.is_file() and "time.sleep" in out.read_text() and '"running"' in out.read_text():
            break
        time.sleep(0.2)
    time.sleep(1)
    stopped = time.monotonic()
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert time.monotonic() - stopped < 20
    assert run.returncode == 130, err
    assert len(lines(err)) == 1 and "Traceback" not in err, err
    assert "01_waits.ipynb" in err and "Ctrl-C" in err, err
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata.papermill["exception"] is True
    assert [c.metadata.papermill["status"] for c in nb.cells][-1] == "pending"


def test_a_partial_run_does_not_become_runs_latest(tmp_path):
    """make html and make solutions read runs/latest: only a run of every notebook moves it."""
    for name in ("01_a", "02_b"):
        write_notebook(tmp_path / "notebooks" / f"{name}.ipynb", "x = 1")
    latest = tmp_path / "runs" / "latest"
    done = subprocess.run(
        [sys.executable, "-c", CLI, str(tmp_path), "--only", "01"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CI": "true"},
    )
    assert done.returncode == 0, done.stderr
    assert "runs/latest left as it was: this run ran 1 of the 2 notebooks" in done.stdout
    assert not latest.exists()
    done = subprocess.run(
        [sys.executable, "-c", CLI, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CI": "true"},
    )
    assert done.returncode == 0, done.stderr
    full = latest.resolve()
    assert sorted(p.name for p in (full / "notebooks").iterdir()) == ["01_a.ipynb", "02_b.ipynb"]
    subprocess.run(
        [sys.executable, "-c", CLI, str(tmp_path), "--only", "02"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert latest.resolve() == full


def test_an_experiment_cache_that_cannot_be_written_costs_only_the_estimate(tmp_path, monkeypatch):
    """series-timings.json, which only the estimate reads, lies in the experiment cache: a cache that
    cannot be written (here under a regular file) must not stop a run."""
    write_notebook(tmp_path / "notebooks" / "01_a.ipynb", "x = 1")
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("QUICKDRAW_EXPERIMENT_CACHE", str(tmp_path / "file" / "cache"))
    monkeypatch.setattr(series, "NOTEBOOK_DIR", tmp_path / "notebooks")
    seconds = series.run_series(tmp_path / "run", {}, log=lambda *a, **k: None)
    assert list(seconds) == ["01_a.ipynb"]


KERNEL_SAYS_HOW_IT_TALKS = (
    "import json, os, ipykernel.connect\n"
    "info = json.loads(ipykernel.connect.get_connection_info())\n"
    "print(info['transport'], os.path.dirname(info['ip']))"
)


@pytest.mark.skipif(os.name == "nt", reason="Unix sockets: Linux and macOS")
def test_papermill_kernels_talk_over_unix_sockets_in_a_folder_that_goes_away(tmp_path):
    """No TCP port to lose to a kernel started at the same moment elsewhere (CI once lost one:
    "Address already in use", then "Kernel didn't respond in 60 seconds")."""
    path = write_notebook(tmp_path / "talk.ipynb", KERNEL_SAYS_HOW_IT_TALKS)
    execute_notebook(path, tmp_path / "out.ipynb", {}, tmp_path)
    printed = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].outputs[0]["text"]
    transport, folder = printed.split()
    assert transport == "ipc"
    assert os.path.basename(folder).startswith("quickdraw-kernel-") and not os.path.exists(folder)


@pytest.mark.skipif(os.name == "nt", reason="Unix sockets: Linux and macOS")
def test_nbval_kernels_talk_over_unix_sockets_too():
    """conftest.py hands nbval the same kernel manager (nbval starts kernels through
    nbval.kernel.KernelManager); if a new nbval stops doing so, this fails."""
    from queue import Empty

    from nbval.kernel import RunningKernel

    kernel = RunningKernel("python3")
    try:
        kernel.execute_cell_input(KERNEL_SAYS_HOW_IT_TALKS, allow_stdin=False)
        text = ""
        while "\n" not in text:
            try:
                msg = kernel.get_message("iopub", timeout=30)
            except Empty:
                break
            if msg["msg_type"] == "stream":
                text += msg["content"]["text"]
    finally:
        kernel.stop()
    transport, folder = text.split()
    assert transport == "ipc"
    assert not os.path.exists(folder)


@pytest.mark.slow
def test_runs_started_together_keep_to_their_own_folders_and_results(tmp_path):
    """Four runs of chapter 02 started at once, in the same second (the folder stamp is fixed):
    two with the same parameters, two with others. Each gets its own folder and writes its own
    split: the one its parameters ask for, and the same one for the same parameters."""
    import json
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from quickdraw_cnn import series\n"
        "run = series.new_run_dir(sys.argv[1], stamp='20260101-000000')\n"
        "series.run_series(run, json.loads(sys.argv[2]), ['02'], log=lambda *a, **k: None)\n"
        "print(run)\n"
    )
    asked = [100, 100, 150, 120]  # drawings per class
    started = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), json.dumps({"n_per_class": n})],
            stdout=subprocess.PIPE,
            text=True,
            cwd=series.REPO_DIR,
        )
        for n in asked
    ]
    printed = [p.communicate(timeout=600)[0] for p in started]
    assert [p.returncode for p in started] == [0, 0, 0, 0]  # why not: in the captured stderr
    folders = [text.strip().splitlines()[-1] for text in printed]
    assert len(set(folders)) == 4  # stamp, stamp-2, stamp-3, stamp-4, one each
    splits = [np.load(f"{folder}/artifacts/split.npz") for folder in folders]
    for n, split in zip(asked, splits):
        assert len(split["y_train"]) + len(split["y_test"]) == 2 * n
    assert all(np.array_equal(splits[0][key], splits[1][key]) for key in ("x_train", "x_test", "y_test"))


@pytest.mark.slow
def test_make_run_without_drawings_or_network_ends_with_the_message_not_two_tracebacks(tmp_path):
    """What `make run` shows on a fresh clone offline: the notebook and cell that stopped, the data
    client's message (what to do), where the whole traceback is; no Python traceback."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "QUICKDRAW_DATA_DIR"}
    env.update(
        QUICKDRAW_CACHE_DIR=str(tmp_path / "empty-cache"),
        QUICKDRAW_BASE_URL="http://127.0.0.1:9/nothing",  # the discard port: nothing listens there
        CI="true",
    )
    done = subprocess.run(
        [sys.executable, "-m", "quickdraw_cnn.series", "--only", "01", "--run-dir", str(tmp_path / "run")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "01_data_exploration.ipynb stopped in cell [" in done.stderr, done.stderr
    assert "(code cell " in done.stderr
    assert "DownloadError" in done.stderr and "set QUICKDRAW_DATA_DIR" in done.stderr
    assert f"whole traceback: {tmp_path / 'run' / 'notebooks' / '01_data_exploration.ipynb'}" in done.stderr
    assert "Traceback" not in done.stderr

"""Faults from issue 15: atomic writes that fail cleanly, parameter checks, the runner's limits."""

import errno
import os
import stat

import numpy as np
import pytest

import helpers
from quickdraw_cnn import files, series
from quickdraw_cnn.errors import WriteError


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
        ({"class_counts": ["two"]}, "class_counts must be like its default"),
        ({"batch_size": "8"}, "batch_size"),
    ],
)
def test_the_runner_refuses_values_of_another_type(tmp_path, params, word):
    with pytest.raises(SystemExit, match=word):
        series.run_series(tmp_path, params, ["04", "08"], log=lambda *a, **k: None)


def test_run_folders_are_unique_within_a_second(tmp_path):
    made = {series.new_run_dir(tmp_path, stamp="20260101-000000") for _ in range(3)}
    assert sorted(p.name for p in made) == ["20260101-000000", "20260101-000000-2", "20260101-000000-3"]


def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    with series._locked(tmp_path / "run"):
        (tmp_path / "run" / ".series-lock").write_text("1\n")  # pid 1: alive, another process
        series._HELD.clear()
        with (
            pytest.raises(SystemExit, match="another run .* is writing into"),
            series._locked(tmp_path / "run"),
        ):
            pass


def test_a_cell_past_its_timeout_stops_the_run_naming_notebook_and_cell(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("import time\ntime.sleep(60)")]
    path = tmp_path / "slow.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(
        series.NotebookTimeout, match=r"slow.ipynb, code cell 2 of 2 \('import time'\).*cell timeout of 3 s"
    ):
        series.execute_notebook(path, tmp_path / "out.ipynb", {}, cwd=tmp_path, limits=series._Limits(3, 100))


KERNEL_SAYS_HOW_IT_TALKS = (
    "import json, os, ipykernel.connect\n"
    "info = json.loads(ipykernel.connect.get_connection_info())\n"
    "print(info['transport'], os.path.dirname(info['ip']))"
)


@pytest.mark.skipif(os.name == "nt", reason="Unix sockets: Linux and macOS")
def test_papermill_kernels_talk_over_unix_sockets_in_a_folder_that_goes_away(tmp_path):
    """No TCP port to lose to a kernel started at the same moment elsewhere (CI once lost one:
    "Address already in use", then "Kernel didn't respond in 60 seconds")."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(KERNEL_SAYS_HOW_IT_TALKS)]
    nbformat.write(nb, tmp_path / "talk.ipynb")
    series.execute_notebook(tmp_path / "talk.ipynb", tmp_path / "out.ipynb", {}, cwd=tmp_path)
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
    assert "DownloadError" in done.stderr and "set QUICKDRAW_DATA_DIR" in done.stderr
    assert f"whole traceback: {tmp_path / 'run' / 'notebooks' / '01_data_exploration.ipynb'}" in done.stderr
    assert "Traceback" not in done.stderr

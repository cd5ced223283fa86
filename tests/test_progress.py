"""What `make run` shows while a notebook runs (quickdraw_cnn.progress): the notebook, the cell, the
elapsed time and an estimate; nothing under CI or when the output is not a terminal."""

import io
import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from quickdraw_cnn import progress
from quickdraw_cnn.execute import execute_notebook
from quickdraw_cnn.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_quiet_under_ci_or_without_a_terminal(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert Progress("x", stream=Terminal()).live and not Progress("x", stream=io.StringIO()).live
    monkeypatch.setenv("CI", "true")
    assert not Progress("x", stream=Terminal()).live


def test_the_line_says_notebook_cell_time_and_estimate_from_the_last_run():
    watch = Progress("06_experiments.ipynb", live=False)
    watch._previous = [1.0, 100.0, 50.0, 1.0]  # the last run at the same parameters
    watch.on_notebook_start(notebook(["a", "b", "c", "d"]))
    start = watch.start
    assert watch.line(now=start + 2).endswith("0:02  starting the kernel")
    watch.on_cell_execute(nbformat.v4.new_code_cell("a"), 1)
    watch.cell_start_time = start
    watch.on_cell_executed(None, 1, {})  # cell 1 took about as long as last time
    watch.seconds[-1] = 1.0
    watch.cell_start_time = start + 1
    line = watch.line(now=start + 31)  # 30 s into cell 2, which took 100 s last time
    assert line.startswith("06_experiments.ipynb  cell 2/4  0:31")
    assert watch.remaining(now=start + 31) == pytest.approx(100 + 50 + 1 - 30)
    assert "about 2:01 left (as last time)" in line


def test_the_estimate_scales_with_this_run_and_falls_back_to_cells():
    fast = Progress("x.ipynb", live=False)
    fast._previous = [10.0, 10.0, 10.0]
    fast.on_notebook_start(notebook(["a"] * 3))
    fast.seconds = [2.0]  # this run is five times faster (a warm experiment cache, a faster CPU)
    fast.cell_start_time = fast.start
    assert fast.remaining(now=fast.start) == pytest.approx(20 * 3 / 11)
    assert fast.remaining(now=fast.start + 100) == pytest.approx(10 * 3 / 11)  # cell 2 overran: 3 left
    fresh = Progress("x.ipynb", live=False)
    fresh._previous = [1.0] * 7  # other cells: not used
    fresh.on_notebook_start(notebook(["a"] * 10))
    assert fresh.previous is None and fresh.remaining() is None  # nothing to go on yet
    fresh.seconds = [2.0, 2.0, 2.0]
    fresh.cell_start_time = fresh.start
    fresh.cell = 0
    assert fresh.remaining(now=fresh.start) == pytest.approx(14.0)
    assert "(by cells)" in fresh.line(now=fresh.start)


def test_timings_are_kept_per_notebook_and_parameters_not_per_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("QUICKDRAW_EXPERIMENT_CACHE", str(tmp_path))
    a = Progress("06.ipynb", {"seeds": [0], "artifacts_dir": "/runs/1/artifacts"}, live=False)
    b = Progress("06.ipynb", {"seeds": [0], "artifacts_dir": "/runs/2/artifacts"}, live=False)
    assert a.key == b.key != Progress("06.ipynb", {"seeds": [0, 1]}, live=False).key


def notebook(sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t")])
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_nbclient_reports_each_code_cell_and_the_line_is_drawn(tmp_path):
    """The runner passes Progress's callbacks to nbclient through papermill (public options)."""
    nbformat.write(notebook(["import time", "time.sleep(0.3)", "x = 1", ""]), tmp_path / "t.ipynb")
    screen = Terminal()
    with Progress("t.ipynb", live=True, stream=screen, interval=0.05) as watch:
        execute_notebook(tmp_path / "t.ipynb", tmp_path / "out.ipynb", {}, tmp_path, progress=watch)
    assert watch.total == 3 and len(watch.seconds) == 3 and watch.seconds[1] >= 0.3  # empty cell: not run
    shown = screen.getvalue()
    assert "\r\033[Kt.ipynb  cell 2/3  0:0" in shown  # redrawn in place while cell 2 sleeps
    assert re.search(r"\r\033\[Kt\.ipynb  3/3 cells  \d+:\d\d\n$", shown)  # a last line that stays


def test_a_run_records_its_timings_for_the_next_estimate(tmp_path, monkeypatch):
    """Only a run of every cell keeps its timings; the next run at the same parameters reads them."""
    monkeypatch.setenv("QUICKDRAW_EXPERIMENT_CACHE", str(tmp_path))
    nbformat.write(notebook(["x = 1", "y = 2"]), tmp_path / "t.ipynb")
    with Progress("t.ipynb", {"n": 1}, live=False) as watch:
        execute_notebook(tmp_path / "t.ipynb", tmp_path / "out.ipynb", {}, tmp_path, progress=watch)
    assert progress.timings_path().parent == tmp_path
    assert json.loads(progress.timings_path().read_text()) == {
        watch.key: [round(t, 2) for t in watch.seconds]
    }
    assert Progress("t.ipynb", {"n": 1}, live=False)._previous == [round(t, 2) for t in watch.seconds]
    with pytest.raises(RuntimeError), Progress("t.ipynb", {"n": 2}, live=False):
        raise RuntimeError("stopped")
    assert progress.timings(Progress("t.ipynb", {"n": 2}, live=False).key) is None


def test_the_line_shows_a_download_in_the_notebook_while_its_report_is_fresh(tmp_path):
    status = tmp_path / ".download-progress"
    watch = Progress("01_data_exploration.ipynb", live=False, status_file=status)
    watch.on_notebook_start(notebook(["a"] * 3))
    watch.on_cell_execute(nbformat.v4.new_code_cell("a"), 1)
    assert "downloading" not in watch.line()  # no report yet
    status.write_text("downloading apple.npy: 1.2 of 2.4 MB")
    assert watch.line().endswith("  downloading apple.npy: 1.2 of 2.4 MB")
    os.utime(status, (time.time() - 60, time.time() - 60))  # a report a minute old: the download is over
    assert "downloading" not in watch.line()
    status.write_text("")  # the download said it is done
    assert not watch.line().endswith("  ")


def test_a_download_reports_how_far_it_is_for_the_status_line(tmp_path, monkeypatch):
    """quickdraw_cnn.data writes its progress into the file the runner names, and "" at the end."""
    from npy_server import QuickDrawServer, npy_bytes
    from synthetic import draw_synthetic

    from quickdraw_cnn import data, files

    status = tmp_path / "status"
    written = []
    real = files.write_bytes

    def recording(path, payload, *args, **kwargs):
        if Path(path) == status:
            written.append(payload.decode())
        return real(path, payload, *args, **kwargs)

    monkeypatch.setattr(files, "write_bytes", recording)
    monkeypatch.setenv(data.PROGRESS_FILE_ENV, str(status))
    srv = QuickDrawServer()
    srv.serve("apple", npy_bytes(draw_synthetic("apple", 300, seed=1)))
    try:
        monkeypatch.setenv("QUICKDRAW_BASE_URL", srv.url)
        monkeypatch.delenv("QUICKDRAW_DATA_DIR", raising=False)
        rows = data.load_drawings("apple", 300, cache_dir=tmp_path / "cache", progress=False, timeout=10)
    finally:
        srv.close()
    assert rows.shape == (300, 784)
    assert written and written[0].startswith("downloading apple") and " of 0.2 MB" in written[0]
    assert written[-1] == "" and status.read_text() == ""


def test_timings_that_cannot_be_written_cost_only_the_estimate(tmp_path, monkeypatch):
    """A read-only experiment cache (here: its path lies under a regular file, which stops root too)."""
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("QUICKDRAW_EXPERIMENT_CACHE", str(tmp_path / "file" / "cache"))
    assert progress.timings("k", [1.0]) is None  # no error
    assert progress.timings("k") is None

"""Faults of the download client (issue 25), each against a real HTTP server on 127.0.0.1 and each
bounded in time: a base URL that is not http(s), a trickling or silent server under one deadline
for the whole download, bad numbers in environment variables, and nothing empty, partial or
wrong ever cached."""

import json
import threading
import time

import numpy as np
import pytest
from npy_server import QuickDrawServer
from synthetic import draw_synthetic

from quickdraw_cnn import data, strokes
from quickdraw_cnn.errors import DataError, DownloadError, ParameterError

APPLES = draw_synthetic("apple", 300, seed=1)


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A live server for bitmaps and strokes; no folder, the cache in tmp_path/cache."""
    srv = QuickDrawServer()
    monkeypatch.setenv("QUICKDRAW_BASE_URL", srv.url)
    monkeypatch.setenv("QUICKDRAW_STROKES_URL", srv.url.replace("numpy_bitmap", "simplified"))
    monkeypatch.setenv("QUICKDRAW_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("QUICKDRAW_DATA_DIR", "QUICKDRAW_STROKES_DIR", "QUICKDRAW_DOWNLOAD_DEADLINE"):
        monkeypatch.delenv(name, raising=False)
    srv.serve("apple", APPLES)
    srv.httpd.files["/simplified/apple.ndjson"] = b"".join(stroke_lines(60))
    yield srv
    srv.close()


def stroke_lines(n):
    line = {"word": "apple", "countrycode": "CH", "drawing": [[[0, 50, 100], [10, 60, 200]]]}
    return [json.dumps({**line, "key_id": str(i)}).encode() + b"\n" for i in range(n)]


def cache_files(tmp_path):
    return sorted(p.name for p in (tmp_path / "cache").glob("*")) if (tmp_path / "cache").exists() else []


def within(seconds, call):
    """``call()``'s exception (or None), failing the test if it takes longer than ``seconds``
    (it runs in a thread, so a client that hangs cannot hang the test suite)."""
    caught = []

    def run():
        try:
            call()
        except BaseException as err:  # handed to the test
            caught.append(err)

    thread = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return caught[0] if caught else None, time.monotonic() - start


# ----------------------------------------------------- base URLs that are not http ----


@pytest.mark.parametrize("variable", ["QUICKDRAW_BASE_URL", "QUICKDRAW_STROKES_URL"])
@pytest.mark.parametrize("url", ["file", "ftp://mirror/q", "storage.googleapis.com/q"])
def test_a_base_url_that_is_not_http_is_refused_naming_the_variable(
    server, tmp_path, monkeypatch, variable, url
):
    """The issue's case: a file: URL has no HTTP status, so the .npy header was cached as pixels."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    np.save(folder / "apple.npy", APPLES)
    (folder / "apple.ndjson").write_bytes(b"".join(stroke_lines(5)))
    monkeypatch.setenv(variable, folder.as_uri() if url == "file" else url)
    load = data.load_drawings if variable == "QUICKDRAW_BASE_URL" else strokes.load_strokes
    with pytest.raises(ParameterError, match=f"{variable}=.* is not an http:// or https:// address"):
        load("apple", 5)
    assert cache_files(tmp_path) == [] and server.requests == []


def test_download_itself_refuses_a_url_that_is_not_http(tmp_path):
    with pytest.raises(ParameterError, match="not an http"):
        data.download((tmp_path / "a.npy").as_uri(), 0, 10, time.monotonic() + 5, "apple", "use a folder")


# ---------------------------------------------------------- one deadline, no hang ----


def test_a_header_trickling_at_a_byte_at_a_time_is_too_slow_not_a_bad_file(server, tmp_path):
    """Before: _read_exactly swallowed its own "too slow" error and the short header became
    "not an .npy file"."""
    server.mode, server.httpd.trickle_bytes, server.httpd.trickle_delay = "trickle", 1, 0.05
    err, took = within(10, lambda: data.load_drawings("apple", 5, deadline=1))
    assert isinstance(err, DownloadError), err
    text = str(err)
    assert "apple: header" in text and "too slow" in text and "not an .npy" not in text
    assert "QUICKDRAW_DOWNLOAD_DEADLINE" in text and "QUICKDRAW_DATA_DIR" in text
    assert took < 3 and cache_files(tmp_path) == []


def test_the_deadline_covers_the_header_and_the_rows_together(server, tmp_path, monkeypatch):
    """The header arrives in time, the rows would too by a deadline of their own: not by one for both."""
    monkeypatch.setenv("QUICKDRAW_DOWNLOAD_DEADLINE", "2.75")
    server.mode, server.httpd.trickle_bytes, server.httpd.trickle_delay = "trickle", 128, 0.5
    # The header's 256 bytes take 0.5 s; the row's 784 bytes arrive in 7 chunks, the 6th after
    # 2.5 s (within 2.75 s, a deadline of its own) but 3 s after the start (past one for both).
    err, took = within(10, lambda: data.load_drawings("apple", 1))
    assert isinstance(err, DownloadError) and "too slow" in str(err), err
    assert took < 5 and cache_files(tmp_path) == []


def test_a_silent_server_is_stopped_by_the_deadline_not_the_read_timeout(server, tmp_path):
    server.mode = "silent"
    err, took = within(10, lambda: data.load_drawings("apple", 5, timeout=30, deadline=1))
    assert isinstance(err, DownloadError) and "too slow" in str(err), err
    assert took < 3 and cache_files(tmp_path) == []


def test_strokes_from_a_trickling_server_stop_at_one_deadline_for_all_requests(server, tmp_path, monkeypatch):
    """Before: each Range request had a fresh deadline and a too-slow answer was kept as a short one,
    so the client asked again and again and never ended."""
    monkeypatch.setattr(strokes, "FIRST_CHUNK", 200)
    monkeypatch.setattr(strokes, "LINE_GUESS", 50)  # several small requests
    monkeypatch.setenv("QUICKDRAW_DOWNLOAD_DEADLINE", "1")
    server.mode, server.httpd.trickle_bytes, server.httpd.trickle_delay = "trickle", 100, 0.1
    err, took = within(10, lambda: strokes.load_strokes("apple", 50))
    assert isinstance(err, DownloadError), err
    assert "apple: strokes" in str(err) and "too slow" in str(err) and "QUICKDRAW_STROKES_DIR" in str(err)
    assert took < 3 and cache_files(tmp_path) == []


# ------------------------------------------------------- numbers from the environment ----


@pytest.mark.parametrize("value", ["abc", "nan", "0", "-5", "1e300", "inf", ""])
def test_a_bad_download_deadline_names_the_variable_and_the_range(server, tmp_path, monkeypatch, value):
    monkeypatch.setenv("QUICKDRAW_DOWNLOAD_DEADLINE", value)
    if value == "":  # unset in effect: the default deadline
        assert data.load_drawings("apple", 2).shape == (2, 784)
        return
    for load in (data.load_drawings, strokes.load_strokes):
        with pytest.raises(
            ParameterError,
            match="QUICKDRAW_DOWNLOAD_DEADLINE must be a number of seconds above 0, at most 86400",
        ):
            load("apple", 2)
    assert server.requests == [] and cache_files(tmp_path) == []


@pytest.mark.parametrize(
    "name, value", [("deadline", "soon"), ("deadline", 0), ("timeout", float("nan")), ("timeout", -1)]
)
def test_bad_deadline_and_timeout_arguments_are_refused_before_any_request(server, tmp_path, name, value):
    with pytest.raises(ParameterError, match=f"{name} must be a number of seconds"):
        data.load_drawings("apple", 2, **{name: value})
    assert server.requests == []


# -------------------------------------------------- nothing empty, partial or wrong ----


def test_an_empty_strokes_file_caches_nothing(server, tmp_path):
    server.httpd.files["/simplified/apple.ndjson"] = b""
    with pytest.raises(DataError, match="which has 0"):
        strokes.load_strokes("apple", 3)
    assert cache_files(tmp_path) == []


def test_a_strokes_download_cut_short_by_the_deadline_keeps_the_cache_as_it_was(
    server, tmp_path, monkeypatch
):
    assert len(strokes.load_strokes("apple", 5)) == 5
    before = (tmp_path / "cache" / "apple.ndjson").read_bytes()
    monkeypatch.setenv("QUICKDRAW_DOWNLOAD_DEADLINE", "0.5")
    server.mode, server.httpd.trickle_bytes, server.httpd.trickle_delay = "trickle", 50, 0.2
    err, _ = within(10, lambda: strokes.load_strokes("apple", 50))
    assert isinstance(err, DownloadError), err
    assert (tmp_path / "cache" / "apple.ndjson").read_bytes() == before
    assert cache_files(tmp_path) == ["apple.ndjson"]  # no temporary file either


def test_a_200_answer_of_another_length_is_never_cached(server, tmp_path):
    """A server that ignores Range and sends a file of another size than its header says."""
    server.serve("apple", server.httpd.files["/numpy_bitmap/apple.npy"] + b"x" * 10)
    server.mode = "ignore"
    with pytest.raises(DownloadError, match="something else. Nothing was saved"):
        data.load_drawings("apple", 5)
    assert cache_files(tmp_path) == []


def test_padded_or_repeated_category_names_are_refused_not_merged(server):
    """The issue's case: ['apple ', 'apple'] trained apple against apple."""
    with pytest.raises(
        ParameterError, match="'apple ' is not a Quick, Draw! category .*did you mean 'apple'"
    ):
        data.check_categories(["apple ", "apple"], min_count=2)
    with pytest.raises(ParameterError, match="spaces at its ends"):
        data.load_drawings("apple ", 2)
    assert server.requests == []

"""quickdraw_cnn.strokes: Google's simplified strokes from a folder, the cache or a real HTTP server on
127.0.0.1 (Range honoured, Range ignored, answers cut mid-line, a 404), checked and cached whole."""

import json

import pytest
from npy_server import QuickDrawServer

from quickdraw_cnn import strokes
from quickdraw_cnn.errors import DataError, DownloadError, ParameterError
from quickdraw_cnn.files import REPO_DIR

SHARED_STROKES = REPO_DIR.parent / "shared" / "quickdraw" / "simplified"


def drawing_lines(n, word="apple"):
    """``n`` ndjson lines shaped like Google's, of different lengths (so chunks end mid-line)."""
    lines = []
    for i in range(n):
        xs = list(range(0, 255, 3 + i % 3))
        line = {"word": word, "countrycode": "CH", "key_id": str(i), "drawing": [[xs, xs[::-1]]]}
        lines.append(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    return lines


@pytest.fixture
def server(monkeypatch, tmp_path):
    srv = QuickDrawServer()
    monkeypatch.setenv("QUICKDRAW_STROKES_URL", srv.url.replace("numpy_bitmap", "simplified"))
    monkeypatch.setenv("QUICKDRAW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("QUICKDRAW_STROKES_DIR", raising=False)
    monkeypatch.setattr(strokes, "FIRST_CHUNK", 500)  # several requests, each ending mid-line
    monkeypatch.setattr(strokes, "LINE_GUESS", 100)
    yield srv
    srv.close()


def serve(srv, category, lines):
    srv.httpd.files[f"/simplified/{category.replace(' ', '%20')}.ndjson"] = b"".join(lines)


def cached(tmp_path, category="apple"):
    return (tmp_path / "cache" / f"{category}.ndjson").read_bytes()


@pytest.mark.parametrize("mode", ["range", "ignore", "drop"])
def test_the_first_lines_arrive_whole_and_are_cached_cut_at_a_line_end(server, tmp_path, mode):
    lines = drawing_lines(40)
    serve(server, "apple", lines)
    server.mode = mode  # 206 with the bytes asked for; 200 with the whole file; 206 cut in half
    got = strokes.load_strokes("apple", 5, offset=5)
    assert [g["key_id"] for g in got] == [str(i) for i in range(5, 10)]
    assert cached(tmp_path) == b"".join(lines[:10])  # up to the last line asked for, no half line
    status = {206} if mode != "ignore" else {200}
    assert {r["status"] for r in server.requests} == status and len(server.requests) >= 2
    if mode == "range":  # only about the bytes needed: the last request asked for the rest of line 10
        assert server.sent() < 1.5 * len(b"".join(lines[:10]))


def test_more_lines_ask_only_for_the_bytes_after_the_cache(server, tmp_path):
    lines = drawing_lines(40)
    serve(server, "apple", lines)
    strokes.load_strokes("apple", 10)
    server.forget()
    assert strokes.load_strokes("apple", 3, offset=2) == [json.loads(x) for x in lines[2:5]]
    assert server.requests == []  # the cache has them
    strokes.load_strokes("apple", 20)
    first = server.requests[0]["range"]
    assert first.startswith(f"bytes={len(b''.join(lines[:10]))}-")
    assert cached(tmp_path) == b"".join(lines[:20])


def test_a_file_shorter_than_asked_for_says_how_many_it_has(server, tmp_path):
    serve(server, "apple", drawing_lines(7))
    with pytest.raises(DataError, match="which has 7"):
        strokes.load_strokes("apple", 10)
    assert len(cached(tmp_path).splitlines()) == 7  # what there is, whole lines
    assert strokes.load_strokes("apple", 7)[-1]["key_id"] == "6"


def test_a_misspelt_category_or_a_404_is_refused_and_nothing_is_written(server, tmp_path):
    with pytest.raises(ParameterError, match="'appel' is not a Quick, Draw! category .*'apple'"):
        strokes.load_strokes("appel", 3)
    assert server.requests == []
    with pytest.raises(DownloadError, match="banana: strokes .*HTTP 404.*QUICKDRAW_STROKES_DIR"):
        strokes.load_strokes("banana", 3)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_server_error_and_no_server_are_download_errors(server, tmp_path, monkeypatch):
    serve(server, "apple", drawing_lines(5))
    server.mode = "500"
    with pytest.raises(DownloadError, match="HTTP 500"):
        strokes.load_strokes("apple", 3)
    monkeypatch.setenv("QUICKDRAW_STROKES_URL", "http://127.0.0.1:9/simplified")
    with pytest.raises(DownloadError, match="QUICKDRAW_STROKES_DIR"):
        strokes.load_strokes("apple", 3)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_corrupt_cache_is_fetched_again(server, tmp_path):
    lines = drawing_lines(10)
    serve(server, "apple", lines)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "apple.ndjson").write_bytes(b'{"drawing": [[[1, 2], [3]]]}\n')
    with pytest.warns(UserWarning, match="Corrupt cache file"):
        assert strokes.load_strokes("apple", 2)[1]["key_id"] == "1"
    assert cached(tmp_path) == b"".join(lines[:2])


def test_what_is_not_strokes_is_refused(server, tmp_path):
    server.httpd.files["/simplified/apple.ndjson"] = b"\x93NUMPY this is a bitmap file\n" * 50
    with pytest.raises(DataError, match="not a Quick, Draw! simplified-strokes line"):
        strokes.load_strokes("apple", 3)
    assert not (tmp_path / "cache" / "apple.ndjson").exists()


def test_a_folder_is_read_first_without_the_network(tmp_path, monkeypatch):
    folder = tmp_path / "simplified"
    folder.mkdir()
    (folder / "full_simplified_banana.ndjson").write_bytes(b"".join(drawing_lines(4, "banana")))
    monkeypatch.setenv("QUICKDRAW_STROKES_URL", "http://127.0.0.1:9/nothing-here")
    monkeypatch.delenv("QUICKDRAW_STROKES_DIR", raising=False)
    assert strokes.load_strokes("banana", 2, offset=2, strokes_dir=folder)[0]["key_id"] == "2"
    monkeypatch.setenv("QUICKDRAW_STROKES_DIR", str(folder))
    assert len(strokes.load_strokes("banana", 4)) == 4
    with pytest.raises(DataError, match="holds 4"):
        strokes.load_strokes("banana", 5)
    (folder / "bad.ndjson").write_text('{"word": "bad"}\n')
    with pytest.raises(DataError, match="line 1 of"):
        strokes.load_strokes("bad", 1)
    with pytest.raises(ParameterError, match="given as strokes_dir does not exist"):
        strokes.load_strokes("banana", 1, strokes_dir=tmp_path / "nowhere")


def test_downloads_are_quiet_under_ci(server, capfd, monkeypatch):
    monkeypatch.setenv("CI", "true")
    serve(server, "apple", drawing_lines(400))
    strokes.load_strokes("apple", 300)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_the_shared_sample_pairs_strokes_with_their_bitmaps():
    if not (SHARED_STROKES / "apple.ndjson").is_file():
        pytest.skip("no shared sample beside this clone")
    pairs = strokes.load_pairs(
        ["apple", "banana"], 10, data_dir=SHARED_STROKES.parent / "numpy_bitmap", strokes_dir=SHARED_STROKES
    )
    assert [len(v) for v in pairs.values()] == [10, 10]
    assert all(bitmap.shape == (28, 28) and len(s[0]) == 2 for v in pairs.values() for s, bitmap in v)

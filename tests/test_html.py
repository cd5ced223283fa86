"""`make html` (tools/build_html.py) on the committed notebooks: a page per chapter, an index and
the Draw page, figures embedded, every link between the pages resolves, anchors included, and the
drawing pad ships only the files it needs, from the folder itself (no CDN), with the exported
networks it finds. tests/test_pages_pad.py runs the pad in a browser."""

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO_DIR / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) + sorted(NOTEBOOKS.glob("A[0-9]_*.ipynb"))
sys.path.insert(0, str(REPO_DIR / "tools"))
import build_html  # noqa: E402


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images, self.scripts, self.styles = [], set(), [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.styles.append(attrs.get("href", ""))


def parse(path):
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def runtime():
    """onnxruntime-web in web/node_modules (npm ci when missing, as make html does), or skip without npm."""
    if all((build_html.RUNTIME_DIR / name).is_file() for name in build_html.RUNTIME_FILES):
        return build_html.RUNTIME_DIR
    npm = shutil.which("npm")
    if npm is None:
        why = "the pad needs onnxruntime-web from npm: install Node.js 20+ with npm, then make html"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=build_html.WEB_DIR, check=True
    )
    return build_html.RUNTIME_DIR


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    runtime()
    out = tmp_path_factory.mktemp("site")
    no_models = tmp_path_factory.mktemp("no-artifacts")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_DIR / "tools" / "build_html.py"),
            "--source",
            str(REPO_DIR / "notebooks"),
            "--artifacts",
            str(no_models),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_a_page_per_chapter_and_an_index(site):
    assert sorted(p.name for p in site.glob("*.html")) == sorted(
        ["index.html", "draw.html"] + [p.stem + ".html" for p in CHAPTERS]
    )
    index = (site / "index.html").read_text(encoding="utf-8")
    for path in CHAPTERS:
        title = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].lstrip("# ")
        assert title.split(" · ")[1].split(":")[0].replace("'", "&#x27;") in index, title
    links = parse(site / "index.html").links
    assert links[: len(CHAPTERS)] == [p.stem + ".html" for p in CHAPTERS]
    assert "draw.html" in links[len(CHAPTERS) :]


def test_every_link_resolves(site):
    pages = {p.name: parse(p) for p in site.glob("*.html")}
    checked = 0
    for name, page in pages.items():
        for href in page.links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc:
                continue  # the web: not checked offline
            target = unquote(parts.path) or name
            assert target in pages, f"{name}: link to {href}, which is not a page"
            if parts.fragment:  # a browser tries the fragment as written, then percent-decoded
                ids = pages[target].ids
                assert parts.fragment in ids or unquote(parts.fragment) in ids, f"{name}: no anchor {href}"
            checked += 1
    assert checked > len(CHAPTERS) * 2  # chapters link each other, and the index links them all


def test_chapters_link_pages_not_notebooks(site):
    for path in CHAPTERS:
        links = parse(site / f"{path.stem}.html").links
        assert not [h for h in links if h.endswith(".ipynb") or ".ipynb#" in h], path.name
        assert any(re.fullmatch(r"\d\d_\w+\.html(#.*)?", h) for h in links), path.name


def test_figures_are_embedded(site):
    total = 0
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        figures = sum(
            "image/png" in out.get("data", {})
            for cell in nb.cells
            if cell.cell_type == "code"
            for out in cell.outputs
        )
        images = parse(site / f"{path.stem}.html").images
        assert len(images) >= figures, path.name
        assert all(src.startswith("data:image/") for src in images), path.name
        total += figures
    assert total >= len(CHAPTERS)  # the series shows figures: a page without them would be a fault


def test_a_link_to_a_file_outside_the_pages_keeps_its_text(tmp_path):
    (tmp_path / "01_a.html").write_text("x")
    page, dropped = build_html.unlink_missing(
        '<a href="01_a.html#top">one</a> <a class="x" href="../helpers.py">helpers</a> '
        '<a href="https://example.org">web</a>',
        tmp_path,
    )
    assert dropped == ["../helpers.py"]
    assert (
        page
        == '<a href="01_a.html#top">one</a> <a class="x">helpers</a> <a href="https://example.org">web</a>'
    )


def test_the_pad_ships_only_what_it_needs_from_its_own_folder(site):
    """Chapter 07's page and the Draw page carry the pad; every script and style they load is a
    file of the folder (no CDN); the runtime is the three files of the WebAssembly backend."""
    assert sorted(p.name for p in (site / "ort").iterdir()) == sorted(
        [*build_html.RUNTIME_FILES, "NOTICE.txt"]
    )
    assert "onnxruntime-web" in (site / "ort" / "NOTICE.txt").read_text()
    for name in ("07_what_the_network_sees.html", "draw.html"):
        text = (site / name).read_text(encoding="utf-8")
        assert text.count('class="qd-webpad"') == 1, name
        assert "Google Creative Lab" in text and "creativecommons.org/licenses/by/4.0" in text, name
        page = parse(site / name)
        pad_files = ["ort/ort.wasm.min.js", "quickdraw.js", "pad.js"]
        assert [s for s in page.scripts if not s.startswith("data:")][-3:] == pad_files, name
        for src in [*pad_files, *page.styles]:
            assert not urlsplit(src).scheme and (site / src).is_file(), f"{name}: {src}"
    # the notebook's widget is replaced (a static page cannot run it): no widget view is left
    # for nbconvert's widget manager, which would load from a CDN
    chapter = (site / "07_what_the_network_sees.html").read_text(encoding="utf-8")
    assert '<script type="application/vnd.jupyter.widget-view+json">' not in chapter
    assert "widget-state+json" not in chapter


def test_without_exported_networks_the_pad_says_which_notebook_to_run(site):
    index = json.loads((site / "models" / "models.json").read_text())
    assert index["configurations"] == [] and "run 04_training.ipynb" in index["missing"]
    assert [p.name for p in (site / "models").iterdir()] == ["models.json"]


def test_exported_networks_are_copied_and_listed_in_order(tmp_path):
    """copy_pad with two descriptions (08's and 04's), one broken and one whose file is gone."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()

    def describe(name, made_by, categories, output):
        (artifacts / f"model_{name}.onnx").write_bytes(b"onnx " + name.encode())
        info = {
            "configuration": name,
            "file": f"model_{name}.onnx",
            "categories": categories,
            "output": output,
            "input": "image",
            "input_scale": 1 / 255,
            "made_by": made_by,
        }
        (artifacts / f"model_{name}.onnx.json").write_text(json.dumps(info))
        return info

    many = describe("origin-3-classes", "08_many_categories.ipynb", ["a", "b", "c"], "softmax")
    improved = describe("improved", "04_training.ipynb", ["apple", "banana"], "sigmoid")
    origin = describe("origin", "04_training.ipynb", ["apple", "banana"], "sigmoid")
    describe("gone", "04_training.ipynb", ["apple", "banana"], "sigmoid")
    (artifacts / "model_gone.onnx").unlink()
    (artifacts / "model_broken.onnx.json").write_text("{not json")
    out = tmp_path / "site"
    out.mkdir()
    index = build_html.copy_pad(out, artifacts, runtime())
    assert index == {"configurations": [origin, improved, many]}  # 04's before 08's, origin first
    assert json.loads((out / "models" / "models.json").read_text()) == index
    assert sorted(p.name for p in (out / "models").iterdir()) == [
        "model_improved.onnx",
        "model_origin-3-classes.onnx",
        "model_origin.onnx",
        "models.json",
    ]
    assert (out / "models" / "model_origin.onnx").read_bytes() == b"onnx origin"


def test_a_missing_runtime_is_named_with_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="npm ci"):
        build_html.copy_pad(tmp_path, tmp_path, tmp_path / "nowhere")


def test_the_committed_notebooks_come_with_the_networks_they_were_made_with(tmp_path, monkeypatch):
    """web/networks/ holds what 04 and 08 exported in the run whose outputs are committed (make
    notebooks writes it): the networks the pages of a fresh clone, with no run and no artifacts/,
    put in the pad. Each description names its file and the categories of its chapter."""
    import ast
    import json

    import nbformat

    def defaults(chapter):
        nb = nbformat.read(REPO_DIR / "notebooks" / chapter, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        return {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(cell.source).body}

    expected = {
        "04_training.ipynb": defaults("04_training.ipynb")["categories"],
        "08_many_categories.ipynb": defaults("08_many_categories.ipynb")["classes"],
        "09_not_sure.ipynb": [*defaults("09_not_sure.ipynb")["categories"], "other"],  # "not sure"
    }
    found = {}
    for info_path in sorted(build_html.COMMITTED_NETWORKS.glob("model_*.onnx.json")):
        info = json.loads(info_path.read_text())
        assert (build_html.COMMITTED_NETWORKS / info["file"]).stat().st_size > 10_000, info
        assert info["categories"] == expected[info["made_by"]], info
        found.setdefault(info["made_by"], []).append(info["configuration"])
    assert set(found) == set(expected), found  # a network of 04, of 08 and of 09
    # the committed notebooks take the committed networks, also when a test run (nbval writes
    # ../artifacts) left others in artifacts/; a run's notebooks take that run's artifacts
    monkeypatch.setattr(build_html, "REPO_DIR", tmp_path)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "model_x.onnx.json").write_text("{}")
    assert build_html.default_artifacts(tmp_path / "notebooks") == build_html.COMMITTED_NETWORKS
    run = tmp_path / "runs" / "20260101-000000"
    assert build_html.default_artifacts(run / "notebooks") == run / "artifacts"


@pytest.mark.parametrize("kind", ["the repository", "docs"])
def test_a_folder_the_pages_did_not_make_is_never_emptied(tmp_path, kind):
    """make html HTML_DIR=. (the repository, .git included) or HTML_DIR=docs: refused, nothing removed,
    the message says what to do."""
    out = tmp_path / kind
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / "README.md").write_text("mine\n")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_DIR / "tools" / "build_html.py"),
            "--source",
            str(NOTEBOOKS),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (
        f"{out} is not a folder of pages made by make html" in done.stderr
        and "nothing was removed" in done.stderr
    )
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_a_folder_of_pages_is_emptied_and_an_empty_one_used(tmp_path, monkeypatch):
    made = build_html.fresh_folder(tmp_path / "new" / "site")  # made here: marked
    assert (made / build_html.MARKER).is_file()
    (made / "old-page.html").write_text("from an earlier build")
    again = build_html.fresh_folder(made)
    assert sorted(p.name for p in again.iterdir()) == [build_html.MARKER]
    (tmp_path / "empty").mkdir()
    assert (build_html.fresh_folder(tmp_path / "empty") / build_html.MARKER).is_file()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(build_html.WriteError):
        build_html.fresh_folder(tmp_path / "a-file")
    assert (tmp_path / "a-file").read_text() == "x"


def test_the_site_is_marked_as_made_by_make_html(site):
    assert (site / build_html.MARKER).is_file()


def test_make_clean_removes_only_a_folder_of_pages(tmp_path):
    """make clean HTML_DIR=<folder>: only a folder that make html made goes (run in a scratch folder)."""
    import shutil

    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    mine, pages = tmp_path / "mine", build_html.fresh_folder(tmp_path / "pages")
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    for folder in (mine, pages):
        make = [
            "make",
            "-s",
            "-f",
            str(REPO_DIR / "Makefile"),
            "-C",
            str(tmp_path),
            "clean",
            f"HTML_DIR={folder}",
        ]
        subprocess.run(make, check=True, capture_output=True, timeout=60)
    assert (mine / "keep.txt").read_text() == "x" and not pages.exists()

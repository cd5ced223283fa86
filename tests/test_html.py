"""`make html` (tools/build_html.py) on the committed notebooks: a page per chapter and an index,
figures embedded, and every link between the pages resolves, anchors included."""

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO_DIR / "notebooks").glob("[0-9][0-9]_*.ipynb"))


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images = [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))


def parse(path):
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_DIR / "tools" / "build_html.py"),
            "--source",
            str(REPO_DIR / "notebooks"),
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
        ["index.html"] + [p.stem + ".html" for p in CHAPTERS]
    )
    index = (site / "index.html").read_text(encoding="utf-8")
    for path in CHAPTERS:
        title = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].lstrip("# ")
        assert title.split(" · ")[1].split(":")[0].replace("'", "&#x27;") in index, title
    assert parse(site / "index.html").links[: len(CHAPTERS)] == [p.stem + ".html" for p in CHAPTERS]


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
    sys.path.insert(0, str(REPO_DIR / "tools"))
    import build_html

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

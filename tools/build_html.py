"""The executed series as static HTML pages to share: `make html`.

One page per chapter (nbconvert, figures embedded as data) plus ``index.html`` with each chapter's
title and first sentence. Links between chapters (``NN_name.ipynb``) become links between pages
(``NN_name.html``); a relative link to a file the pages do not include (``../helpers.py``) keeps
its text and loses its link, and is reported. The source is the newest run (``runs/latest``)
when there is one, else the committed notebooks.

    python tools/build_html.py [--source FOLDER] [--out site]
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_DIR = Path(__file__).resolve().parents[1]
CHAPTER = re.compile(r"^\d\d_[\w-]+\.ipynb$")
CREDIT = (
    'Drawings from the <a href="https://github.com/googlecreativelab/quickdraw-dataset">Quick, '
    "Draw! dataset</a> by Google Creative Lab, licensed "
    '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>.'
)


def default_source():
    """runs/latest/notebooks when a run exists, else the committed notebooks."""
    latest = REPO_DIR / "runs" / "latest" / "notebooks"
    return latest.resolve() if latest.is_dir() else REPO_DIR / "notebooks"


def chapters(source):
    found = sorted(p for p in Path(source).glob("*.ipynb") if CHAPTER.match(p.name))
    if not found:
        raise SystemExit(f"no chapters (NN_name.ipynb) in {source}: run `make run` first, or pass --source")
    return found


def title_and_line(nb):
    """The chapter's title (its first heading) and the first sentence under it."""
    first = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    lines = first.splitlines()
    title = next((line.lstrip("#").strip() for line in lines if line.startswith("#")), "")
    prose = " ".join(line.strip() for line in lines if line.strip() and not line.startswith(("#", ">")))
    sentence = re.split(r"(?<=[.?])\s+(?=[A-Z(])", prose, maxsplit=1)[0] if prose else ""
    return title, re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", sentence)  # markdown links to their text


def link_chapters(nb, names):
    """Markdown links ``NN_name.ipynb[#anchor]`` to chapters of the site become ``NN_name.html``."""
    pattern = re.compile(r"(\]\(|href=\")(\d\d_[\w-]+)\.ipynb(#[^)\"\s]*)?(?=[)\"\s])")

    def swap(m):
        if f"{m.group(2)}.ipynb" not in names:
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}.html{m.group(3) or ''}"

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = pattern.sub(swap, cell.source)
    return nb


def is_local(href):
    parts = urlsplit(href)
    return not (parts.scheme or parts.netloc or href.startswith(("#", "//")))


def unlink_missing(page, out_dir):
    """Drop the link (keep the text) of every relative href whose file is not in ``out_dir``."""
    dropped = []

    def check(m):
        href = html.unescape(m.group(2))
        target = unquote(urlsplit(href).path)
        if not is_local(href) or not target or (out_dir / target).is_file():
            return m.group(0)
        dropped.append(href)
        return f"<a{m.group(1)}{m.group(3)}>"

    page = re.sub(r'<a([^>]*?)\shref="([^"]*)"([^>]*)>', check, page)
    return page, dropped


def build(source, out_dir):
    """Write the pages and index.html into ``out_dir``; return the list of pages written."""
    import nbformat
    from nbconvert import HTMLExporter

    paths = chapters(source)
    names = {p.name for p in paths}
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    exporter = HTMLExporter(template_name="lab")
    entries, pages = [], []
    for path in paths:
        nb = link_chapters(nbformat.read(path, as_version=4), names)
        title, line = title_and_line(nb)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title or path.stem}})
        page = out_dir / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        entries.append((page.name, title or path.stem, line))
        pages.append(page)
    for page in pages:  # once all pages exist, links to files that are not here lose their href
        text, dropped = unlink_missing(page.read_text(encoding="utf-8"), out_dir)
        page.write_text(text, encoding="utf-8")
        for href in dropped:
            print(f"{page.name}: link to {href} kept as text (not part of the pages)", file=sys.stderr)
    index = out_dir / "index.html"
    index.write_text(index_page(entries, source), encoding="utf-8")
    return [index, *pages]


def index_page(entries, source):
    where = (
        "the committed notebooks"
        if Path(source).resolve() == (REPO_DIR / "notebooks").resolve()
        else f"the run {Path(source).resolve().parent.name}"
    )
    items = "\n".join(
        f'  <li><a href="{html.escape(href)}">{html.escape(title)}</a><br>'
        f"<span>{html.escape(line)}</span></li>"
        for href, title, line in entries
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>quickdraw-cnn: apples or bananas?</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
         line-height: 1.5; color: #222; }}
  li {{ margin: 0.8rem 0; }} li span {{ color: #555; }} footer {{ color: #666; font-size: 0.9rem; }}
</style>
</head>
<body>
<h1>quickdraw-cnn: apples or bananas?</h1>
<p>A series of notebooks that trains a small convolutional network (TensorFlow / Keras 3) to tell
hand-drawn apples from bananas. Each chapter below is the executed notebook, with its figures.</p>
<ol>
{items}
</ol>
<footer><p>{CREDIT}</p><p>Pages made with nbconvert from {html.escape(where)}.</p></footer>
</body>
</html>
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", help="folder of executed chapters (default: runs/latest, else notebooks/)")
    ap.add_argument("--out", default=str(REPO_DIR / "site"), help="output folder (replaced)")
    args = ap.parse_args(argv)
    source = Path(args.source) if args.source else default_source()
    pages = build(source, args.out)
    print(f"{len(pages) - 1} chapters from {source} -> {Path(args.out).resolve() / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

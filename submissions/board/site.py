"""Write the board's static site into SITE_DIR, and nowhere else.

Layout (issue-23 design): ``index.html``; ``<benchmark>.html``; ``results/<result_id>.html``;
``results/<result_id>/run_<k>/{mllog.txt,result.json,train.log,recipe.yaml}`` (copies of the submission's files);
``assets/plotly.min.js`` (plotly's own bundle, copied from the installed ``plotly`` package), ``assets/board.js``
and ``assets/board.css``; ``.robustperf-board.json`` lists what the board wrote.

Safety: SITE_DIR must be a folder (or not exist yet), never a symbolic link or a file; a folder that is not empty
must be an earlier board (it holds ``.robustperf-board.json``), so a mistyped ``-o`` cannot scatter pages among
someone's files. Every file is written atomically (a temporary file in its folder, then a rename,
:func:`results.io.atomic_write`), only under SITE_DIR, never through a symbolic link inside it; a file whose
content is already there is left alone. The writes skip fsync (``durable=False``): the site is derived from its
inputs and rewritten in bulk (a thousand results are some 20,000 files), so a power cut costs a rebuild, while
a reader still never sees half a file. Files of the previous board that the new one does not write are removed
(only those the previous manifest lists, only regular files inside SITE_DIR).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
from typing import Dict, List, Optional, Sequence, Tuple, Union

from results.io import atomic_write

from .errors import BoardError
from .model import Result
from .pages import benchmark_page, index_page
from .paths import benchmark_pages
from .result_page import files_to_copy, result_page

MANIFEST = ".robustperf-board.json"
FORMAT = "robustperf-board/1"
#: the site's own static files, shipped beside this module
STATIC = ("board.js", "board.css")


class _Copy(str):
    """A source file to copy (a path), as opposed to text to write."""


Content = Union[str, bytes, _Copy]


def plotly_js() -> str:
    """The path of the installed plotly package's own ``plotly.min.js``."""
    spec = importlib.util.find_spec("plotly")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = os.path.join(folder, "package_data", "plotly.min.js")
        if os.path.isfile(path):
            return path
    raise BoardError("the plotly package (and its plotly.min.js) is not installed: pip install plotly")


def plan(results: Sequence[Result], zoo: Optional[Dict[str, List[dict]]] = None) -> Dict[str, Content]:
    """site-relative path -> what to write there, for every file of the site; ``zoo``: benchmark -> estimates of
    published models (:mod:`.zoo`), shown apart on the benchmark's page (a page of its own when no result has
    entered the benchmark)."""
    zoo = zoo or {}
    by_benchmark: Dict[str, List[Result]] = {benchmark: [] for benchmark in zoo}
    for result in results:
        by_benchmark.setdefault(str(result.row["benchmark"]), []).append(result)
    pages = benchmark_pages(by_benchmark)
    files: Dict[str, Content] = {"index.html": index_page(by_benchmark, pages)}
    for benchmark, members in by_benchmark.items():
        files[pages[benchmark]] = benchmark_page(benchmark, members, zoo=zoo.get(benchmark, ()))
        for result in members:
            files[f"results/{result.page_id}.html"] = result_page(result, pages[benchmark])
            files.update({rel: _Copy(src) for rel, src in files_to_copy(result).items()})
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
    files.update({f"assets/{name}": _Copy(os.path.join(here, name)) for name in STATIC})
    files["assets/plotly.min.js"] = _Copy(plotly_js())
    return files


def build_site(results: Sequence[Result], site_dir: str,
               zoo: Optional[Dict[str, List[dict]]] = None) -> Tuple[str, int]:
    """Write the site of ``results`` into ``site_dir``; returns (the index page's path, files written or kept).

    Raises:
        BoardError: ``site_dir`` is a symbolic link or a file, a folder that holds other things than an earlier
            board, or a path inside it is a symbolic link.
    """
    site = _check_site(site_dir)
    files = plan(results, zoo)
    writer = _Writer(site)
    for rel, content in files.items():
        writer.write(rel, content)
    _remove_stale(site, set(files))
    manifest = json.dumps({"format": FORMAT, "files": sorted(files)}, indent=0) + "\n"
    writer.write(MANIFEST, manifest, durable=True)  # what marks the folder as a board: kept through a power cut
    return os.path.join(site, "index.html"), len(files)


def _check_site(site_dir: str) -> str:
    if not site_dir:
        raise BoardError("no site folder: give -o SITE_DIR")
    if os.path.islink(site_dir):
        raise BoardError("the site folder is a symbolic link; give a real folder (the board never writes through a "
                         "link)", path=site_dir)
    if os.path.lexists(site_dir) and not os.path.isdir(site_dir):
        raise BoardError("the site folder exists and is not a folder", path=site_dir)
    site = os.path.abspath(site_dir)
    if os.path.isdir(site):
        entries = os.listdir(site)
        if entries and MANIFEST not in entries:
            raise BoardError(f"the site folder is not empty and holds no {MANIFEST} (it is not a board written "
                             "by robustperf board); give a new or empty folder", path=site_dir)
        if MANIFEST in entries and not _is_regular(os.path.join(site, MANIFEST)):
            raise BoardError(f"{MANIFEST} is not a regular file", path=site_dir)
    else:
        os.makedirs(site)
    return site


def _is_regular(path: str) -> bool:
    return os.path.isfile(path) and not os.path.islink(path)


class _Writer:
    """Atomic writes under one site folder, refusing any symbolic link on the way (each folder checked once)."""

    def __init__(self, site: str):
        self.site = site
        self.checked = {site}

    def _folder(self, rel: str) -> str:
        parts = rel.split("/")[:-1]
        folder = self.site
        for part in parts:
            if part in ("", ".", ".."):
                raise BoardError(f"unsafe page path {rel!r}", path=self.site)  # paths.slug prevents this
            folder = os.path.join(folder, part)
            if folder in self.checked:
                continue
            if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
                raise BoardError(f"{os.path.relpath(folder, self.site)} is a symbolic link or a file where the "
                                 "board writes a folder; remove it", path=self.site)
            os.makedirs(folder, exist_ok=True)
            self.checked.add(folder)
        return folder

    def write(self, rel: str, content: Content, durable: bool = False) -> None:
        path = os.path.join(self._folder(rel), rel.split("/")[-1])
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isfile(path)):
            raise BoardError(f"{rel} is a symbolic link or a folder where the board writes a file; remove it",
                             path=self.site)
        if isinstance(content, _Copy):
            if _same_file(str(content), path):
                return
            # never follow a link that replaced the submission's file since it was read (inputs skip links)
            with os.fdopen(os.open(content, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as src:
                atomic_write(path, lambda fh: shutil.copyfileobj(src, fh, 1 << 20), durable=False)
            return
        data = content.encode("utf-8") if isinstance(content, str) else content
        if _same_bytes(data, path):
            return
        atomic_write(path, lambda fh: fh.write(data), durable=durable)


def _same_bytes(data: bytes, path: str) -> bool:
    try:
        if os.path.getsize(path) != len(data):
            return False
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


def _same_file(source: str, path: str) -> bool:
    try:
        if os.path.getsize(path) != os.path.getsize(source):
            return False
        with open(source, "rb") as a, open(path, "rb") as b:
            while True:
                chunk = a.read(1 << 20)
                if chunk != b.read(1 << 20):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


def _remove_stale(site: str, keep: set) -> None:
    """Remove the previous board's files that this one does not write, then the folders they leave empty."""
    try:
        with open(os.path.join(site, MANIFEST), encoding="utf-8") as fh:
            previous = json.load(fh).get("files", [])
    except (OSError, ValueError, AttributeError):
        return
    folders = set()
    for rel in previous if isinstance(previous, list) else []:
        if not isinstance(rel, str) or rel in keep or rel.startswith("/") or ".." in rel.split("/"):
            continue
        path = os.path.join(site, rel)
        if os.path.realpath(os.path.dirname(path)).startswith(os.path.realpath(site) + os.sep) or \
                os.path.dirname(rel) == "":
            if _is_regular(path):
                os.unlink(path)
                folders.add(os.path.dirname(path))
    for folder in sorted(folders, key=len, reverse=True):
        while folder.startswith(site + os.sep):
            try:
                os.rmdir(folder)  # only when empty
            except OSError:
                break
            folder = os.path.dirname(folder)

"""Browser checks of the built book in ``_build/html`` (build it with ``bash .ci/build-book``).

Every page listed in ``_toc.yml`` is served from a local HTTP server on
127.0.0.1 and opened once in headless Chromium (the Debian package, driven by
Playwright). Requests to any other host are blocked, so the checks also prove
that the site works with no network. For each page the tests assert:

* math is typeset by the MathJax served from the site: every Sphinx math node
  holds an ``mjx-container`` and no raw TeX (``$$``, ``\\(``, ``\\[``...) is left
  in the text outside code;
* every ``<img>`` loaded (``naturalWidth > 0``);
* no console error, uncaught exception, failed request or request off the site;
* every link to a file of the site resolves, including its ``#anchor``;
* matplotlib JS animations (on pages whose notebook has one) change frame when
  "Next frame" and "Play" are clicked.

A full-page screenshot of each page is saved to
``test-artifacts/screenshots/<page>.png`` for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "_build" / "html"
BOOK = REPO / "book"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = Path(os.environ.get("CNN_COURSE_CHROMIUM", "/usr/bin/chromium"))
BUILD_HINT = "build the book first with `bash .ci/build-book` (or run everything with `bash .ci/test`)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--mute-audio",
]
PAGE_TIMEOUT_MS = 30_000
# Raw TeX that MathJax should have replaced: display/inline delimiters, common
# commands, and $...$ spans that contain TeX syntax.
RAW_TEX = re.compile(
    r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\frac|\\sum|\\mathbf"
    r"|\$[^$\s][^$\n]*?[\\^_{}][^$\n]*?\$"
)


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class BookPage:
    docname: str  # "book/03_conv_arithmetic"
    html: str  # path of the built page inside the site: "book/03_conv_arithmetic.html"
    source: Path

    @property
    def label(self) -> str:
        return Path(self.html).stem


def _toc_docnames() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(node: dict) -> None:
        for part in node.get("parts", []):
            walk(part)
        for entry in node.get("chapters", []) + node.get("sections", []):
            names.append(entry["file"])
            walk(entry)

    walk(toc)
    return [re.sub(r"\.(md|ipynb)$", "", name) for name in names]


def _source_of(docname: str) -> Path:
    for suffix in (".ipynb", ".md"):
        if (REPO / (docname + suffix)).is_file():
            return REPO / (docname + suffix)
    return REPO / (docname + ".md")


def _book_pages() -> list[BookPage]:
    docnames = _toc_docnames()
    pages = []
    for i, docname in enumerate(docnames):
        # The root page is written to the site's index.html (book/_ext/book_html.py).
        html = "index.html" if i == 0 else docname + ".html"
        pages.append(BookPage(docname, html, _source_of(docname)))
    return pages


def _animation_count(source: Path) -> int:
    """How many matplotlib JS animations the notebook's stored outputs contain."""
    if source.suffix != ".ipynb" or not source.is_file():
        return 0
    notebook = json.loads(source.read_text(encoding="utf-8"))
    count = 0
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            count += html.count('<div class="animation">')
    return count


PAGES = _book_pages()
ROOT_PAGE = PAGES[0]


def _ids(pages: list[BookPage]) -> list[str]:
    return [page.label for page in pages]


# ----------------------------------------------------------------------- fixtures


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / ROOT_PAGE.html).is_file():
        pytest.fail(f"No built site: {SITE / ROOT_PAGE.html} is missing; {BUILD_HINT}.", pytrace=False)
    return SITE


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}; install it with `apt-get install -y chromium` "
            "(bash .ci/test does this).",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageReport:
    url: str
    title: str = ""
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed requests
    offsite_requests: list[str] = field(default_factory=list)
    math_nodes: int = 0
    untypeset_math: list[str] = field(default_factory=list)
    mjx_containers: int = 0
    mathjax_script: str | None = None
    raw_tex: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    hrefs: list[str] = field(default_factory=list)
    animations: list[dict] = field(default_factory=list)
    screenshot: Path | None = None


_PAGE_PROBE = """
async () => {
  // Wait for MathJax (when the page loads it) to finish typesetting, then for webfonts.
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;
  // Images: force lazy ones to load, then wait for every one to settle.
  const images = [...document.images];
  images.forEach((img) => { if (img.loading === 'lazy') img.loading = 'eager'; });
  await Promise.all(images.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener('load', done); img.addEventListener('error', done); setTimeout(done, 10000);
  })));
  const skip = 'pre, code, script, style, textarea, mjx-container, mjx-assistive-mml';
  const math = [...document.querySelectorAll('.math')].filter((el) => !el.closest(skip));
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => node.parentElement && node.parentElement.closest(skip)
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) texts.push(node.data);
  const script = document.querySelector('script[src*="tex-mml-chtml"], script[src*="mathjax" i]');
  return {
    title: document.title,
    mathNodes: math.length,
    untypeset: math.filter((el) => !el.querySelector('mjx-container'))
                   .map((el) => el.textContent.trim().slice(0, 120)),
    mjxContainers: document.querySelectorAll('mjx-container').length,
    mathjaxScript: script ? script.getAttribute('src') : null,
    text: texts.join(' '),
    images: images.map((img) => ({
      src: (img.getAttribute('src') || '').slice(0, 160), alt: img.alt,
      ok: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
    })),
    hrefs: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
  };
}
"""

_FRAME_KEY = "(img) => img.src.length + ':' + img.src.slice(-48)"


def _exercise_animations(page, report: PageReport) -> None:
    animations = page.locator("div.animation")
    for index in range(animations.count()):
        animation = animations.nth(index)
        animation.scroll_into_view_if_needed()
        image = animation.locator("img").first
        result: dict = {"index": index, "frame0": image.evaluate(_FRAME_KEY)}
        animation.locator("button[title='Next frame']").click()
        result["after_next"] = image.evaluate(_FRAME_KEY)
        animation.locator("button[title='Play']").click()
        try:
            image.evaluate(
                """(img, before) => new Promise((done, fail) => {
                     const t0 = Date.now();
                     const poll = () => {
                       const key = img.src.length + ':' + img.src.slice(-48);
                       if (key !== before) done(); else if (Date.now() - t0 > 10000) fail('no frame change');
                       else setTimeout(poll, 50);
                     };
                     poll();
                   })""",
                result["after_next"],
            )
            result["played"] = True
        except Exception as error:  # playwright raises its own Error type
            result["played"] = False
            result["play_error"] = str(error).splitlines()[0]
        animation.locator("button[title='Pause']").click()
        report.animations.append(result)


def _visit(browser, base_url: str, book_page: BookPage) -> PageReport:
    url = urllib.parse.urljoin(base_url, book_page.html)
    report = PageReport(url=url)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    context.set_default_timeout(PAGE_TIMEOUT_MS)

    def only_this_site(route) -> None:
        request_url = route.request.url
        if request_url.startswith((base_url, "data:", "blob:")):
            route.continue_()
        else:
            report.offsite_requests.append(request_url)
            route.abort()

    context.route("**/*", only_this_site)
    page = context.new_page()
    page.on("console", lambda msg: report.errors.append(f"console.error: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: report.errors.append(f"uncaught exception: {exc}"))
    page.on(
        "response",
        lambda response: report.errors.append(f"HTTP {response.status}: {response.url}")
        if response.status >= 400
        else None,
    )
    page.on(
        "requestfailed",
        lambda request: None
        if request.url in report.offsite_requests
        else report.errors.append(f"request failed ({request.failure}): {request.url}"),
    )
    try:
        page.goto(url, wait_until="load")
        probe = page.evaluate(_PAGE_PROBE)
        report.title = probe["title"]
        report.math_nodes = probe["mathNodes"]
        report.untypeset_math = probe["untypeset"]
        report.mjx_containers = probe["mjxContainers"]
        report.mathjax_script = probe["mathjaxScript"]
        report.raw_tex = [
            probe["text"][max(0, m.start() - 40) : m.end() + 40] for m in RAW_TEX.finditer(probe["text"])
        ][:10]
        report.images = probe["images"]
        report.hrefs = probe["hrefs"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        report.screenshot = SCREENSHOTS / f"{book_page.label}.png"
        page.screenshot(path=str(report.screenshot), full_page=True)
        _exercise_animations(page, report)
    finally:
        context.close()
    return report


@pytest.fixture(scope="session")
def visit(site: Path, server: str, browser):
    """``visit(page) -> PageReport``; each page is opened once per session."""
    reports: dict[str, PageReport] = {}

    def load(book_page: BookPage) -> PageReport:
        if book_page.docname not in reports:
            reports[book_page.docname] = _visit(browser, server, book_page)
        return reports[book_page.docname]

    return load


# ------------------------------------------------------------------- link checking


class _AnchorCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                if value:
                    self.anchors.add(value)


@functools.lru_cache(maxsize=None)
def _anchors_of(path: Path) -> frozenset[str]:
    collector = _AnchorCollector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(collector.anchors)


def _broken_links(page_url: str, base_url: str, hrefs: list[str]) -> list[str]:
    broken = []
    for href in sorted(set(hrefs)):
        if not href or href.startswith(("mailto:", "javascript:", "tel:", "data:")):
            continue
        absolute = urllib.parse.urljoin(page_url, href)
        if not absolute.startswith(base_url):
            continue  # another site (repository button, credits): not checked offline
        parsed = urllib.parse.urlsplit(absolute)
        relative = urllib.parse.unquote(parsed.path[len(urllib.parse.urlsplit(base_url).path) :])
        target = SITE / relative
        if relative == "" or relative.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} -> missing file {target.relative_to(SITE)}")
            continue
        anchor = urllib.parse.unquote(parsed.fragment)
        if anchor and target.suffix == ".html" and anchor not in _anchors_of(target):
            broken.append(f"{href} -> no id {anchor!r} in {target.relative_to(SITE)}")
    return broken


# -------------------------------------------------------------------------- tests


def test_toc_lists_every_book_page() -> None:
    """Every chapter source in book/ is in _toc.yml and every toc entry has a source."""
    listed = {page.docname for page in PAGES}
    sources = {f"book/{path.stem}" for path in BOOK.glob("*.ipynb")} | {
        f"book/{path.stem}" for path in BOOK.glob("*.md")
    }
    assert sorted(sources - listed) == [], "pages in book/ missing from _toc.yml"
    missing = [page.docname for page in PAGES if not page.source.is_file()]
    assert missing == [], "_toc.yml entries with no source file"


def test_landing_page_is_real_page(site: Path) -> None:
    """index.html is the landing page itself, not Jupyter Book's blank redirect."""
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'http-equiv="Refresh"' not in index and "http-equiv='Refresh'" not in index
    assert "<main" in index and "<h1" in index
    for page in PAGES[1:]:
        assert f'href="{page.html}"' in index, f"landing page has no link to {page.html}"
    redirect = (site / (ROOT_PAGE.docname + ".html")).read_text(encoding="utf-8")
    assert "url=../index.html" in redirect, "the root document's own URL must lead to index.html"


def test_mathjax_is_served_by_the_site(site: Path, visit) -> None:
    report = visit(ROOT_PAGE)
    assert report.mathjax_script, "the landing page loads no MathJax script"
    assert "://" not in report.mathjax_script, f"MathJax comes from elsewhere: {report.mathjax_script}"
    local = urllib.parse.urljoin(ROOT_PAGE.html, report.mathjax_script.split("?")[0])
    assert (site / local).is_file(), f"{local} is not in the built site"
    assert (site / "_static/mathjax/es5/output/chtml/fonts/woff-v2").is_dir()
    assert report.mjx_containers > 0, "the landing page's formula was not typeset"


@pytest.mark.parametrize("book_page", PAGES, ids=_ids(PAGES))
def test_math_is_typeset(visit, book_page: BookPage) -> None:
    report = visit(book_page)
    assert report.untypeset_math == [], f"math left untypeset on {report.url}"
    assert report.mjx_containers >= report.math_nodes
    if report.math_nodes:
        assert report.mathjax_script and "://" not in report.mathjax_script
    assert report.raw_tex == [], f"raw TeX in the text of {report.url}"


@pytest.mark.parametrize("book_page", PAGES, ids=_ids(PAGES))
def test_images_load(visit, book_page: BookPage) -> None:
    report = visit(book_page)
    broken = [image for image in report.images if not image["ok"]]
    assert broken == [], f"images that did not load on {report.url}"


@pytest.mark.parametrize("book_page", PAGES, ids=_ids(PAGES))
def test_no_console_errors_or_offsite_requests(visit, book_page: BookPage) -> None:
    report = visit(book_page)
    assert report.errors == [], f"errors while loading {report.url}"
    assert report.offsite_requests == [], (
        f"{report.url} requests resources from other sites (blocked here; the site must work offline)"
    )


@pytest.mark.parametrize("book_page", PAGES, ids=_ids(PAGES))
def test_internal_links_resolve(visit, server: str, book_page: BookPage) -> None:
    report = visit(book_page)
    assert report.hrefs, f"no links at all on {report.url}: the page did not render"
    assert _broken_links(report.url, server, report.hrefs) == []


@pytest.mark.parametrize("book_page", PAGES, ids=_ids(PAGES))
def test_animations_play(visit, book_page: BookPage) -> None:
    """The page shows every animation its notebook stores, and each one plays."""
    report = visit(book_page)
    assert len(report.animations) == _animation_count(book_page.source), (
        "the built page and the notebook's stored outputs disagree on the number of animations"
    )
    for animation in report.animations:
        assert animation["after_next"] != animation["frame0"], f"'Next frame' did nothing: {animation}"
        assert animation["played"], f"'Play' did not advance the frames: {animation}"

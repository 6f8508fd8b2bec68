"""Browser checks of the built book in ``_build/html`` (build it with ``bash .ci/build-book``).

Every page listed in ``_toc.yml`` is served from a local HTTP server on
127.0.0.1 and opened in headless Chromium (the Debian package, driven by
Playwright's async API: one browser, several pages at a time) at two
viewport widths, 1280 px (desktop) and 390 px (a phone). Requests to any
other host are blocked, so the checks also prove that the site works with no
network. For each page and width the tests assert:

* nothing is clipped: no element whose content is wider than its box
  (``scrollWidth > clientWidth + 1``) unless it is a scroll container
  (computed ``overflow-x`` is ``auto`` or ``scroll``), and the document is no
  wider than the viewport;
* math is typeset by the MathJax served from the site: every Sphinx math node
  holds an ``mjx-container`` and no raw TeX (``$$``, ``\\(``, ``\\[``...) is left
  in the text outside code;
* every ``<img>`` loaded (``naturalWidth > 0``) and has alt text that
  describes it (at least 10 characters, not a file path);
* no console error, uncaught exception, failed request or request off the site;
* every link to a file of the site resolves, including its ``#anchor``, and
  no link points at a repository unless ``repository.url`` names one;
* matplotlib JS animations (on pages whose notebook has one): every control
  is inside the viewport, and the frame changes when "Next frame" and "Play"
  are clicked.

A full-page screenshot of each page at each width is saved to
``test-artifacts/screenshots/<page>-<width>.png`` for a person to look at, and
``test-artifacts/site-report.json`` lists per page and width the number of
figures and the checks that ran (with the wall time of the browser pass).
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import re
import threading
import time
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


WIDTHS = (1280, 390)
VIEWPORT_HEIGHT = 900
PARALLEL_PAGES = 3  # pages open at once in the one browser (the test machine has 2 cores)
REPORT_FILE = REPO / "test-artifacts" / "site-report.json"


@dataclass
class PageReport:
    url: str
    width: int
    title: str = ""
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed requests
    offsite_requests: list[str] = field(default_factory=list)
    math_nodes: int = 0
    untypeset_math: list[str] = field(default_factory=list)
    mjx_containers: int = 0
    mathjax_script: str | None = None
    raw_tex: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    figures: int = 0  # images inside cell outputs plus animations
    hrefs: list[str] = field(default_factory=list)
    clipped: list[str] = field(default_factory=list)
    elements_checked: int = 0
    document_width: int = 0
    viewport_width: int = 0
    animations: list[dict] = field(default_factory=list)
    screenshot: Path | None = None
    failure: str | None = None  # the visit itself failed (timeout, crash)


_PAGE_PROBE = """
async () => {
  // Wait for MathJax (when the page loads it) to finish typesetting, then for webfonts.
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;
  // book_html.js marks inline formulas wider than their line once MathJax is done.
  if (document.querySelector('script[src*="book_html.js"]')) {
    const t0 = Date.now();
    while (document.documentElement.getAttribute('data-book-wide-math') !== 'done' && Date.now() - t0 < 10000) {
      await new Promise((done) => setTimeout(done, 50));
    }
  }
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

  // Clipping. An element whose content is wider than its box (scrollWidth >
  // clientWidth + 1) is fine only if it is a scroll container (computed
  // overflow-x auto or scroll: the reader can scroll to the rest). One whose
  // overflow-x is visible spills its content out, so what decides is the
  // nearest ancestor that does not let content through: a scroll container
  // (fine) or one that hides or clips it (clipped). Spilling up to the root
  // is caught by the document-width check. MathJax's own layout boxes inside
  // an mjx-container are MathJax's business (its stretchy glyphs are clipped
  // on purpose); the mjx-container itself is checked.
  const scrolls = (style) => ['auto', 'scroll'].includes(style.overflowX);
  const describe = (el) => {
    let text = el.tagName.toLowerCase();
    if (el.id) text += '#' + el.id;
    if (typeof el.className === 'string' && el.className.trim()) {
      text += '.' + el.className.trim().split(/\\s+/).slice(0, 3).join('.');
    }
    return text + ' "' + (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60) + '"';
  };
  const clipped = [];
  let checked = 0;
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('mjx-assistive-mml, svg, script, style, noscript')) continue;
    if (el.tagName !== 'MJX-CONTAINER' && el.closest('mjx-container')) continue;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility !== 'visible' || el.clientWidth === 0) continue;
    checked += 1;
    if (el.scrollWidth <= el.clientWidth + 1 || scrolls(style)) continue;
    let cutBy = el;
    if (style.overflowX === 'visible') {
      cutBy = el.parentElement;
      while (cutBy && getComputedStyle(cutBy).overflowX === 'visible') cutBy = cutBy.parentElement;
      if (!cutBy || scrolls(getComputedStyle(cutBy))) continue;
    }
    clipped.push(describe(el) + ` (content ${el.scrollWidth}px in ${el.clientWidth}px, cut off by `
                 + (cutBy === el ? 'itself' : describe(cutBy).split(' "')[0]) + ` with overflow-x `
                 + getComputedStyle(cutBy).overflowX + ')');
  }
  const figures = [...document.querySelectorAll('div.cell_output img, div.output img')]
    .filter((img) => !img.closest('div.animation')).length + document.querySelectorAll('div.animation').length;
  return {
    title: document.title,
    mathNodes: math.length,
    untypeset: math.filter((el) => !el.querySelector('mjx-container'))
                   .map((el) => el.textContent.trim().slice(0, 120)),
    mjxContainers: document.querySelectorAll('mjx-container').length,
    mathjaxScript: script ? script.getAttribute('src') : null,
    text: texts.join(' '),
    images: images.map((img) => ({
      src: (img.getAttribute('src') || '').slice(0, 160), alt: img.getAttribute('alt') || '',
      ok: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
    })),
    figures: figures,
    hrefs: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
    clipped: clipped,
    checked: checked,
    documentWidth: document.documentElement.scrollWidth,
    viewportWidth: document.documentElement.clientWidth,
  };
}
"""

_FRAME_KEY = "(img) => img.src.length + ':' + img.src.slice(-48)"
_CONTROLS = """(el) => {
  const vw = document.documentElement.clientWidth;
  return [...el.querySelectorAll('button, input')].map((c) => {
    const r = c.getBoundingClientRect();
    return {name: c.getAttribute('title') || c.getAttribute('type') || c.tagName, left: r.left, right: r.right,
            width: r.width, inside: r.width > 0 && r.left >= -0.5 && r.right <= vw + 0.5};
  });
}"""
_WAIT_FOR_FRAME_CHANGE = """(img, before) => new Promise((done, fail) => {
  const t0 = Date.now();
  const poll = () => {
    const key = img.src.length + ':' + img.src.slice(-48);
    if (key !== before) done(); else if (Date.now() - t0 > 10000) fail('no frame change');
    else setTimeout(poll, 50);
  };
  poll();
})"""


async def _exercise_animations(page, report: PageReport) -> None:
    animations = page.locator("div.animation")
    for index in range(await animations.count()):
        animation = animations.nth(index)
        await animation.scroll_into_view_if_needed()
        image = animation.locator("img").first
        controls = await animation.evaluate(_CONTROLS)
        result: dict = {
            "index": index,
            "alt": await image.get_attribute("alt") or "",
            "controls": len(controls),
            "outside_viewport": [c["name"] for c in controls if not c["inside"]],
            "frame0": await image.evaluate(_FRAME_KEY),
        }
        await animation.locator("button[title='Next frame']").click()
        result["after_next"] = await image.evaluate(_FRAME_KEY)
        await animation.locator("button[title='Play']").click()
        try:
            await image.evaluate(_WAIT_FOR_FRAME_CHANGE, result["after_next"])
            result["played"] = True
        except Exception as error:  # playwright raises its own Error type
            result["played"] = False
            result["play_error"] = str(error).splitlines()[0]
        await animation.locator("button[title='Pause']").click()
        report.animations.append(result)


async def _visit(browser, base_url: str, book_page: BookPage, width: int) -> PageReport:
    url = urllib.parse.urljoin(base_url, book_page.html)
    report = PageReport(url=url, width=width)
    context = await browser.new_context(viewport={"width": width, "height": VIEWPORT_HEIGHT}, service_workers="block")
    context.set_default_timeout(PAGE_TIMEOUT_MS)

    async def only_this_site(route) -> None:
        request_url = route.request.url
        if request_url.startswith((base_url, "data:", "blob:")):
            await route.continue_()
        else:
            report.offsite_requests.append(request_url)
            await route.abort()

    await context.route("**/*", only_this_site)
    page = await context.new_page()
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
        await page.goto(url, wait_until="load")
        probe = await page.evaluate(_PAGE_PROBE)
        report.title = probe["title"]
        report.math_nodes = probe["mathNodes"]
        report.untypeset_math = probe["untypeset"]
        report.mjx_containers = probe["mjxContainers"]
        report.mathjax_script = probe["mathjaxScript"]
        report.raw_tex = [
            probe["text"][max(0, m.start() - 40) : m.end() + 40] for m in RAW_TEX.finditer(probe["text"])
        ][:10]
        report.images = probe["images"]
        report.figures = probe["figures"]
        report.hrefs = probe["hrefs"]
        report.clipped = probe["clipped"]
        report.elements_checked = probe["checked"]
        report.document_width = probe["documentWidth"]
        report.viewport_width = probe["viewportWidth"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        report.screenshot = SCREENSHOTS / f"{book_page.label}-{width}.png"
        await page.screenshot(path=str(report.screenshot), full_page=True)
        await _exercise_animations(page, report)
    except Exception as error:  # keep the other pages' reports; the tests name this failure
        report.failure = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        await context.close()
    return report


async def _visit_all(base_url: str, jobs: list[tuple[BookPage, int]]) -> dict[tuple[str, int], PageReport]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            limit = asyncio.Semaphore(PARALLEL_PAGES)

            async def one(book_page: BookPage, width: int) -> PageReport:
                async with limit:
                    return await _visit(browser, base_url, book_page, width)

            reports = await asyncio.gather(*(one(p, w) for p, w in jobs))
        finally:
            await browser.close()
    return {(p.docname, w): r for (p, w), r in zip(jobs, reports)}


def _write_report(reports: dict[tuple[str, int], PageReport], seconds: float) -> None:
    pages = []
    for (docname, width), r in sorted(reports.items()):
        pages.append({
            "page": docname, "width": width, "figures": r.figures, "images": len(r.images),
            "animations": len(r.animations), "elements_checked_for_clipping": r.elements_checked,
            "clipped": len(r.clipped), "first_clipped": r.clipped[:5], "document_width": r.document_width, "viewport_width": r.viewport_width,
            "images_without_description": sum(1 for i in r.images if not _describes(i["alt"])),
            "images_not_loaded": sum(1 for i in r.images if not i["ok"]),
            "animation_controls_outside_viewport": sum(len(a["outside_viewport"]) for a in r.animations),
            "errors": len(r.errors), "offsite_requests": len(r.offsite_requests), "math_nodes": r.math_nodes,
            "failure": r.failure,
        })
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(json.dumps({"browser_pass_seconds": round(seconds, 1), "parallel_pages": PARALLEL_PAGES,
                                       "pages": pages}, indent=1), encoding="utf-8")


@pytest.fixture(scope="session")
def reports(site: Path, server: str) -> dict[tuple[str, int], PageReport]:
    """Every page at every width, visited once per session (all in one browser, a few at a time)."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}; install it with `apt-get install -y chromium` "
            "(bash .ci/test does this).",
            pytrace=False,
        )
    start = time.perf_counter()
    result = asyncio.run(_visit_all(server, [(page, width) for page in PAGES for width in WIDTHS]))
    _write_report(result, time.perf_counter() - start)
    return result


@pytest.fixture(scope="session")
def visit(reports):
    """``visit(page, width=1280) -> PageReport``; fails the test if the visit itself failed."""

    def load(book_page: BookPage, width: int = WIDTHS[0]) -> PageReport:
        report = reports[(book_page.docname, width)]
        if report.failure:
            pytest.fail(f"visiting {report.url} at {width} px failed: {report.failure}", pytrace=False)
        return report

    return load


def _describes(alt: str) -> bool:
    """Alt text that says something: 10+ characters and not a file name or path."""
    alt = alt.strip()
    return len(alt) >= 10 and not re.search(r"\.(png|jpe?g|gif|svg|webp)$", alt, re.I) and not re.match(
        r"^(\.\./|/|_images/|https?:)", alt)


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


BY_WIDTH = [pytest.param(page, width, id=f"{page.label}-{width}") for page in PAGES for width in WIDTHS]


@pytest.mark.parametrize("book_page, width", BY_WIDTH)
def test_nothing_is_clipped(visit, book_page: BookPage, width: int) -> None:
    """No element cuts off its content, and the page needs no sideways scrolling."""
    report = visit(book_page, width)
    assert report.elements_checked > 0
    assert report.clipped == [], f"elements whose content is clipped on {report.url} at {width} px"
    assert report.document_width <= report.viewport_width, (
        f"{report.url} is {report.document_width} px wide in a {report.viewport_width} px viewport"
    )


@pytest.mark.parametrize("book_page, width", BY_WIDTH)
def test_math_is_typeset(visit, book_page: BookPage, width: int) -> None:
    report = visit(book_page, width)
    assert report.untypeset_math == [], f"math left untypeset on {report.url}"
    assert report.mjx_containers >= report.math_nodes
    if report.math_nodes:
        assert report.mathjax_script and "://" not in report.mathjax_script
    assert report.raw_tex == [], f"raw TeX in the text of {report.url}"


@pytest.mark.parametrize("book_page, width", BY_WIDTH)
def test_images_load_and_have_alt_text(visit, book_page: BookPage, width: int) -> None:
    report = visit(book_page, width)
    broken = [image for image in report.images if not image["ok"]]
    assert broken == [], f"images that did not load on {report.url}"
    undescribed = [image for image in report.images if not _describes(image["alt"])]
    assert undescribed == [], f"images on {report.url} whose alt text is missing, too short or a file path"


@pytest.mark.parametrize("book_page, width", BY_WIDTH)
def test_no_console_errors_or_offsite_requests(visit, book_page: BookPage, width: int) -> None:
    report = visit(book_page, width)
    assert report.errors == [], f"errors while loading {report.url}"
    assert report.offsite_requests == [], (
        f"{report.url} requests resources from other sites (blocked here; the site must work offline)"
    )


@pytest.mark.parametrize("book_page", PAGES, ids=_ids(PAGES))
def test_internal_links_resolve(visit, server: str, book_page: BookPage) -> None:
    report = visit(book_page)
    assert report.hrefs, f"no links at all on {report.url}: the page did not render"
    assert _broken_links(report.url, server, report.hrefs) == []


def _repository_url() -> str:
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    return str((config.get("repository") or {}).get("url") or "").strip()


_REPOSITORY_HOSTS = re.compile(r"https?://(www\.)?(github\.com|gitlab\.com|bitbucket\.org|codeberg\.org)/", re.I)


@pytest.mark.parametrize("book_page", PAGES, ids=_ids(PAGES))
def test_repository_links_only_to_the_configured_repository(visit, book_page: BookPage) -> None:
    """With ``repository.url`` empty (the default) no page links to any code-hosting site."""
    report = visit(book_page)
    configured = _repository_url()
    links = [href for href in report.hrefs if _REPOSITORY_HOSTS.match(href)]
    if configured:
        assert all(href.startswith(configured.rstrip("/")) for href in links), links
    else:
        assert links == [], f"{report.url} links to a repository although repository.url is empty"
    html = (SITE / book_page.html).read_text(encoding="utf-8")
    if not configured:
        assert "btn-source-repository-button" not in html and "repository_url" not in html


@pytest.mark.parametrize("book_page, width", BY_WIDTH)
def test_animations_fit_and_play(visit, book_page: BookPage, width: int) -> None:
    """The page shows every animation its notebook stores; each fits the screen and plays."""
    report = visit(book_page, width)
    assert len(report.animations) == _animation_count(book_page.source), (
        "the built page and the notebook's stored outputs disagree on the number of animations"
    )
    for animation in report.animations:
        assert _describes(animation["alt"]), f"animation frame without a description: {animation}"
        assert animation["controls"] >= 9 and animation["outside_viewport"] == [], (
            f"animation controls outside the {width} px viewport: {animation}"
        )
        assert animation["after_next"] != animation["frame0"], f"'Next frame' did nothing: {animation}"
        assert animation["played"], f"'Play' did not advance the frames: {animation}"


def test_screenshots_of_every_page_at_both_widths(visit) -> None:
    for book_page in PAGES:
        for width in WIDTHS:
            shot = visit(book_page, width).screenshot
            assert shot is not None and shot.is_file() and shot.stat().st_size > 1000, (book_page.label, width)


# ------------------------------------------- the book's extension, end to end

def _book_html_extension():
    import importlib.util

    spec = importlib.util.spec_from_file_location("book_html_under_test", BOOK / "_ext" / "book_html.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_png_text_reads_each_kind_of_text_chunk(tmp_path: Path) -> None:
    from PIL import Image, PngImagePlugin

    ext = _book_html_extension()
    written = {"tEXt": "a plain description, 3 layers", "zTXt": "a compressed description, 5 layers",
               "iTXt": "a description with × and é"}
    for kind, text in written.items():
        info = PngImagePlugin.PngInfo()
        if kind == "iTXt":
            info.add_itxt("Description", text)
        else:
            info.add_text("Description", text, zip=(kind == "zTXt"))
        info.add_text("Software", "not the alt text")
        path = tmp_path / f"{kind}.png"
        Image.new("RGB", (4, 3), "white").save(path, pnginfo=info)
        assert ext.png_text(str(path)) == text
        assert ext.png_text(str(path), b"Author") is None
    (tmp_path / "plain.png").write_bytes(b"not a png at all")
    assert ext.png_text(str(tmp_path / "plain.png")) is None
    assert ext.png_text(str(tmp_path / "missing.png")) is None


def test_figure_alt_text_and_2x_size_reach_the_page(tmp_path: Path) -> None:
    """A notebook built by Sphinx + myst-nb with this book's extension: the <img> carries the figure's alt text."""
    import subprocess
    import sys

    import nbformat

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(BOOK / '_ext')!r})\n"
        "extensions = ['myst_nb', 'book_html']\n"
        "nb_execution_mode = 'force'\n"
        "html_theme = 'basic'\n",
        encoding="utf-8",
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Figures"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nfrom cnnlib import viz"),
        nbformat.v4.new_code_cell("fig = viz.plot_receptive_field([(3, 1), (2, 2)], 6)\nplt.show()"),
    ]
    nbformat.write(nb, src / "index.ipynb")
    out = tmp_path / "html"
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-q", str(src), str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    page = (out / "index.html").read_text(encoding="utf-8")
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 1, images
    alt = re.search(r'alt="([^"]*)"', images[0]).group(1)
    assert alt.startswith("Receptive-field growth on a 6×6 input grid") and "layer 2 (2×2, stride 2): sees 4×4" in alt
    src_file = out / re.search(r'src="([^"]*)"', images[0]).group(1)
    from PIL import Image

    shown = int(re.search(r"width: (\d+)px", images[0]).group(1))
    assert Image.open(src_file).size[0] // 2 == shown  # a 2x image shown at half its pixels
    assert (out / "_static" / "book_html.css").is_file() and "book_html.css" in page


def test_repository_button_follows_the_one_setting() -> None:
    ext = _book_html_extension()

    class Config:
        html_theme = "sphinx_book_theme"

    empty = Config()
    empty.html_theme_options = {"repository_url": "", "use_repository_button": True, "repository_branch": "main",
                                "path_to_docs": ".", "use_issues_button": True}
    ext.repository_links_only_when_set(None, empty)
    assert empty.html_theme_options["use_repository_button"] is False
    assert empty.html_theme_options["use_issues_button"] is False
    assert "repository_url" not in empty.html_theme_options and "repository_branch" not in empty.html_theme_options
    real = Config()
    real.html_theme_options = {"repository_url": "https://example.org/course/cnn", "use_repository_button": False}
    ext.repository_links_only_when_set(None, real)
    assert real.html_theme_options == {"repository_url": "https://example.org/course/cnn", "use_repository_button": True}
    assert _repository_url() == "", "_config.yml must ship with an empty repository.url"

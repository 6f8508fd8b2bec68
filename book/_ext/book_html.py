"""Sphinx extension with the fixes and styles the book's HTML needs on top of Jupyter Book 1.x.

1. The landing page is the site's ``index.html``. Jupyter Book builds
   ``_toc.yml``'s root (``book/intro``) to ``book/intro.html`` and writes
   ``index.html`` as a bare meta-refresh redirect, so the site's front door is
   a blank page. :class:`RootIndexHTMLBuilder` writes the root document itself
   to ``index.html`` (every link to and from it is computed from that
   location) and leaves ``book/intro.html`` as a redirect for search results,
   which address pages by their document name.
2. Inline scripts are not repeated. Sphinx 7.4 adds every inline script that
   an extension registered after the builder started (``filename=None``) a
   second time when it prepares writing (as ``filename=''``), so sphinx-thebe's
   ``const THEBE_JS_URL = ...`` ran twice on every page: a SyntaxError in the
   browser console. :func:`drop_repeated_scripts` keeps the first copy.
3. Output images get their alt text. ``cnnlib.viz`` writes each figure's
   description into its PNG (a ``Description`` text chunk); myst-nb passes
   only the image file on, so the ``<img>`` would have its file path as alt.
   :func:`alt_from_png` reads the chunk back onto every image node.
4. A stylesheet (``static/book_html.css``, with ``static/book_html.js`` to
   mark inline formulas wider than their line) for every screen width: math,
   code and code output wrap or scroll sideways instead of being clipped, images
   never overflow the column, figures sit on a light card in dark mode, and
   animation players scale to a phone screen.
5. The repository button and links appear only when ``repository.url`` in
   ``_config.yml`` (Sphinx: ``html_theme_options["repository_url"]``) names a
   repository; it is empty by default, so no page links to an address that
   does not exist (:func:`repository_links_only_when_set`).
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any

from docutils import nodes

from sphinx.application import Sphinx
from sphinx.builders.html import StandaloneHTMLBuilder

SITE_INDEX = "index"


class RootIndexHTMLBuilder(StandaloneHTMLBuilder):
    """The standard ``html`` builder, with the root document written to ``index.html``."""

    name = "html"

    def _is_root(self, docname: str) -> bool:
        return docname == self.config.root_doc and docname != SITE_INDEX

    def get_target_uri(self, docname: str, typ: str | None = None) -> str:
        if self._is_root(docname):
            return SITE_INDEX + self.link_suffix
        return super().get_target_uri(docname, typ)

    def get_outfilename(self, pagename: str) -> str:
        if self._is_root(pagename):
            return os.path.join(self.outdir, SITE_INDEX + self.out_suffix)
        return super().get_outfilename(pagename)


def write_root_redirect(app: Sphinx, exception: Exception | None) -> None:
    """Leave ``<root_doc>.html`` as a redirect to the real page at ``index.html``."""
    builder = app.builder
    if exception is not None or not isinstance(builder, RootIndexHTMLBuilder):
        return
    root_doc = app.config.root_doc
    if root_doc == SITE_INDEX:
        return
    target = "../" * root_doc.count("/") + SITE_INDEX + builder.link_suffix
    redirect = os.path.join(app.outdir, *root_doc.split("/")) + builder.out_suffix
    os.makedirs(os.path.dirname(redirect), exist_ok=True)
    with open(redirect, "w", encoding="utf-8") as page:
        page.write(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Refresh" content="0; url={target}">\n'
            f'<link rel="canonical" href="{target}">\n<title>Redirect</title></head>\n'
            f'<body><p>This page moved to <a href="{target}">the front page</a>.</p></body></html>\n'
        )


def _script_key(script: Any) -> tuple:
    if isinstance(script, str):
        return (script,)
    filename = getattr(script, "filename", None) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def drop_repeated_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALT_KEYWORD = b"Description"


def png_text(path: str, keyword: bytes = ALT_KEYWORD) -> str | None:
    """The text of a PNG ``tEXt``/``iTXt``/``zTXt`` chunk named `keyword`, or None."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if not data.startswith(_PNG_SIGNATURE):
        return None
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IDAT" or kind == b"IEND":
            break  # text chunks written by Pillow and matplotlib come before the image data
        key, _, rest = body.partition(b"\0")
        if key != keyword:
            continue
        if kind == b"tEXt":
            return rest.decode("latin-1")
        if kind == b"zTXt":
            return zlib.decompress(rest[1:]).decode("latin-1")
        if kind == b"iTXt":
            compressed, text = rest[0], rest[2:]
            text = text.split(b"\0", 2)[2]  # skip the language tag and the translated keyword
            return (zlib.decompress(text) if compressed else text).decode("utf-8")
    return None


def _image_file(app: Sphinx, node: nodes.image) -> str | None:
    candidates = node.get("candidates") or {}
    relative = candidates.get("image/png") or candidates.get("*") or node.get("uri", "")
    if not relative or "://" in relative or relative.startswith("data:"):
        return None
    path = os.path.join(app.srcdir, relative.lstrip("/"))
    return path if os.path.isfile(path) else None


def alt_from_png(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Give every image without alt text the description stored in its PNG."""
    for node in doctree.findall(nodes.image):
        if node.get("alt"):
            continue
        path = _image_file(app, node)
        text = png_text(path) if path and path.lower().endswith(".png") else None
        if text:
            node["alt"] = " ".join(text.split())


def repository_links_only_when_set(app: Sphinx, config: Any) -> None:
    """Show the repository button only for a real ``repository_url``; drop the links otherwise."""
    if config.html_theme != "sphinx_book_theme":
        return  # the options below are that theme's
    options = config.html_theme_options
    url = str(options.get("repository_url") or "").strip()
    options["use_repository_button"] = bool(url)
    if not url:
        for key in ("repository_url", "repository_branch", "path_to_docs"):
            options.pop(key, None)
        for key in ("use_edit_page_button", "use_issues_button", "use_source_button"):
            options[key] = False


def add_static_files(app: Sphinx) -> None:
    app.config.html_static_path.append(STATIC_DIR)
    app.add_css_file("book_html.css")
    app.add_js_file("book_html.js", loading_method="defer")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_builder(RootIndexHTMLBuilder, override=True)
    app.connect("config-inited", repository_links_only_when_set)
    app.connect("builder-inited", add_static_files)
    app.connect("doctree-resolved", alt_from_png)
    # Late, so scripts added by other extensions' page-context handlers are seen too.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    # Run before sphinx-external-toc's own check, which then finds index.html present.
    app.connect("build-finished", write_root_redirect, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

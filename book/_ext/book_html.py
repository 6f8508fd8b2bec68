"""Sphinx extension with two fixes to the HTML that Jupyter Book 1.x writes.

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
"""

from __future__ import annotations

import os
from typing import Any

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


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_builder(RootIndexHTMLBuilder, override=True)
    # Late, so scripts added by other extensions' page-context handlers are seen too.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    # Run before sphinx-external-toc's own check, which then finds index.html present.
    app.connect("build-finished", write_root_redirect, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

"""The book stands on its own: no page, output or docstring names its source notes.

The course grew from five Korean writings on CNNs. The book presents their
worked examples as its own and never refers to them by label ("seed 002",
"the study notes", "the notes", "the seeds"), in prose, code, comments,
printed output or figure titles. The acknowledgements section of the
landing page thanks their authors by name, and is held to the same rule.

Scanned here: every book source (``book/*.md`` and the sources *and stored
outputs* of ``book/*.ipynb``), every module of ``cnnlib``, and the built site
under ``_build/html`` when it exists. In CI (``CI=true``) the built site must
exist: the test suite runs after the book build there.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build" / "html"

# Each pattern names the source material, not an ordinary use of the words:
# "random seed 0", "fix the seed", "CS231n's notes" and "footnotes" must pass.
LABEL_PATTERNS = [
    re.compile(r"\bseeds?[\s_-]*0\d\d\b", re.IGNORECASE),  # seed 000 .. seed 004, seed_002
    re.compile(r"\bstudy[\s-]+notes?\b", re.IGNORECASE),
    re.compile(r"\b(?:source|korean)\s+notes\b", re.IGNORECASE),
    re.compile(r"\bthe\s+seeds\b", re.IGNORECASE),  # also "the seeds'"
    re.compile(
        r"\b(?:the|this|that|each|every)\s+seed(?:'s)?\s+"
        r"(?:writes|says|gives|lists|asks|calls|shows|notes|works|stops|counts|puts|spells|adds"
        r"|example|examples|product|also)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:the|these|those)\s+notes\b(?!\s+(?:of|on|from)\s+CS231n)", re.IGNORECASE),
]

# The landing page's acknowledgements section may name the notes (once).
ACK_HEADING = re.compile(r"^## Acknowledgements\s*$", re.MULTILINE)
ACK_HTML = re.compile(r'<section id="acknowledgements">.*?</section>', re.DOTALL)
BASE64 = re.compile(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=\s]+")


def label_mentions(text: str) -> list[str]:
    """Every label mention in `text`, with a little context each."""
    hits = []
    for pattern in LABEL_PATTERNS:
        for m in pattern.finditer(text):
            start, end = max(0, m.start() - 40), min(len(text), m.end() + 40)
            hits.append(" ".join(text[start:end].split()))
    return hits


def _without_acknowledgements(markdown: str) -> str:
    """The landing page minus its acknowledgements section (up to the next heading)."""
    m = ACK_HEADING.search(markdown)
    if m is None:
        return markdown
    rest = markdown[m.end():]
    nxt = re.search(r"^#{1,2} ", rest, re.MULTILINE)
    return markdown[:m.start()] + (rest[nxt.start():] if nxt else "")


def _notebook_text(path: Path) -> str:
    """Cell sources plus every stored text output (images dropped)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        parts.append("".join(cell["source"]))
        for out in cell.get("outputs", []):
            if "text" in out:
                parts.append("".join(out["text"]))
            for mime, data in out.get("data", {}).items():
                if mime.startswith("text/") or mime == "application/json":
                    text = "".join(data) if isinstance(data, list) else str(data)
                    parts.append(BASE64.sub("", text))
            if out.get("output_type") == "error":
                parts.append("\n".join(out.get("traceback", [])))
    return "\n".join(parts)


def _book_sources() -> list[Path]:
    return sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "book").glob("*.ipynb"))


def _source_text(path: Path) -> str:
    if path.suffix == ".ipynb":
        return _notebook_text(path)
    text = path.read_text(encoding="utf-8")
    return _without_acknowledgements(text) if path.name == "intro.md" else text


# ----------------------------------------------------------------- the patterns


@pytest.mark.parametrize("text", [
    "Seed 004 writes the width with H", "as seed 002 does", "| Seed 004 |", "seeds 001 and 002",
    "the study notes say", "The Study Notes also write", "the notes' example", "in the notes",
    "the seeds' headline numbers", "the seed's product", "which the seed stops before",
    "the Korean notes", "seed_003",
])
def test_patterns_catch_labels(text):
    assert label_mentions(text), f"{text!r} should count as a label mention"


@pytest.mark.parametrize("text", [
    "CS231n's notes on ConvNets", "see the footnotes", "rng = np.random.default_rng(seed=0)",
    "a random seed 0 makes it repeatable", "fix the seed before training", "the seed is 1",
    "Notes", "the notes of CS231n", "AlexNet(seed=1)",
])
def test_patterns_allow_ordinary_words(text):
    assert label_mentions(text) == []


def test_acknowledgements_is_the_only_exception():
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    assert len(ACK_HEADING.findall(intro)) == 1, "the landing page needs one '## Acknowledgements' section"
    section = intro[ACK_HEADING.search(intro).end():]
    section = section[: (re.search(r"^#{1,2} ", section, re.MULTILINE) or re.search(r"\Z", section)).start()]
    # It credits the source writings' authors and MNIST, without calling those writings notes.
    assert "최종현" in section and "esc247" in section and "MNIST" in section
    assert label_mentions(section) == [] and "study notes" not in intro
    # Removing the section removes the credit, and nothing else is cut.
    assert "최종현" not in _without_acknowledgements(intro)
    assert "## How to run it" in _without_acknowledgements(intro)


# ----------------------------------------------------------------- the scans


@pytest.mark.parametrize("path", _book_sources(), ids=lambda p: p.name)
def test_book_sources_and_outputs_name_no_source_notes(path):
    hits = label_mentions(_source_text(path))
    assert hits == [], f"{path.name}: {len(hits)} mention(s) of the source notes:\n" + "\n".join(hits)


@pytest.mark.parametrize("path", sorted((ROOT / "cnnlib").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_cnnlib_names_no_source_notes(path):
    hits = label_mentions(path.read_text(encoding="utf-8"))
    assert hits == [], f"{path.relative_to(ROOT)}: {len(hits)} mention(s):\n" + "\n".join(hits)


def test_built_site_names_no_source_notes():
    if not BUILD.is_dir():
        # Locally the site may not be built; in CI the suite runs after the build.
        assert os.environ.get("CI") != "true", f"CI=true but the built site {BUILD} is missing"
        return
    pages = sorted(BUILD.rglob("*.html"))
    assert pages, f"no HTML pages under {BUILD}"
    problems = []
    for page in pages:
        html = BASE64.sub("", page.read_text(encoding="utf-8", errors="replace"))
        if page.name in ("index.html", "intro.html") and page.parent.name in ("html", "book"):
            html = ACK_HTML.sub("", html)
        # Tags out, so that a label split by markup (<em>study</em> notes) is still found.
        text = re.sub(r"<[^>]+>", " ", html)
        problems += [f"{page.relative_to(BUILD)}: {hit}" for hit in label_mentions(text)]
    assert problems == [], f"{len(problems)} mention(s) in the built site:\n" + "\n".join(problems)

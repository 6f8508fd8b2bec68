"""A learner who solves every exercise in place gets the published page.

Each coding exercise of a chapter is followed by a code cell tagged
``exercise-cell`` (a commented template the learner fills in); its reference
solution is a code cell tagged ``solution-cell`` inside the exercise's
solution dropdown. Both carry the exercise's label (``ex-chNN-...``) as a
second tag.

The tests here:

* check that convention on every chapter (pairs match one to one, templates
  are comments only, so running the published notebook is the same as
  running it with empty exercise cells);
* write each solution into its exercise cell, run the chapter's import cells
  and those exercise cells (the state of a learner's kernel after solving
  them), then re-run every other cell from the top in that kernel, and compare every other cell's text output with the
  output stored in the notebook, after the same sanitising as nbval
  (``tests/nbval_sanitize.cfg``). A chapter whose own code calls a bare name
  that an exercise defines (``im2col`` instead of ``unroll.im2col``) fails
  here, because the learner's function replaces the library's.
"""

from __future__ import annotations

import ast
import configparser
import copy
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
SANITIZE = REPO / "tests" / "nbval_sanitize.cfg"
LABEL = re.compile(r"^ex-ch\d\d-[\w-]+$")
TIMEOUT_S = 600
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _label(cell) -> str | None:
    labels = [t for t in _tags(cell) if LABEL.match(t)]
    if len(labels) > 1:
        raise AssertionError(f"a cell carries two exercise labels: {labels}")
    return labels[0] if labels else None


def exercise_pairs(nb) -> dict[str, tuple[int, int]]:
    """{label: (index of exercise cell, index of solution cell)}; checks the convention."""
    exercises: dict[str, int] = {}
    solutions: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        tags = _tags(cell)
        for kind, found in (("exercise-cell", exercises), ("solution-cell", solutions)):
            if kind not in tags:
                continue
            assert cell.cell_type == "code", f"cell {i}: {kind} must be a code cell"
            label = _label(cell)
            assert label is not None, f"cell {i}: {kind} without an ex-chNN-... label tag"
            assert label not in found, f"cell {i}: a second {kind} for {label}"
            found[label] = i
    assert exercises.keys() == solutions.keys(), (
        f"exercise cells without a solution: {sorted(exercises.keys() - solutions.keys())}; "
        f"solutions without an exercise cell: {sorted(solutions.keys() - exercises.keys())}")
    return {label: (exercises[label], solutions[label]) for label in exercises}


def _load_sanitizers() -> list[tuple[re.Pattern[str], str]]:
    # The nbval file format: sections, each with `regex:` then `replace:`.
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SANITIZE, encoding="utf-8")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


SANITIZERS = _load_sanitizers()


def _apply_carriage_returns(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        lines.append(line.rsplit("\r", 1)[-1] if "\r" in line else line)
    return "\n".join(lines)


def comparable(outputs) -> list[str]:
    """The text of a cell's outputs as nbval compares it: streams coalesced, sanitised."""
    texts: list[str] = []
    streams: dict[str, str] = {}
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            streams[out["name"]] = streams.get(out["name"], "") + out["text"]
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            if "text/plain" in data:
                texts.append(f"plain: {data['text/plain']}")
            if "text/html" in data:
                texts.append(f"html: {data['text/html']}")
        elif kind == "error":
            texts.append(f"error: {out.get('ename')}: {out.get('evalue')}")
    texts = [f"{name}: {_apply_carriage_returns(text)}" for name, text in sorted(streams.items())] + texts
    for pattern, replacement in SANITIZERS:
        texts = [pattern.sub(replacement, t) for t in texts]
    return texts


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exercise_cells_follow_the_convention(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    pairs = exercise_pairs(nb)
    for label, (ex, sol) in pairs.items():
        assert ex < sol, f"{label}: the exercise cell must come before its solution"
        template = nb.cells[ex].source
        tree = ast.parse(template)
        assert not tree.body, f"{label}: the exercise cell must hold only comments, so the page runs as published"
        assert not nb.cells[ex].get("outputs"), f"{label}: the exercise cell has stored output"
        assert ast.parse(nb.cells[sol].source).body, f"{label}: the solution cell is empty"


def _split_imports(source: str) -> tuple[str, str]:
    """(the top-level import statements of a cell, the cell with those lines blanked)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "", source
    lines = source.split("\n")
    imports = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(ast.unparse(node))
            for k in range(node.lineno - 1, node.end_lineno):
                lines[k] = ""
    return "\n".join(imports), "\n".join(lines)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_solving_every_exercise_in_place_keeps_the_page(path: Path) -> None:
    published = nbformat.read(path, as_version=4)
    pairs = exercise_pairs(published)
    solved = copy.deepcopy(published)
    for ex, sol in pairs.values():
        solved.cells[ex].source = published.cells[sol].source
    exercise_cells = {ex for ex, _ in pairs.values()}
    code = [i for i, cell in enumerate(solved.cells) if cell.cell_type == "code" and i not in exercise_cells]
    split = {i: _split_imports(solved.cells[i].source) for i in code}
    warm_up = nbformat.v4.new_code_cell("\n".join(split[i][0] for i in code))
    client = NotebookClient(solved, timeout=TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(BOOK)}})
    with client.setup_kernel():
        # The learner's kernel after solving the exercises in place: the
        # chapter's imports ran, then every solved exercise cell. Then the
        # learner re-runs the chapter's cells from the top. (Re-running the
        # import lines would rebind the library's names and hide a clash, so
        # they run once, first.) Every output must be the published one.
        try:
            client.execute_cell(warm_up, 0)
            for i in sorted(exercise_cells):
                client.execute_cell(solved.cells[i], i)
            for i in code:
                cell = solved.cells[i]
                source = cell.source
                cell.source = split[i][1]
                try:
                    client.execute_cell(cell, i)
                finally:
                    cell.source = source
        except CellExecutionError as error:
            message = ANSI.sub("", str(error))
            pytest.fail(f"{path.name}: a cell fails once the exercises are solved in place "
                        f"(a learner's function replaced a name the chapter uses?):\n{message}"[:4000])
    differences = []
    for i, (before, after) in enumerate(zip(published.cells, solved.cells)):
        if before.cell_type != "code" or i in exercise_cells or "nbval-ignore-output" in _tags(before):
            continue
        want, got = comparable(before.get("outputs", [])), comparable(after.get("outputs", []))
        if want != got:
            differences.append(f"cell {i} ({before.source[:60]!r}):\n  stored: {want}\n  solved: {got}")
    assert not differences, (f"{path.name}: outputs change when the exercises are solved in place "
                             "and the notebook is run again from the top:\n" + "\n".join(differences))


def test_every_chapter_has_coding_exercises() -> None:
    # Guards the test above against passing vacuously (a chapter losing its tags).
    counts = {p.stem: len(exercise_pairs(nbformat.read(p, as_version=4))) for p in CHAPTERS}
    assert counts and all(n >= 2 for n in counts.values()), counts


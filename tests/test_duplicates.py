"""One source per fact (issue 25): no run of six or more lines repeated across the package.

A plain-Python stand-in for a clone detector, so that CI needs no tool: each package module
(``test_sizes.FOLDERS``, never ``tests/``) is read as a list of its code lines, white space
folded, with blank lines, comments, lone punctuation, docstrings and import statements left
out; any run of ``MIN_RUN`` such lines that stands identically in two places is a repeat.
Left out too, as declarations rather than logic: function parameter lists. The compiled
kernels take flat argument lists that ``envs.core.PacingCore`` binds by name
(``envs/kernel.py`` says why they are flat), so each kernel names the same arrays; and two
public entry points may take the same keywords (``baselines.normalise``'s bootstrap
settings). Only identical lines count: two places alike but for names are not flagged.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import defaultdict
from pathlib import Path

from tests.test_sizes import FOLDERS, ROOT

MIN_RUN = 6  # [lines] a repeat this long is a second source of one piece of logic
NOT_YET: set[tuple[str, str]] = set()
"""File pairs whose repeats are still to be merged: none (a pair added here must be taken
out once it is clean: the test fails on a stale entry)."""
_WORD = re.compile(r"\w")


def _skipped(tree: ast.Module) -> tuple[set[int], dict[int, str]]:
    """Line numbers (1-based) that are not logic: imports, docstrings, parameter lists; and
    ``def <name>``, what each function's first line reads as instead of its signature (a
    function's end and the next one's start are not one run)."""
    skip: set[int] = set()
    defs: dict[int, str] = {}
    scopes: list[ast.AST] = [tree]
    while scopes:  # statements only: imports, docstrings and signatures are never in expressions
        node = scopes.pop()
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            skip.update(range(first.lineno, first.end_lineno + 1))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            skip.update(range(node.lineno, node.body[0].lineno))
            defs[node.lineno] = f"def {node.name}"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            skip.update(range(node.lineno, node.end_lineno + 1))
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            scopes.extend(s for s in getattr(node, field, ()) if isinstance(s, ast.AST))
    return skip, defs


def code_lines(src: str) -> list[tuple[int, str]]:
    """``(line number, folded text)`` of each line of ``src`` that counts (module docstring),
    comments cut off."""
    skip, defs = _skipped(ast.parse(src))
    lines = src.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col]
    out = []
    for n, line in enumerate(lines, start=1):
        text = defs.get(n) or " ".join(line.split())
        if (n in defs or n not in skip) and _WORD.search(text):
            out.append((n, text))
    return out


def repeats(files: dict[str, list[tuple[int, str]]], min_run: int = MIN_RUN) -> list[str]:
    """``"a.py:10-24 ~ b.py:40-54"`` for each maximal run of at least ``min_run`` code lines
    that stands in two places (two files, or two places of one file that do not overlap)."""
    where: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
    for name, lines in files.items():
        texts = [t for _, t in lines]
        for i in range(len(texts) - min_run + 1):
            where[tuple(texts[i : i + min_run])].append((name, i))
    pairs: set[tuple[str, int, str, int]] = set()
    for places in where.values():
        for a in range(len(places)):
            for b in range(a + 1, len(places)):
                (fa, ia), (fb, ib) = places[a], places[b]
                if fa != fb or abs(ia - ib) >= min_run:
                    pairs.add((fa, ia, fb, ib))
    out = []
    for fa, ia, fb, ib in sorted(pairs):
        if (fa, ia - 1, fb, ib - 1) in pairs:
            continue  # inside a longer run, reported from its start
        n = min_run
        while (fa, ia + n - min_run + 1, fb, ib + n - min_run + 1) in pairs:
            n += 1
        la, lb = files[fa], files[fb]
        out.append(f"{fa}:{la[ia][0]}-{la[ia + n - 1][0]} ~ {fb}:{lb[ib][0]}-{lb[ib + n - 1][0]}")
    return out


def _package() -> dict[str, list[tuple[int, str]]]:
    files = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            files[rel] = code_lines(path.read_text())
    return files


def test_the_check_finds_a_repeat_and_passes_over_what_is_not_logic():
    body = "\n".join(f"    x{i} = f(x{i - 1}, {i})  # step {i}" for i in range(1, 7))
    a = f'def f(a, b):\n    """Doc."""\n{body}\n    return x6\n'
    b = f"import os\n\n\ndef g(c):\n    y = 0\n{body.replace('# step', '# other')}\n"
    files = {"a.py": code_lines(a), "b.py": code_lines(b)}
    assert repeats(files) == ["a.py:3-8 ~ b.py:6-11"]
    imports = "from m import (\n" + "".join(f"    n{i},\n" for i in range(8)) + ")\n"
    assert repeats({"a.py": code_lines(imports), "b.py": code_lines(imports)}) == []
    sig = "def k(\n" + "".join(f"    arr{i}: int,\n" for i in range(8)) + ") -> None:\n    pass\n"
    assert repeats({"a.py": code_lines(sig), "b.py": code_lines(sig)}) == []
    call = "k(\n" + "".join(f"    arr{i},\n" for i in range(8)) + ")\n"
    assert repeats({"a.py": code_lines(call), "b.py": code_lines(call)}) == ["a.py:1-9 ~ b.py:1-9"]


def test_no_run_of_lines_is_repeated_in_the_package():
    every = repeats(_package())
    stale = NOT_YET - {_pair(r) for r in every}
    assert not stale, f"clean now: take them out of NOT_YET: {stale}"
    found = [r for r in every if _pair(r) not in NOT_YET]
    assert not found, f"write it once (a helper, a table) and call it from both: {found}"


def _pair(row: str) -> tuple[str, str]:
    a, b = row.split(" ~ ")
    return a.rpartition(":")[0], b.rpartition(":")[0]


def test_the_check_reads_every_package_module():
    files = _package()
    assert "envs/kernel.py" in files and "experiments/simulate.py" in files
    assert all(Path(name).parts[0] != "tests" for name in files)

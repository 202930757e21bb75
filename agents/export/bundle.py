"""Generate the artifact's one python file, ``pacer.py``: numpy and the standard library only.

``build_runtime_source``: the runtime package ``agents/export/runtime/``, whose modules
are concatenated in ``RUNTIME_MODULES`` order, so the runtime is written once, as small
modules, and shipped as one file. Their imports of each other are dropped (every
imported name must then be defined, once, earlier in the file; checked) and their other
imports are merged into one header. The baseline rules are part of the runtime
(``runtime/plans.py``, ``rule_params.py``, ``controllers.py``); an artifact carries their kind and parameters only, so no
loader ever runs code from an artifact. ``build_pyfunc_source``: the same runtime
followed by the MLflow pyfunc wrapper (``pyfunc_model.py``), the code MLflow logs with a
registered pacer.

Statements are copied verbatim. Each text is checked before anything is written: it must
compile, import nothing but numpy and the standard library (the onnx backend's
``onnxruntime`` inside a function excepted), and run with the project, torch, SB3,
gymnasium, hydra and mlflow blocked. Parity with the project's code is tested in
``tests/agents/export/``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNTIME_PACKAGE = "pacegym.agents.export.runtime"
RUNTIME_MODULES = (
    "manifest",
    "normalize",
    "workers",
    "kinds",
    "plans",
    "rule_params",
    "controllers",
    "segment_state",
    "segment_fill",
    "smart_pacing",
    "lp_split",
    "segment_pacer",
    "segment_frame",
    "rule_row",
    "mlp",
    "segment_pad",
    "segment_residual",
    "recurrent_manifest",
    "recurrent",
    "rule",
    "residual",
    "onnx_backend",
    "frontend",
    "schema",
    "loader",
)
"""The runtime's modules in dependency order (its ``__init__`` follows them)."""
OPTIONAL_IMPORTS = frozenset({"onnxruntime"})  # imported inside OnnxPolicy only

PROJECT_PACKAGES = ("pacegym",)
BLOCKED = (*PROJECT_PACKAGES, "torch", "stable_baselines3", "gymnasium", "hydra", "mlflow")


class BundleError(RuntimeError):
    """The code cannot be bundled numpy-only; the message names the module and the name."""


@dataclass(frozen=True)
class _Body:
    """The selected top-level statements of one module."""

    module: str
    text: str  # "# --- from <module> ---" and the statements, verbatim
    imports: tuple[ast.Import | ast.ImportFrom, ...]  # top-level, not from the project
    siblings: tuple[tuple[str, str, str | None], ...]  # relative imports: (module, name, as)
    defined: frozenset[str]


def _is_project_import(node: ast.stmt) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] in PROJECT_PACKAGES
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] in PROJECT_PACKAGES for a in node.names)
    return False


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [a.name for a in node.names]


def _defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign):
        targets = [node.target]
    return {t.id for t in targets if isinstance(t, ast.Name)}


def _module_body(
    module_name: str, names: Sequence[str] | None = None, keep_gaps: bool = False
) -> _Body:
    """The statements of ``module_name`` that define ``names`` (None: all but imports and
    the module docstring), with its imports sorted out. Statements are joined by two blank
    lines, or with ``keep_gaps`` by the blank lines and comments between them in the source
    (where no statement was left out between them)."""
    module = importlib.import_module(module_name)
    src = inspect.getsource(module)
    lines = src.splitlines()
    tree = ast.parse(src)
    package = module.__package__ or ""
    chunks: list[str] = []
    imports: list[ast.Import | ast.ImportFrom] = []
    siblings: list[tuple[str, str, str | None]] = []
    found: set[str] = set()
    prev_end: int | None = None  # last line of the previous statement kept, if adjacent
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # module docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                source = importlib.util.resolve_name(
                    "." * node.level + (node.module or ""), package
                )
                siblings += [(source, a.name, a.asname) for a in node.names]
            elif not _is_project_import(node):
                imports.append(node)
            prev_end = None
            continue
        defined = _defined_names(node)
        if names is not None and not defined & set(names):
            prev_end = None
            continue
        found |= defined
        decorators = getattr(node, "decorator_list", [])
        start = min([node.lineno] + [d.lineno for d in decorators]) - 1
        gap = "\n\n\n"
        if keep_gaps and prev_end is not None:
            gap = "\n" + "".join(line + "\n" for line in lines[prev_end:start])
        chunks.append((gap if chunks else "") + "\n".join(lines[start : node.end_lineno]))
        prev_end = node.end_lineno
    missing = sorted(set(names or ()) - found)
    if missing:
        raise BundleError(f"{module_name} does not define {missing} (bundle.SOURCES is stale)")
    text = f"# --- from {module_name} ---\n\n" + "".join(chunks)
    return _Body(module_name, text, tuple(imports), tuple(siblings), frozenset(found))


def _check_imports(body: _Body, allowed: Callable[[str], bool], what: str) -> None:
    for node in body.imports:
        for m in _imported_modules(node):
            if not allowed(m.split(".")[0]):
                raise BundleError(f"{body.module} imports {m!r}: allowed {what}")


def _numpy_or_stdlib(top: str) -> bool:
    return top == "numpy" or top in sys.stdlib_module_names


def _run_isolated(text: str, filename: str, blocked: Iterable[str] = BLOCKED) -> dict[str, Any]:
    """Execute ``text`` as a fresh module with ``blocked`` packages unimportable; its namespace."""
    blocked = tuple(blocked)
    name = f"_pacegym_bundle_check_{Path(filename).stem}"
    code = compile(text, filename, "exec")
    module = type(sys)(name)
    saved = {k: sys.modules.get(k) for k in blocked}
    real_import = __builtins__["__import__"] if isinstance(__builtins__, dict) else __import__

    def guarded(mod: str, *args: object, **kwargs: object) -> object:
        if mod.split(".")[0] in blocked:
            raise BundleError(f"{filename} imports {mod!r}: only numpy and the stdlib are allowed")
        return real_import(mod, *args, **kwargs)

    module.__dict__["__builtins__"] = {
        **(__builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)),
        "__import__": guarded,
    }
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        exec(code, module.__dict__)
    finally:
        del sys.modules[name]
        for k, v in saved.items():
            if v is not None:
                sys.modules[k] = v
    return module.__dict__


# --- pacer.py ---


def _link(bodies: Sequence[_Body]) -> None:
    """Each relative import names a top-level definition of a module bundled before it, and
    no name is bound twice (a later definition would silently replace an earlier one)."""
    defined: dict[str, frozenset[str]] = {}  # module -> its top-level definitions
    owner: dict[str, str] = {}  # bound name -> what binds it
    for b in bodies:
        for source, name, alias in b.siblings:
            if source not in defined:
                raise BundleError(
                    f"{b.module} imports from {source}, which is not bundled before it"
                    " (order and list: bundle.RUNTIME_MODULES)"
                )
            if alias not in (None, name):
                raise BundleError(f"{b.module}: 'import {name} as {alias}' cannot be bundled")
            if name not in defined[source]:
                raise BundleError(f"{b.module} imports {name!r}, which {source} does not define")
        bound = {n: f"a definition in {b.module}" for n in b.defined}
        for node in b.imports:
            for a in node.names:
                if isinstance(node, ast.ImportFrom):
                    bound[a.asname or a.name] = f"'from {node.module} import {a.name}'"
                else:
                    bound[a.asname or a.name.split(".")[0]] = f"'import {a.name}'"
        for n, origin in bound.items():
            if owner.setdefault(n, origin) != origin:
                raise BundleError(f"{b.module}: {n!r} is bound by {origin} and by {owner[n]}")
        defined[b.module] = b.defined


def _merged_imports(nodes: Iterable[ast.Import | ast.ImportFrom]) -> str:
    """One header of the imports of all modules: __future__, stdlib, then numpy."""
    plain: set[tuple[str, str | None]] = set()
    froms: dict[str, set[tuple[str, str | None]]] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            plain |= {(a.name, a.asname) for a in node.names}
        else:
            froms.setdefault(node.module or "", set()).update(
                (a.name, a.asname) for a in node.names
            )

    def alias(name: str, asname: str | None) -> str:
        return name if asname is None else f"{name} as {asname}"

    groups: list[list[str]] = []
    for future, std in ((True, True), (False, True), (False, False)):

        def keep(m: str, future: bool = future, std: bool = std) -> bool:
            top = m.split(".")[0]
            return (top == "__future__") == future and (top in sys.stdlib_module_names) == std

        lines = [f"import {alias(n, a)}" for n, a in sorted(plain, key=str) if keep(n)]
        lines += [
            f"from {m} import {', '.join(alias(n, a) for n, a in sorted(froms[m], key=str))}"
            for m in sorted(froms)
            if keep(m)
        ]
        if lines:
            groups.append(lines)
    return "\n\n".join("\n".join(g) for g in groups)


def build_runtime_source() -> str:
    """The text of ``pacer.py``: the runtime package as one checked file."""
    package = importlib.import_module(RUNTIME_PACKAGE)
    on_disk = {p.stem for p in Path(package.__file__).parent.glob("*.py")} - {"__init__"}
    if on_disk != set(RUNTIME_MODULES):
        raise BundleError(
            f"{RUNTIME_PACKAGE} has modules {sorted(on_disk)}; bundle.RUNTIME_MODULES lists"
            f" {sorted(RUNTIME_MODULES)}: list each module once, after those it imports"
        )
    modules = [f"{RUNTIME_PACKAGE}.{m}" for m in RUNTIME_MODULES] + [RUNTIME_PACKAGE]
    bodies = [_module_body(m, keep_gaps=True) for m in modules]
    for b in bodies:
        _check_imports(b, _numpy_or_stdlib, "numpy and the standard library")
        if any(not s.startswith(f"{RUNTIME_PACKAGE}.") for s, _, _ in b.siblings):
            raise BundleError(f"{b.module} imports from outside {RUNTIME_PACKAGE}")
    _link(bodies)
    doc = inspect.cleandoc(package.__doc__ or "")
    note = textwrap.fill(
        f"Generated by agents/export/bundle.py from {RUNTIME_PACKAGE} (modules:"
        f" {', '.join(RUNTIME_MODULES)}), copied verbatim; do not edit: re-export instead.",
        88,
    )
    header = f'"""{doc}\n\n{note}\n"""\n\n{_merged_imports(i for b in bodies for i in b.imports)}'
    text = header + "\n\n\n" + "\n\n\n".join(b.text for b in bodies) + "\n"
    check_runtime_source(text, package.__all__)
    return text


def check_runtime_source(text: str, public: Sequence[str] = ("load", "load_pacer")) -> None:
    """``text`` imports only numpy and the stdlib (``OPTIONAL_IMPORTS`` inside functions),
    runs with the project and the heavy frameworks blocked, and defines ``public``."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise BundleError("pacer.py has a relative import: it must stand alone")
            for m in _imported_modules(node):
                top = m.split(".")[0]
                if not (_numpy_or_stdlib(top) or top in OPTIONAL_IMPORTS):
                    raise BundleError(f"pacer.py imports {m!r}: allowed numpy and the stdlib")
    namespace = _run_isolated(text, "pacer.py", (*BLOCKED, *OPTIONAL_IMPORTS))
    missing = [n for n in public if n not in namespace]
    if missing:
        raise BundleError(f"pacer.py does not define {missing}")


PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")


def build_pyfunc_source() -> str:
    """The code MLflow logs for a registered pacer: ``pacer.py``'s runtime, then the
    wrapper of ``pyfunc_model.py`` with its project imports dropped (their names are the
    runtime's). The wrapper is read as text, not imported (importing it would register a
    model with MLflow)."""
    runtime = build_runtime_source()
    src = PYFUNC_FILE.read_text(encoding="utf-8")
    tree = ast.parse(src)
    lines = src.splitlines()
    head: list[str] = []
    body: list[str] = []
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            if _is_project_import(node) or _imported_modules(node) == ["__future__"]:
                continue
            head.append(ast.unparse(node))
            continue
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        body.append("\n".join(lines[start - 1 : node.end_lineno]))
    text = (
        f"{runtime}\n\n# --- from pacegym.agents.export.pyfunc_model ---\n\n"
        + "\n".join(head)
        + "\n\n\n"
        + "\n\n\n".join(body)
        + "\n"
    )
    compile(text, "pacer_pyfunc.py", "exec")
    return text

"""Read a project's Python source without importing it: a bound falsifier's test function (its
``@accepts`` / ``@records``, the live definition), the first-party modules it and its conftest
files reach, and the fixtures a project defines. The fingerprint hashes what this finds; lint
judges it. Untrusted contracts never make the harness import code.
"""

from __future__ import annotations

import ast
import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class TestInfo:
    """What the source says about one falsifier test function."""

    file: str
    func: str
    exists: bool
    file_exists: bool
    line: int = 0
    source: str = ""
    accepts: dict[str, Any] | None = None  # name → default, REQUIRED marker for required
    records: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)
    takes_falsifier: bool = False
    code_digest: str = ""  # the module helpers the test reaches
    imports: frozenset = frozenset()  # what the test and its helpers import (``dependency_refs``)
    path: str = ""  # the test file, absolute

    def required_params(self) -> set[str]:
        return {k for k, v in (self.accepts or {}).items() if v is _MISSING}

    def defaults(self) -> dict[str, Any]:
        return {k: v for k, v in (self.accepts or {}).items() if v is not _MISSING}


def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Name):
        return target.id
    return None


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING


@lru_cache(maxsize=256)
def _parse(path: str, mtime_ns: int, size: int) -> ast.Module | None:
    try:
        return ast.parse(Path(path).read_text("utf-8"), filename=path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def find_test(root: Path, test_file: str, test_func: str) -> TestInfo:
    path = Path(root) / test_file
    try:
        st = path.stat()
    except OSError:
        return TestInfo(test_file, test_func, exists=False, file_exists=False)
    return _find_test(str(path), test_file, test_func, st.st_mtime_ns, st.st_size, str(Path(root).absolute()))


def _live_definition(module: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The definition Python binds to ``name`` at import: the last one in the module body (a
    second ``def`` of the same name replaces the first, which is dead code)."""
    found = None
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            found = node
    return found


@lru_cache(maxsize=1024)
def _find_test(path_str: str, test_file: str, test_func: str, mtime_ns: int, size: int, root: str) -> TestInfo:
    path = Path(path_str)
    module = _parse(path_str, mtime_ns, size)
    if module is None:
        return TestInfo(test_file, test_func, exists=False, file_exists=True, problems=("the file does not parse as Python",))
    source = path.read_text("utf-8")
    node = _live_definition(module, test_func)
    if node is not None:
        accepts: dict[str, Any] | None = None
        recorded: tuple[str, ...] = ()
        problems: list[str] = []
        for deco in node.decorator_list:
            name = _decorator_name(deco)
            if name == "accepts" and isinstance(deco, ast.Call):
                accepts = {}
                for arg in deco.args:
                    value = _literal(arg)
                    if isinstance(value, str):
                        accepts[value] = _MISSING
                    else:
                        problems.append("@accepts takes literal names")
                for kw in deco.keywords:
                    if kw.arg is None:
                        problems.append("@accepts(**...) cannot be read statically")
                        continue
                    value = _literal(kw.value)
                    accepts[kw.arg] = None if value is _MISSING else value
            elif name == "records" and isinstance(deco, ast.Call):
                recorded = tuple(v for v in (_literal(a) for a in deco.args) if isinstance(v, str))
        segment = ast.get_source_segment(source, node) or ""
        decorators = "".join(ast.get_source_segment(source, d) or "" for d in node.decorator_list)
        return TestInfo(
            test_file,
            test_func,
            exists=True,
            file_exists=True,
            line=node.lineno,
            source=decorators + "\n" + segment,
            accepts=accepts,
            records=recorded,
            problems=tuple(problems),
            takes_falsifier=any(a.arg in ("falsifier", "subject") for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)),
            code_digest=_code_digest(module, source, node, path, Path(root)),
            imports=dependency_refs(module, node, path),
            path=str(path),
        )
    return TestInfo(test_file, test_func, exists=False, file_exists=True)


MAX_DEPENDENCY_FILES = 256


ImportRef = tuple[str, int, str]  # (dotted name, relative level, importing file)


def _imports_of(nodes, origin: str) -> set[ImportRef]:
    """Every module the nodes import: absolute names, and relative ones with their level and the
    file they are relative to (``from . import helpers`` in a test's package)."""
    found: set[ImportRef] = set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Import):
                found.update((alias.name, 0, origin) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                found.add((module, node.level, origin))
                found.update((f"{module}.{alias.name}" if module else alias.name, node.level, origin) for alias in node.names)
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets):
                plugins = _literal(node.value)  # a conftest's plugins are code its fixtures run
                for name in [plugins] if isinstance(plugins, str) else plugins if isinstance(plugins, (list, tuple)) else ():
                    if isinstance(name, str):
                        found.add((name, 0, origin))
    return found


def _resolve(ref: ImportRef, search: tuple[Path, ...]) -> Path | None:
    """The first-party source file an import names, or None (third-party and standard-library
    modules are versioned by their packages, not hashed here)."""
    name, level, origin = ref
    if level:
        base = Path(origin).parent
        for _ in range(level - 1):
            base = base.parent
        bases: tuple[Path, ...] = (base,)
    else:
        bases = search
    parts = [p for p in name.split(".") if p]
    if not all(p.isidentifier() for p in parts):
        return None
    for base in bases:
        candidates = (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")) if parts else (base / "__init__.py",)
        for candidate in candidates:
            if candidate.is_file():
                return candidate
    return None


@lru_cache(maxsize=4096)
def _file_facts(path: str, mtime_ns: int, size: int) -> tuple[str, frozenset[ImportRef]] | None:
    """(sha256 of the text, the imports it makes) of one source file, cached by its stat."""
    try:
        text = Path(path).read_text("utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        return None
    return hashlib.sha256(text.encode()).hexdigest(), frozenset(_imports_of([tree], path))


def _stat_facts(path: Path) -> tuple[str, frozenset[ImportRef]] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return _file_facts(str(path), st.st_mtime_ns, st.st_size)


def search_path(root: Path, near: Path) -> tuple[Path, ...]:
    """Where a bound test's absolute imports are looked up as pytest would find them: the harness
    package, the test's folder and each folder above it up to the project root (rootdir and
    ``prepend`` import mode), and a ``src/`` layout."""
    from harness.builtins import PACKAGE_DIR

    folders = [PACKAGE_DIR.parent]
    here = Path(near)
    root = Path(root)
    while True:
        folders.append(here)
        if here == root or here.parent == here or root not in here.parents:
            break
        here = here.parent
    folders += [root, root / "src"]
    folders += [root / extra for extra in ini_pythonpath(root)]  # pytest's ``pythonpath`` ini key
    return tuple(dict.fromkeys(folders))


def ini_pythonpath(root: Path) -> tuple[str, ...]:
    """The folders pytest's ``pythonpath`` ini key puts on ``sys.path`` for this project (read
    again when a config file changes)."""
    from harness.snapshot.layout import CONFIG_FILES

    stamps = []
    for name in CONFIG_FILES:
        try:
            st = os.stat(os.path.join(root, name))
        except OSError:
            continue
        stamps.append((name, st.st_mtime_ns, st.st_size))
    return _pythonpath_of(str(root), tuple(stamps)) if stamps else ()


@lru_cache(maxsize=64)
def _pythonpath_of(root: str, stamps: tuple) -> tuple[str, ...]:
    from harness.snapshot.layout import config_file

    found = config_file(Path(root))
    return tuple(found[1].get("pythonpath", "").split()) if found is not None else ()


def _key_of(path: Path, root: Path) -> str | None:
    """A file's name in a digest: the same in a checkout and a wheel (the harness's by its place in
    the package), and on every clone of a project (by its path in the project)."""
    from harness.builtins import PACKAGE_DIR

    resolved = Path(os.path.realpath(path))
    for base in (PACKAGE_DIR.parent, Path(os.path.realpath(root))):
        try:
            return resolved.relative_to(base).as_posix()
        except ValueError:
            continue
    return None


def closure_digests(refs: set[ImportRef], files: list[Path], search: tuple[Path, ...], root: Path, skip: Path | None = None) -> dict[str, str]:
    """sha256 of every first-party file in ``files`` and of every file they and ``refs`` import,
    transitively (at most ``MAX_DEPENDENCY_FILES``), by ``_key_of`` name."""
    digests: dict[str, str] = {}
    seen: set[str] = set()
    pending: list[Path] = list(files)
    queue: list[ImportRef] = sorted(refs)
    while (pending or queue) and len(digests) < MAX_DEPENDENCY_FILES:
        if pending:
            path = pending.pop()
        else:
            path = _resolve(queue.pop(), search)
            if path is None:
                continue
        real = os.path.realpath(path)
        if real in seen or (skip is not None and real == os.path.realpath(skip)):
            continue
        seen.add(real)
        key = _key_of(path, root)
        facts = _stat_facts(path) if key is not None else None
        if facts is None:
            continue
        digests[key] = facts[0]
        queue.extend(sorted(facts[1]))
    return dict(sorted(digests.items()))


def _code_digest(module: ast.Module, source: str, func: ast.AST, test_path: Path, root: Path) -> str:
    """A hash of the test function's own module helpers and constants it reaches (the part of the
    test file beyond the function); the modules they import are hashed at fingerprint time
    (``dependency_refs``), so an edited helper module is seen without re-reading the test."""
    helpers = "\n".join(ast.get_source_segment(source, r) or "" for r in _reached(module, func)[1:])
    return hashlib.sha256(helpers.encode()).hexdigest()[:16]


def _reached(module: ast.Module, func: ast.AST) -> list[ast.AST]:
    top_level: dict[str, ast.AST] = {}
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top_level[node.name] = node  # the last definition wins, as at import
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    top_level[target.id] = node
    reached, queue = [func], [func]
    while queue:
        for node in ast.walk(queue.pop()):
            if isinstance(node, ast.Name) and node.id in top_level and top_level[node.id] not in reached:
                reached.append(top_level[node.id])
                queue.append(top_level[node.id])
    return reached


def dependency_refs(module: ast.Module, func: ast.AST, test_path: Path) -> frozenset[ImportRef]:
    """The imports the test function and the helpers it reaches make (module-level imports of the
    names they use included): the first-party code its verdict depends on."""
    reached = _reached(module, func)
    used = {n.id for r in reached for n in ast.walk(r) if isinstance(n, ast.Name)}
    module_imports = [
        n for n in module.body if isinstance(n, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name).split(".")[0] in used for a in n.names)
    ]
    return frozenset(_imports_of([*reached, *module_imports], str(test_path)))


def conftest_files(root: Path, test_dir: Path) -> list[Path]:
    """The ``conftest.py`` files pytest loads for a test in ``test_dir``: the root's and each one
    down to the test's folder. Their fixtures build the subjects a falsifier judges."""
    root = Path(root)
    folders = [Path(test_dir)]
    while folders[-1] != root and root in folders[-1].parents:
        folders.append(folders[-1].parent)
    return [f / "conftest.py" for f in reversed(folders) if (f / "conftest.py").is_file()]


def collectable_problem(test: TestInfo, python_files: list[str], python_functions: list[str]) -> str | None:
    """Why pytest would never make a bound item of this test, or None when it would."""
    import fnmatch

    name = Path(test.file).name
    if not any(fnmatch.fnmatch(name, pattern) for pattern in python_files):
        return f"{test.file} does not match python_files ({' '.join(python_files)}), so pytest never collects it"
    if not any(test.func.startswith(prefix) or fnmatch.fnmatch(test.func, prefix) for prefix in python_functions):
        return f"{test.func} does not match python_functions ({' '.join(python_functions)}), so it is not a test"
    if not test.takes_falsifier:
        return f"{test.func} does not take the `falsifier` fixture, so the harness cannot bind it"
    return None


def fixture_names_in(path: Path) -> set[str]:
    """Fixture names a module defines, read with ``ast``: decorated functions (``name=`` honoured)
    and module-level names bound to a call (fixture factories such as ``x = make_fixture(...)``)."""
    import ast

    try:
        tree = ast.parse(path.read_text("utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if (isinstance(target, ast.Attribute) and target.attr == "fixture") or (isinstance(target, ast.Name) and target.id == "fixture"):
                    given = [k.value.value for k in getattr(deco, "keywords", []) if k.arg == "name" and isinstance(k.value, ast.Constant)]
                    names.add(given[0] if given else node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def known_fixtures(root: Path, falsifiers_dir: str) -> set[str]:
    """Fixtures a contract may name as a subject: the plugin's own (``falsifier``, ``subject``) and
    those the project defines — in its conftest.py files, in its falsifier modules, and in the
    plugin modules its conftest files name in ``pytest_plugins`` (a fixtures module shipped by a
    package, such as the embedded demo's ``harness.demo.fixtures``)."""
    names = {"falsifier", "subject", "tmp_path", "tmp_path_factory", "request"}
    skip = {".venv", "venv", ".git", "node_modules", ".tox", "evidence", "build", "dist"}
    root = Path(root)
    conftests = [p for p in root.rglob("conftest.py") if not any(part in skip or part.startswith(".") for part in p.relative_to(root).parts[:-1])]
    candidates = list(conftests)
    candidates += list((root / falsifiers_dir).rglob("*.py")) if (root / falsifiers_dir).is_dir() else []
    for conftest in conftests:
        for ref in _plugin_refs(conftest):
            module = _resolve(ref, search_path(root, conftest.parent))
            if module is not None:
                candidates.append(module)
    for path in candidates:
        names |= fixture_names_in(path)
    return names


def _plugin_refs(conftest: Path) -> set[ImportRef]:
    """The modules a conftest names in ``pytest_plugins``."""
    try:
        tree = ast.parse(conftest.read_text("utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return set()
    plugins = [n for n in tree.body if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in n.targets)]
    return set(_imports_of(plugins, str(conftest)))


_PATH_EDITS = ("insert", "append", "extend")


def syspath_edits(path: Path) -> tuple[int, ...]:
    """The lines of ``path`` that change the import path at run time (``sys.path.insert`` /
    ``append`` / ``extend``, ``site.addsitedir``): a module found through one is imported by the
    run but cannot be resolved statically, so it is not in a verdict's fingerprint."""
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return _syspath_edits(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=512)
def _syspath_edits(path: str, mtime_ns: int, size: int) -> tuple[int, ...]:
    module = _parse(path, mtime_ns, size)
    if module is None:
        return ()
    lines = []
    for node in ast.walk(module):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        target = node.func.value
        edits_sys_path = (
            node.func.attr in _PATH_EDITS and isinstance(target, ast.Attribute) and target.attr == "path" and getattr(target.value, "id", None) == "sys"
        )
        if edits_sys_path or (node.func.attr == "addsitedir" and getattr(target, "id", None) == "site"):
            lines.append(node.lineno)
    return tuple(sorted(lines))

"""Resolve a bound falsifier's test by reading source, never importing it, and fingerprint what
produced a status (test source and the code it depends on, params, subject, harness version).
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.contract.model import Falsifier

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
    code_digest: str = ""  # the helpers and modules the test's verdict depends on

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
    return _find_test(str(path), test_file, test_func, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=1024)
def _find_test(path_str: str, test_file: str, test_func: str, mtime_ns: int, size: int) -> TestInfo:
    path = Path(path_str)
    module = _parse(path_str, mtime_ns, size)
    if module is None:
        return TestInfo(test_file, test_func, exists=False, file_exists=True, problems=("the file does not parse as Python",))
    source = path.read_text("utf-8")
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == test_func:
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
                code_digest=_code_digest(module, source, node, path),
            )
    return TestInfo(test_file, test_func, exists=False, file_exists=True)


MAX_DEPENDENCY_FILES = 64


def _imported_modules(nodes) -> set[str]:
    found: set[str] = set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _module_file(name: str, search: tuple[Path, ...]) -> Path | None:
    """The source file of a first-party module: the harness package or the project's own code.
    Third-party and standard-library modules are versioned by their packages, not hashed here."""
    parts = name.split(".")
    for base in search:
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def _code_digest(module: ast.Module, source: str, func: ast.AST, test_path: Path) -> str:
    """A hash of the code that decides a falsifier's verdict beyond the test function itself:
    the module's own helpers and constants it reaches, and the first-party modules (harness, the
    project) they import, transitively — so editing a helper stales the verdicts that use it."""
    from harness.builtins import PACKAGE_DIR

    top_level: dict[str, ast.AST] = {}
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top_level[node.name] = node
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
    used = {n.id for r in reached for n in ast.walk(r) if isinstance(n, ast.Name)}
    module_imports = [
        n for n in module.body if isinstance(n, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name).split(".")[0] in used for a in n.names)
    ]
    search = (PACKAGE_DIR.parent, test_path.parent, test_path.parent.parent)
    pending = sorted(_imported_modules([*reached, *module_imports]))
    files: dict[str, str] = {}
    seen: set[str] = set()
    while pending and len(files) < MAX_DEPENDENCY_FILES:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name, search)
        if path is None or path == test_path or name in files:
            continue
        try:
            text = path.read_text("utf-8")
            tree = ast.parse(text)
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        files[name] = hashlib.sha256(text.encode()).hexdigest()  # by module name: the same in a checkout and a wheel
        pending.extend(sorted(_imported_modules([tree]) - seen))
    helpers = "\n".join(ast.get_source_segment(source, r) or "" for r in reached[1:])
    payload = {"helpers": hashlib.sha256(helpers.encode()).hexdigest(), "modules": dict(sorted(files.items()))}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def declaration_digest(falsifier: Falsifier, declared: tuple[str, str] | None = None) -> str:
    """What the contract declares for one falsifier (test, params, requirements, subject, bands):
    a run's verdict is written only while the contract still declares what ran.

    The hash of ``json.dumps({test, params, requires, subject, plausible}, sort_keys=True,
    default=str)``, assembled from its members (see ``_declared``)."""
    members, subject = declared or _declared(falsifier)
    blob = "{" + members + ', "subject": ' + subject + ', "test": ' + _encoded(falsifier.test) + "}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stamps(falsifier: Falsifier, test: TestInfo) -> tuple[str, str]:
    """(fingerprint, declaration digest) of a collected falsifier, sharing their encoded members."""
    declared = _declared(falsifier)
    return (fingerprint(falsifier, test, declared=declared) if test.exists else "", declaration_digest(falsifier, declared))


def _declared(falsifier: Falsifier) -> tuple[str, str]:
    """The JSON members both digests share: ``"params": …, "plausible": …, "requires": …`` (in
    key order, one encoder call) and the encoded subject."""
    plausible = {k: list(v) for k, v in sorted(falsifier.plausible.items())}
    shared = _encode({"params": falsifier.params, "plausible": plausible, "requires": sorted(falsifier.requires)})
    subject = _encoded(falsifier.subject) if isinstance(falsifier.subject, str) else "null" if falsifier.subject is None else _encode(falsifier.subject)
    return shared[1:-1], subject


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


def fingerprint(falsifier: Falsifier, test: TestInfo, version: str | None = None, declared: tuple[str, str] | None = None) -> str:
    """A short hash of what produced a verdict: the test's source and the code it depends on, the
    params and requirements, the subject and the harness version. When any of these changes, a
    recorded status is stale.

    The hash is of ``json.dumps(payload, sort_keys=True, default=str, ensure_ascii=True)`` with
    the keys below; the document is assembled from its members so the test's source, shared by
    every falsifier bound to it, is encoded once per session rather than once per falsifier."""
    if version is None:
        from harness import __version__ as version
    members, subject = declared or _declared(falsifier)
    blob = (
        '{"code": ' + _encoded(test.code_digest)
        + ', "harness": ' + _encoded(version)
        + ", " + members
        + ', "source": ' + _encoded(test.source)
        + ', "subject": ' + subject
        + "}"
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_ENCODER = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=True)  # json.dumps(…) with these arguments


def _encode(value: Any) -> str:
    return _ENCODER.encode(value)


@lru_cache(maxsize=1024)
def _encoded(text: str) -> str:
    return _encode(text)

"""The house's shape, read from the source (docs/architecture.md draws it): layers that import only
downward, no circle between modules, the plugin free of the demo, no function too long to read,
and one reader of contract, evidence and ini files."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "harness"

# Lowest first. A module may import its own layer and those below it, never one above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "harness",
            "harness._api",
            "harness.builtins",
            "harness.findings",
            "harness.paths",
            "harness.globbing",
            "harness.atomic",
            "harness.cachedir",
            "harness.schema",
            "harness.styles",
            "harness.progress",
            "harness.urls",
        ),
    ),
    (
        "core",
        (
            "harness.contract",
            "harness.sources",
            "harness.identity",
            "harness.fingerprint",
            "harness.evidence",
            "harness.snapshot",
            "harness.status",
            "harness.ledger",
            "harness.lint",
            "harness.pv_baseline",
            "harness.gate",
            "harness.writer",
            "harness.recording",
            "harness.engines",
        ),
    ),
    ("checks", ("harness.checks",)),
    ("subjects", ("harness.subjects",)),
    ("falsifiers", ("harness.falsifiers",)),
    ("edges", ("harness.plugin", "harness.tripwires", "harness.report", "harness.scaffold")),
    ("demo", ("harness.demo",)),
    ("cli", ("harness.cli", "harness.__main__")),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            # the bare package name places only harness/__init__.py: a new module must be placed on purpose
            if (module == prefix or (prefix != "harness" and module.startswith(prefix + "."))) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return rank


def _imports(module: str, path: Path) -> set[str]:
    """Every harness module ``module`` imports, at the top or inside a function (a lazy import is
    still a dependency). ``from pkg import sub`` counts the submodule, not the package."""
    tree = ast.parse(path.read_text("utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            subs = [f"{origin}.{a.name}" for a in node.names if f"{origin}.{a.name}" in MODULES]
            if subs:
                found.update(subs)
            if len(subs) < len(node.names) and origin in MODULES:
                found.add(origin)
    found.discard(module)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    for name in MODULES:
        _layer(name)


def test_no_import_climbs_a_layer():
    upward = [
        f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
        for name, targets in GRAPH.items()
        for target in targets
        if _layer(target) > _layer(name)
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(sorted(upward))


def test_no_circle_between_modules():
    """Tarjan's strongly connected components over the import graph: each must be one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    assert not circles, f"import circles: {circles}"


def test_the_layering_test_sees_a_planted_upward_import_and_circle():
    """The checks above are not vacuous: an upward import and a circle planted in the graph are found."""
    saved = {k: set(v) for k, v in GRAPH.items()}
    try:
        GRAPH["harness.contract.loader"].add("harness.plugin.session")
        with pytest.raises(AssertionError, match=r"harness\.contract\.loader"):
            test_no_import_climbs_a_layer()
        GRAPH["harness.plugin.session"].add("harness.contract.loader")
        with pytest.raises(AssertionError, match="circles"):
            test_no_circle_between_modules()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_the_plugin_does_not_import_the_demo():
    reached, queue = set(), ["harness.plugin"]
    while queue:
        module = queue.pop()
        if module in reached:
            continue
        reached.add(module)
        queue.extend(GRAPH.get(module, ()))
    assert not [m for m in reached if m.startswith("harness.demo")], sorted(m for m in reached if m.startswith("harness.demo"))


def test_loading_the_plugin_imports_no_demo_module():
    code = "import sys, harness.plugin; print([m for m in sys.modules if m.startswith('harness.demo')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_no_function_over_80_lines():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long, long


# Modules allowed to open a contract, evidence or ini file: the snapshot builder and the writers.
READERS = {
    "harness.snapshot.layout": "the ini files (pytest.ini, pyproject.toml, tox.ini, setup.cfg)",
    "harness.snapshot.discovery": "contract files, once, during the directory scan",
    "harness.snapshot.contracts": "a contract file named explicitly",
    "harness.snapshot.evidence": "results.json, results.sig, LATEST",
    "harness.snapshot": "the lint baseline",
    "harness.writer": "a contract, re-read under the contracts lock to apply edits",
}
_FILE_WORDS = ("contract", "evidence", "results", "LATEST", "ini", "pyproject", "cfg", "baseline")


def test_only_the_snapshot_builder_reads_contract_evidence_and_ini_files():
    """Modules outside READERS that read files do so for other files (sources, artifacts, caches):
    each such read is listed here by module, so a new reader of the project's files is a change
    someone has to make on purpose."""
    other_readers = {
        "harness.atomic": "the folder it fsyncs after a rename",
        "harness.sources": "Python sources (tests, conftest files, what they import)",
        "harness.identity": "artifact content hashes and their cache",
        "harness.contract.cache": "the contract cache bundle and the checks' source for its salt",
        "harness.contract.schema": "the packaged JSON Schema",
        "harness.checks.shards": "token shards and their sidecars",
        "harness.checks.vocab": "vocab files",
        "harness.checks.formats": "the first bytes of a shard, and MDS / LitData index.json files, to recognise a format",
        "harness.checks.columnar": "Arrow and parquet token shards, and a datasets folder's state.json",
        "harness.checks.documents": "token shards, through the readers in harness.checks.shards",
        "harness.checks.sampling": "token shards, through the readers in harness.checks.shards",
        "harness.checks.storage": "token shards, local (memory-mapped) or at fsspec URLs (ranged reads)",
        "harness.checks.scan": "token shards, re-opened by a task on whichever worker runs it",
        "harness.checks.entropy": "the file behind a memory-mapped shard it was given (already opened and checked), read with preadv into pinned buffers for the GPU",
        "harness.falsifiers.documents": "token shards",
        "harness.checks.contamination": "benchmark files (JSONL, JSON, parquet, a datasets folder), checked against the artifact roots by its falsifier",
        "harness.subjects.encoders": "a tokenizer file",
        "harness.cli.init": "nothing: it creates the new contract exclusively (open mode 'x')",
        "harness.subjects.batching": "token shards",
        "harness.subjects.runs": "training runs' metric files",
        "harness.subjects.declarative": "documents a subject names",
        "harness.falsifiers.batches": "token shards",
        "harness.falsifiers.eval_batch": "a held-out shard",
        "harness.falsifiers.vocab": "documents",
        "harness.demo.pipeline": "the demo's built corpus",
        "harness.demo.qwen_vocab": "the packaged vocab",
        "harness.demo.runner": "the demo workspace's contract and summary",
        "harness.demo.loaders": "the demo's shards",
        "harness.demo.training": "the demo's shards",
        "harness.demo.corpus": "the standard library's sources",
        "harness.cli.gate": "the JSON report of the gate's own pytest run (a temp file)",
        "harness.pv_baseline": "pv's lint baseline, .pv/lint-previous.json (read for harness.snapshot and for --update-baseline's merge)",
    }
    readers = set()
    for name, path in MODULES.items():
        text = path.read_text("utf-8")
        if any(call in text for call in ("open(", ".read_text(", ".read_bytes(", "os.open(")):
            readers.add(name)
    unexplained = sorted(readers - set(READERS) - set(other_readers))
    assert not unexplained, f"modules that read files, neither in READERS nor listed with what they read: {unexplained}"
    assert not sorted(set(other_readers) - readers), "listed as readers but read nothing: keep the list true"


def _count_opens_script(tmp_path: Path) -> Path:
    """A sitecustomize that counts, per process, every open of a file under contracts/ or
    evidence/, via the interpreter's audit hook (builtins.open, io.open and os.open raise it)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import atexit, collections, json, os, sys
            _root = os.environ["COUNT_OPENS_ROOT"]
            _counts = collections.Counter()
            def _hook(event, args):
                if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
                    path = os.path.abspath(os.fsdecode(args[0]))
                    rel = os.path.relpath(path, _root)
                    if rel.split(os.sep)[0] in ("contracts", "evidence") and not os.path.isdir(path):
                        _counts[rel] += 1
            sys.addaudithook(_hook)
            def _dump():
                with open(os.path.join(os.environ["COUNT_OPENS_OUT"], f"{os.getpid()}.json"), "w") as f:
                    json.dump(dict(_counts), f)
            atexit.register(_dump)
            """
        )
    )
    return site


def test_the_gate_reads_each_contract_and_evidence_file_once(tmp_path):
    """``harness gate`` on a 50-contract project with evidence: in the gate's process and in the
    pytest process it starts, every contract and evidence file is opened at most once."""
    import json

    from tests.plugin_project import make_counting_project

    repo = make_counting_project(tmp_path / "repo", contracts=50)
    out = tmp_path / "counts"
    out.mkdir()
    site = _count_opens_script(tmp_path)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        COUNT_OPENS_ROOT=str(repo),
        COUNT_OPENS_OUT=str(out),
        HARNESS_NO_CACHE="1",
    )
    proc = subprocess.run([sys.executable, "-m", "harness", "gate"], cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert len(counts) >= 2, "the gate and its pytest run each report their opens"
    gate, *_runs = sorted(counts, key=len, reverse=True)
    contracts_read = [p for p in gate if p.startswith("contracts")]
    evidence_read = [p for p in gate if p.startswith("evidence")]
    assert len(contracts_read) == 50 and len(evidence_read) >= 50, (len(contracts_read), len(evidence_read))
    for process in counts:
        twice = {path: n for path, n in process.items() if n > 1}
        assert not twice, f"opened more than once in one process: {twice}"

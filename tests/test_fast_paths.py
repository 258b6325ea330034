"""The plugin's fast paths give the same answers as the plain code they replace, and the contract
cache can make a run slower, never different.

Each fast path here was written for the plugin-overhead goal (benchmarks/bench_plugin_overhead.py);
each test compares it with the straightforward formula or walks the case where a cache would lie.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from harness import __version__
from harness import fingerprint as fp
from harness.contract import cache
from harness.contract.model import Falsifier, new_falsifier
from harness.fingerprint import declaration_digest, fingerprint, stamps
from harness.paths import display_path
from harness.snapshot import Layout, load_contracts
from harness.snapshot.discovery import NOT_CONTRACT_DIRS, NOT_CONTRACTS, contract_blocks, declares_nothing, discover
from tests.conftest import DATA
from tests.plugin_project import entry

# ----------------------------------------------------------------------------- digests


def reference_fingerprint(f: Falsifier, test: fp.TestInfo, context: str = "") -> str:
    payload = {
        "source": test.source,
        "code": test.code_digest,
        "context": context,
        "params": f.params,
        "requires": sorted(f.requires),
        "subject": f.subject,
        "plausible": {k: list(v) for k, v in sorted(f.plausible.items())},
        "harness": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str, ensure_ascii=True).encode()).hexdigest()[:16]


def reference_declaration(f: Falsifier) -> str:
    payload = {
        "test": f.test,
        "params": f.params,
        "requires": sorted(f.requires),
        "subject": f.subject,
        "plausible": {k: list(v) for k, v in sorted(f.plausible.items())},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


FALSIFIERS = [
    dict(params={}, requires=(), plausible={}, subject=None, test="falsifiers/test_a.py::test_a"),
    dict(params={"b": 2, "a": [1, 2.5, None], "nested": {"z": 1, "y": {"é": "naïve"}}}, requires=("cuda", "bf16"), plausible={"loss": (0.1, 9.0), "acc": (0.0, 1.0)}, subject="qwen", test="builtin:entropy"),
    dict(params={"path": Path("data/x.bin"), "flag": True, "big": 10**30}, requires=("cuda",), plausible={}, subject="émoji 🙂", test="falsifiers/t.py::test_ü"),
]  # fmt: skip
SOURCES = ["def test_a(falsifier):\n    assert 1\n", "def test_ü(falsifier):\n    assert '🙂' != 'é'  # unicode\n", ""]


@pytest.mark.parametrize("values", FALSIFIERS)
@pytest.mark.parametrize("source", SOURCES)
def test_assembled_digests_equal_the_json_formulas_the_ledger_was_written_with(values, source):
    f = new_falsifier(id="F-1", index=0, line=0, bound=True, test_file="t.py", test_func="t", status=None, fingerprint=None,
                      evidence=None, digest=None, ship_blocking=False, builtin=None, **values)  # fmt: skip
    test = fp.TestInfo(file="t.py", func="t", exists=True, file_exists=True, source=source, code_digest="abc123")
    assert fingerprint(f, test) == reference_fingerprint(f, test)
    assert fingerprint(f, test, context="c0ffee") == reference_fingerprint(f, test, "c0ffee") != reference_fingerprint(f, test)
    assert declaration_digest(f) == reference_declaration(f)
    assert stamps(f, test) == (reference_fingerprint(f, test), reference_declaration(f))
    missing = fp.TestInfo(file="t.py", func="t", exists=False, file_exists=False)
    assert stamps(f, missing) == ("", reference_declaration(f))


@pytest.mark.parametrize("files", [{}, {"bench/HumanEval.jsonl.gz": ["ab" * 32, 10]}, {"é/🙂.json": "missing"}])
@pytest.mark.parametrize("subject", [None, {"spec": {"shards": ["a/*.npy"], "n": 2.5}, "files": {"a/ü.npy": ["cd", 3]}}, "fixture"])
def test_the_assembled_context_digest_equals_the_json_formula(monkeypatch, tmp_path, files, subject):
    """``context_digest`` serialises the code closure once per test and assembles the payload from its
    members; the digest must be the one ``json.dumps`` of the whole mapping gives, or every recorded
    fingerprint would go stale."""
    import harness.identity as identity

    code = {"harness/checks/ü.py": "00ff", "pkg/model.py": {"digest": "12", "size": 7}, "a": None}
    monkeypatch.setattr(fp, "closure_digests", lambda *a, **k: code)
    monkeypatch.setattr(identity, "subject_identity", lambda *a, **k: subject)
    monkeypatch.setattr(identity, "param_files_identity", lambda *a, **k: files)
    f = new_falsifier(id="F-1", index=0, line=0, bound=True, test_file="t.py", test_func="t", status=None, fingerprint=None, evidence=None,
                      digest=None, ship_blocking=False, builtin=None, params={}, requires=(), plausible={}, subject="s", test="t.py::t")  # fmt: skip
    test = fp.TestInfo(file="t.py", func="t", exists=True, file_exists=True, source="", code_digest="abc", path=str(tmp_path / "t.py"))
    named = {"code": code, "subject": subject, **({"param_files": files} if files else {})}
    expected = hashlib.sha256(json.dumps(named, sort_keys=True, default=str).encode()).hexdigest()[:16]
    memo: dict = {}
    assert fp.context_digest(tmp_path, None, f, test, memo) == expected == fp.context_digest(tmp_path, None, f, test, memo)


def test_new_falsifier_is_the_dataclass_and_refuses_what_the_dataclass_refuses():
    values = dict(id="F-1", test="t", index=2, line=0, bound=False, test_file=None, test_func=None, subject=None, params={"a": 1},
                  requires=(), plausible={}, status="OPEN", fingerprint=None, evidence=None, digest=None, ship_blocking=True, builtin=None)  # fmt: skip
    fast, plain = new_falsifier(**values), Falsifier(**values)
    assert fast == plain
    assert repr(fast) == repr(plain)
    with pytest.raises(AttributeError):
        fast.id = "changed"  # still frozen
    with pytest.raises(TypeError, match="unknown"):
        new_falsifier(**values, colour="red")
    with pytest.raises(TypeError, match="missing"):
        new_falsifier(**{k: v for k, v in values.items() if k != "bound"})


@pytest.mark.parametrize(
    "path, root",
    [
        ("/r/contracts/a.yaml", "/r"),
        ("/r/contracts/a.yaml", "/r/"),
        ("/r/contracts/../other/a.yaml", "/r"),
        ("/r/./contracts/a.yaml", "/r"),
        ("/elsewhere/a.yaml", "/r"),
        ("/rx/a.yaml", "/r"),
        ("contracts/a.yaml", "/r"),
        ("/a.yaml", "/"),
    ],
)
def test_display_path_fast_path_matches_relpath(path, root):
    expected = Path(os.path.relpath(path, root)).as_posix() if Path(path).is_absolute() else Path(path).as_posix()
    assert display_path(Path(path), Path(root)) == expected


# ----------------------------------------------------------------------------- discovery


def reference_discover(folder: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    """The scan as it was: rglob, then pv's skip rules, then a second read for the content check."""
    found = []
    for candidate in sorted(folder.rglob("*")):
        if candidate.suffix not in (".yaml", ".yml") or not candidate.is_file():
            continue
        relative = candidate.relative_to(folder)
        parts = relative.parts
        if relative.name in NOT_CONTRACTS or any(p.startswith(".") for p in parts) or any(p in NOT_CONTRACT_DIRS for p in parts[:-1]):
            continue
        if any(fnmatch.fnmatch(relative.as_posix(), g) or fnmatch.fnmatch(relative.name, g) for g in skip):
            continue
        if reference_declares_nothing(candidate.read_bytes()):
            continue
        found.append(candidate)
    return found


def reference_declares_nothing(data: bytes) -> bool:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    body = re.sub(r"^(?:\s*#[^\n]*\n|\s*\n|---[^\n]*\n|%[^\n]*\n)*", "", text)
    if body.lstrip().startswith(("{", "[")) or not body.strip():
        return False
    keys = set(re.findall(r"""^["']?([A-Za-z_][\w-]*)["']?[ \t]*:""", text, re.M))
    return not keys & contract_blocks()


def test_one_read_scan_finds_what_the_rglob_scan_found(tmp_path):
    contracts = tmp_path / "contracts"
    outside = tmp_path / "outside"
    for folder in (contracts / "a" / "b", contracts / "a-b", contracts / ".hidden", contracts / "kaizen", contracts / "x" / "legacy", outside):
        folder.mkdir(parents=True)
    contract = "metadata:\n  id: c\n"
    files = {
        "top.yaml": contract,
        "top.yml": contract.replace("id: c", "id: d"),
        "a/b/deep.yaml": contract,
        "a-b/z.yaml": contract,  # sorts after a/… part by part, before it as a string
        "a/registry.yaml": "models:\n  - qwen\n",  # declares nothing
        "a/flow.yaml": "{metadata: {id: f}}\n",  # undecidable: read
        "a/empty.yaml": "",
        "a/quoted.yaml": '"metadata": {}\n',
        "a/notes.txt": contract,
        ".hidden/h.yaml": contract,
        "kaizen/k.yaml": contract,
        "x/legacy/l.yaml": contract,
        "binding.yaml": contract,
        "skipme.yaml": contract,
    }
    for name, text in files.items():
        (contracts / name).write_text(text)
    (contracts / "latin1.yaml").write_bytes(b"metadata:\n  id: \xe9\n")  # undecodable: read (the loader reports it)
    (outside / "o.yaml").write_text(contract)
    (contracts / "linked-dir").symlink_to(outside, target_is_directory=True)  # not followed, as rglob did not
    (contracts / "linked.yaml").symlink_to(outside / "o.yaml")  # a linked file is read
    (contracts / "dangling.yaml").symlink_to(tmp_path / "gone.yaml")  # no file: not listed
    (contracts / "dir.yaml").mkdir()  # a folder with a YAML name is not a file
    sources: dict = {}
    found, missing = discover([contracts], ("skipme.yaml",), sources)
    assert found == reference_discover(contracts, ("skipme.yaml",))
    assert missing == []
    assert {p.name for p in found} >= {"top.yaml", "top.yml", "deep.yaml", "flow.yaml", "quoted.yaml", "latin1.yaml", "linked.yaml"}
    for path in found:  # the bytes kept are the file's, with the signature of what was read
        signature, data = sources[path]
        assert data == path.read_bytes()
        assert signature == (path.stat().st_mtime_ns, path.stat().st_size)


def test_content_check_agrees_with_the_full_key_scan_on_the_pv_corpus():
    samples = [p.read_bytes() for p in sorted((DATA / "pv-corpus").rglob("*.y*ml"))]
    samples += [s.encode() for s in ("metadata_extra: 1\n", "'metadata' : 1\n", "x: 1\nmetadata:\n", "# c\n---\nitems: []\n", "  metadata: 1\n")]
    assert len(samples) > 30
    for data in samples:
        assert declares_nothing(data) == reference_declares_nothing(data), data[:80]


# ----------------------------------------------------------------------------- the contract cache


@pytest.fixture
def cached_project(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HARNESS_NO_CACHE", raising=False)
    cache._directory.cache_clear()
    root = tmp_path / "repo"
    (root / "contracts").mkdir(parents=True)
    (root / "falsifiers").mkdir()
    (root / "data").mkdir()
    (root / "data" / "shard.bin").write_bytes(b"\0" * 8)
    (root / "falsifiers" / "test_f.py").write_text("def test_f(falsifier):\n    pass\n")
    path = root / "contracts" / "c-v1.yaml"
    body = entry("F-1", "test_f", params={"value": 3, "shards": "data/shard.bin"}).replace("test_demo.py", "test_f.py")
    path.write_text(f"metadata:\n  id: c\n  version: 1.0.0\nfalsification_tests:\n{body}\n")
    yield root, path
    cache._directory.cache_clear()


def load(root: Path, falsifiers: str = "falsifiers"):
    return load_contracts(Layout(root, contracts="contracts", evidence="evidence", falsifiers=falsifiers, skip=(), pv_rules="auto"))


def parses(monkeypatch) -> list[int]:
    """Count the YAML parses the loader makes."""
    import harness.contract.loader as loader

    calls = []
    real = loader.load_plain_fast
    monkeypatch.setattr(loader, "load_plain_fast", lambda text: calls.append(1) or real(text))
    return calls


def test_a_steady_load_reads_one_cache_file_and_parses_nothing(cached_project, monkeypatch):
    root, _ = cached_project
    assert load(root).contracts[0].falsifiers[0].params["value"] == 3
    bundles = list((root.parent / "cache" / "contracts").iterdir())
    assert len(bundles) == 1  # one file for the folder, not one per contract
    calls = parses(monkeypatch)
    loaded = load(root)
    assert calls == [] and loaded.contracts[0].falsifiers[0].params["value"] == 3


def test_an_edited_contract_is_never_served_from_the_cache(cached_project, monkeypatch):
    root, path = cached_project
    load(root)
    path.write_text(path.read_text().replace("value: 3", "value: 4"))
    calls = parses(monkeypatch)
    assert load(root).contracts[0].falsifiers[0].params["value"] == 4
    assert calls == [1]


def test_a_different_layout_is_checked_again(cached_project):
    root, _ = cached_project
    assert not load(root).findings
    (root / "checks").mkdir()  # the same text under another falsifiers folder: no longer bound there
    findings = load(root, falsifiers="checks").findings
    assert any(f.rule == "binding-outside-falsifiers" for f in findings)


def test_file_system_checks_run_on_a_cache_hit(cached_project, tmp_path):
    root, _ = cached_project
    assert not load(root).findings
    (root / "data" / "shard.bin").unlink()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"x")
    (root / "data" / "shard.bin").symlink_to(secret)  # same text, but the path now leads outside
    loaded = load(root)
    assert loaded.contracts == []
    assert any(f.rule == "path-escape" and "symlink" in f.message for f in loaded.findings)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"format": 1, "salt": "forged", "entries": {}}),
        json.dumps({"format": 99, "entries": {}}),
        json.dumps(["a", "list"]),
    ],
)
def test_a_foreign_or_broken_cache_file_is_ignored(cached_project, content, monkeypatch):
    root, _ = cached_project
    load(root)
    (bundle,) = (root.parent / "cache" / "contracts").iterdir()
    if content.startswith("{") and '"forged"' in content:  # a forged salt with entries for every key
        data = json.loads(bundle.read_text())
        content = json.dumps({"format": 1, "salt": "forged", "entries": {k: {"metadata": {"id": "forged"}} for k in data["entries"]}})
    bundle.write_text(content)
    calls = parses(monkeypatch)
    loaded = load(root)
    assert [c.id for c in loaded.contracts] == ["c"]
    assert calls == [1]


def test_no_cache_turns_it_off(cached_project, monkeypatch):
    root, _ = cached_project
    monkeypatch.setenv("HARNESS_NO_CACHE", "1")
    load(root)
    calls = parses(monkeypatch)
    load(root)
    assert calls == [1]
    assert not (root.parent / "cache" / "contracts").exists() or not any((root.parent / "cache" / "contracts").iterdir())


# ----------------------------------------------------------------------------- the falsifier handle


def test_each_item_of_a_parametrized_falsifier_gets_its_own_handle(proj):
    (proj.path / "falsifiers" / "test_seeds.py").write_text(
        "import pytest\n"
        "SEEN = []\n\n"
        "@pytest.mark.parametrize('seed', [1, 2, 3])\n"
        "def test_seed(falsifier, seed):\n"
        "    assert falsifier.measurements == {}\n"
        "    assert all(other is not falsifier for other in SEEN)\n"
        "    SEEN.append(falsifier)\n"
        "    falsifier.record('seed', seed)\n"
    )
    proj.write_contract(entry("F-SEED-001", "test_seed").replace("test_demo.py", "test_seeds.py"))
    result = proj.runpytest("--junitxml=out.xml")
    result.assert_outcomes(passed=3)
    xml = (proj.path / "out.xml").read_text()
    for seed in (1, 2, 3):  # each measurement landed on its own item
        assert re.search(rf'test_seed\[demo-v1::F-SEED-001-{seed}\].*?name="measurement:seed" value="{seed}\.0"', xml, re.S)


def reference_contract_key(path: str, folder: str | None) -> str:
    stem = os.path.basename(path).rsplit(".", 1)[0]
    if folder is None:
        return stem
    parts = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(folder))).parts
    return stem if parts and parts[0] == ".." else "/".join([*parts[:-1], stem])


@pytest.mark.parametrize(
    "path, folder",
    [
        ("/r/contracts/c.yaml", "/r/contracts"),
        ("/r/contracts/a/b/c.v1.yaml", "/r/contracts/"),
        ("/r/contracts/../c.yaml", "/r/contracts"),
        ("/r/contracts-old/c.yaml", "/r/contracts"),
        ("/elsewhere/c.yaml", "/r/contracts"),
        ("/c.yaml", "/"),
        ("/r/c.yaml", None),
    ],
)
def test_contract_key_fast_path_matches_relpath(path, folder):
    from harness.contract.keys import contract_key

    assert contract_key(Path(path), None if folder is None else Path(folder)) == reference_contract_key(path, folder)


def test_contract_key_of_a_relative_folder_follows_the_working_directory(tmp_path, monkeypatch):
    from harness.contract.keys import contract_key

    (tmp_path / "one" / "contracts" / "a").mkdir(parents=True)
    path = tmp_path / "one" / "contracts" / "a" / "c.yaml"
    monkeypatch.chdir(tmp_path / "one")
    assert contract_key(path, Path("contracts")) == "a/c"
    monkeypatch.chdir(tmp_path)  # the same arguments: "contracts" is now another folder
    assert contract_key(path, Path("contracts")) == "c"


def test_a_rerun_item_starts_with_a_clean_handle(proj):
    """What rerun plugins do (pytest-rerunfailures): run the same item's protocol again."""
    (proj.path / "conftest.py").write_text(
        "from _pytest.runner import runtestprotocol\n\n"
        "def pytest_runtest_protocol(item, nextitem):\n"
        "    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)\n"
        "    runtestprotocol(item, nextitem=nextitem, log=False)\n"
        "    runtestprotocol(item, nextitem=nextitem, log=True)\n"
        "    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)\n"
        "    return True\n"
    )
    (proj.path / "falsifiers" / "test_again.py").write_text(
        "ATTEMPTS = []\n\n"
        "def test_again(falsifier):\n"
        "    ATTEMPTS.append(dict(falsifier.measurements))\n"
        "    falsifier.record('attempt', len(ATTEMPTS))\n"
        "    assert ATTEMPTS[-1] == {}, f'attempt {len(ATTEMPTS)} saw {ATTEMPTS[-1]}'\n"
    )
    proj.write_contract(entry("F-AGAIN-001", "test_again").replace("test_demo.py", "test_again.py"))
    result = proj.runpytest()
    result.assert_outcomes(passed=1)
    (run,) = (p for p in (proj.path / "evidence" / "demo-v1").iterdir() if p.is_dir())
    row = json.loads((run / "results.json").read_text())["falsifiers"]["F-AGAIN-001"]
    assert row["measurements"] == {"attempt": 2.0}


def test_writing_a_bundle_removes_the_first_formats_files_only(cached_project):
    root, _ = cached_project
    folder = root.parent / "cache" / "contracts"
    folder.mkdir(parents=True)
    legacy = folder / f"{'ab' * 32}.json"
    legacy.write_text('{"key": "x", "plain": {}}')
    other = folder / "notes.json"
    other.write_text("{}")
    load(root)
    assert not legacy.exists() and other.exists()
    assert len([p for p in folder.iterdir() if p != other]) == 1


def test_a_write_landing_during_the_read_changes_the_recorded_signature(tmp_path, monkeypatch):
    """The stat is taken before the bytes are read: a write that lands in between leaves a
    signature the file no longer has, so the session reloads before it writes a verdict."""
    import harness.snapshot.discovery as discovery

    path = tmp_path / "c.yaml"
    path.write_text("metadata:\n  id: c\nfalsification_tests: []\n")
    real_open = open

    def open_after_a_concurrent_edit(file, *args, **kwargs):
        Path(file).write_text("metadata:\n  id: c\n  version: 2.0.0\nfalsification_tests: []\n")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(discovery, "open", open_after_a_concurrent_edit, raising=False)
    signature, data = discovery.read_source(path)
    now = path.stat()
    assert b"2.0.0" in data  # what was read is the new text…
    assert signature != (now.st_mtime_ns, now.st_size)  # …and the signature says the file moved on


@pytest.mark.parametrize("forged", ["passed ", "PASSED", "discharged", ["passed"], 1])
def test_a_forged_outcome_in_a_worker_record_is_never_a_pass(forged):
    from harness.plugin.outcomes import aggregate_items
    from harness.status import Outcome

    outcome, _ = aggregate_items(1, [{"outcome": forged}])
    assert outcome is Outcome.NOT_RUN
    outcome, _ = aggregate_items(2, [{"outcome": "passed"}, {"outcome": forged}])
    assert outcome is Outcome.NOT_RUN


# ----------------------------------------------------------------------------- shards to the GPU


def test_a_mapped_shard_is_read_from_its_file_at_the_bytes_the_mapping_shows(tmp_path):
    """The CUDA path reads a memory-mapped shard with ``preadv`` instead of copying it out of the
    mapping; the file range it reads must be the mapping's own bytes, for the whole shard, for a
    slice of it and past a header, and anything it cannot place exactly is copied instead."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from harness.checks.entropy import _file_range, _parallel_pread
    from harness.checks.shards import describe_shard, write_shard

    ids = np.random.default_rng(0).integers(0, 151_646, size=3_000_017, dtype=np.uint32)
    shard = describe_shard(write_shard(tmp_path / "s.bin", ids, 151_646))[0]
    np.save(tmp_path / "s.npy", ids)
    npy = np.load(tmp_path / "s.npy", mmap_mode="r")
    assert npy.offset > 0  # a header precedes the ids
    with ThreadPoolExecutor(3) as pool:
        for mapped, (lo, hi) in [(m, span) for m in (shard.open(), npy) for span in [(0, ids.size), (1_234_567, ids.size), (5, 1_000_005)]]:
            fd, offset = _file_range(mapped[lo:hi])
            try:
                out = np.empty(hi - lo, dtype=np.int32)
                _parallel_pread(out, fd, offset, pool)
            finally:
                os.close(fd)
            assert np.array_equal(out.view(np.uint32), ids[lo:hi])
    assert _file_range(np.asarray(ids)) is None  # in memory
    assert _file_range(npy[::2]) is None  # strided
    big_endian = np.memmap(tmp_path / "s.bin", dtype=">u4", mode="r", offset=shard.offset, shape=(ids.size,))
    assert _file_range(big_endian) is None  # bytes that are not the ids the device would count
    writable = np.memmap(tmp_path / "s.bin", dtype="<u4", mode="c", offset=shard.offset, shape=(ids.size,))
    assert _file_range(writable) is None  # copy-on-write: memory may differ from the file

"""What a subject is, for a fingerprint: a verdict stands for the subject it ran on.

A declared subject is its declaration (the spec under ``subjects:``) and the identity of every file
it names — size and SHA-256 of the content — so a contract-only edit that points a verdict at other
shards, or a shard rewritten in place, stales the verdict. Content, not mtime, decides (a fresh
clone has new mtimes and the same verdicts); the stat signature only keys a cache of the hashes,
kept in ``$HARNESS_CACHE_DIR/artifact-hashes.json`` so a large corpus is read once, not on every
lint. A fixture subject is the code that builds it (``fingerprint.context_digest``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

_CACHE_FILE = "artifact-hashes.json"
_hashes: dict[str, str] | None = None
_dirty = False


def _cache_path() -> Path | None:
    if os.environ.get("HARNESS_NO_CACHE"):
        return None
    try:
        from harness.cachedir import cache_dir

        return cache_dir() / _CACHE_FILE
    except OSError:
        return None


def _load() -> dict[str, str]:
    global _hashes
    if _hashes is None:
        _hashes = {}
        path = _cache_path()
        if path is not None:
            try:
                data = json.loads(path.read_text("utf-8"))
                if isinstance(data, dict) and data.get("version") == 1 and isinstance(data.get("hashes"), dict):
                    _hashes = {str(k): str(v) for k, v in data["hashes"].items()}
            except (OSError, ValueError):
                pass
        atexit.register(_flush)
    return _hashes


def _flush() -> None:
    global _dirty
    path = _cache_path()
    if not _dirty or path is None or _hashes is None:
        return
    from harness.atomic import WriteError, write_atomic

    with contextlib.suppress(OSError, WriteError):
        write_atomic(path, json.dumps({"version": 1, "hashes": _hashes}) + "\n")
    _dirty = False


def file_sha256(path: Path) -> tuple[int, str] | None:
    """(size, sha256) of a file's content; the hash is cached under its stat signature."""
    global _dirty
    try:
        st = os.stat(path)
        real = os.path.realpath(path)
    except OSError:
        return None
    key = f"{real}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_ctime_ns}"
    cache = _load()
    digest = cache.get(key)
    if digest is None:
        try:
            with open(real, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            return None
        cache[key] = digest
        _dirty = True
    return st.st_size, digest


VOCAB_SIBLINGS = ("merges.txt", "tokenizer.json", "vocab.json", "tokenizer_config.json", "special_tokens_map.json")


def _named(root: Path, path: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def artifact_identity(root: Path, spec: Any) -> dict[str, Any]:
    """Every file a declared subject names, by its path in the project: [size, sha256]; a glob
    that cannot be expanded is recorded with its error (the falsifier then errors too)."""
    from harness.contract.subjects import SubjectError, as_list, expand, reader_inputs

    root = Path(root).absolute()
    files: dict[str, Any] = {}
    if not isinstance(spec, dict):
        return files
    paths: list[Path] = []
    vocab = spec.get("vocab")
    if isinstance(vocab, str):
        path = root / vocab
        paths.append(path)
        paths += [path.parent / name for name in VOCAB_SIBLINGS if (path.parent / name).is_file()]
    globs = [(p, True) for p in as_list(spec.get("shards"))] + [(p, False) for p in as_list(spec.get("documents"))]
    splits = spec.get("splits")
    if isinstance(splits, dict):
        globs += [(p, True) for v in splits.values() if isinstance(v, (str, list)) for p in as_list(v)]
    for pattern, data in globs:
        try:
            if data and "://" not in pattern and (root / f"{pattern}.bin").is_file():  # a Megatron data prefix
                matched = [root / pattern]
            else:
                matched = expand(root, [pattern], folders=data)
        except SubjectError as exc:
            files[f"glob:{pattern}"] = f"error: {exc}"
            continue
        if not data:
            paths += matched
            continue
        for path in matched:  # the files a reader opens: a folder's, a .bin's .idx and sidecar, an index.json
            try:
                paths += reader_inputs(path) if isinstance(path, Path) else [path]
            except SubjectError as exc:
                files[f"glob:{pattern}"] = f"error: {exc}"
    run = spec.get("run")
    if isinstance(run, str):
        location = root / run
        if location.is_dir():
            try:
                paths += expand(location, ["**/*"]) if location.resolve().is_relative_to(root.resolve()) else []
            except SubjectError as exc:
                files[f"run:{run}"] = f"error: {exc}"
        else:
            paths.append(location)
    for path in sorted(set(paths), key=str):
        if not isinstance(path, Path):  # a remote object: its size and its store's version, not its content (terabytes)
            from harness.urls import UrlError, stamp

            try:
                files[str(path)] = ["remote", *stamp(path)]
            except (UrlError, OSError):
                files[str(path)] = "missing"
            continue
        found = file_sha256(path)
        files[_named(root, path)] = list(found) if found else "missing"
    encoder = spec.get("encoder")
    if isinstance(encoder, str) and ":" in encoder:
        from harness.sources import closure_digests, search_path

        module = encoder.partition(":")[0]
        files[f"encoder:{encoder}"] = closure_digests({(module, 0, str(root / "x.py"))}, [], search_path(root, root), root)
    return files


PARAM_FILES = ("benchmarks",)  # params that name artifact files whose content decides the verdict


def param_files_identity(root: Path, params: Any) -> dict[str, Any]:
    """The files a falsifier's params name (``benchmarks``: ``path[:fields]`` strings or mappings
    with a path), by content: an edited benchmark file makes a contamination verdict stale."""
    files: dict[str, Any] = {}
    if not isinstance(params, dict) or not any(key in params for key in PARAM_FILES):
        return files
    root = Path(root).absolute()
    for key in PARAM_FILES:
        specs = params.get(key)
        specs = [specs] if isinstance(specs, (str, dict)) else specs if isinstance(specs, list) else []
        for spec in specs:
            path = spec.get("path") if isinstance(spec, dict) else spec
            if isinstance(path, str) and not isinstance(spec, dict) and ":" in path:
                path = path.rpartition(":")[0]  # "path:field+field", as harness.checks.contamination.parse_benchmark reads it
            if not isinstance(path, str) or not path:
                continue
            location = root / path
            found = [p for p in sorted(location.rglob("*")) if p.is_file()] if location.is_dir() else [location]
            for item in found:
                digest = file_sha256(item)
                files[_named(root, item)] = list(digest) if digest else "missing"
    return files


def subject_identity(root: Path, contract: Any, name: Any) -> Any:
    """The identity of the subject a falsifier names: a declared one's spec and files. A fixture
    subject is the code that builds it: the conftest files pytest loads and the plugin modules they
    name in ``pytest_plugins``, hashed with the test's code (``fingerprint.context_digest``)."""
    if not name:
        return None
    if not isinstance(name, str):
        return {"subject": name}
    subjects = getattr(contract, "subjects", None) or {}
    spec = subjects.get(name) if isinstance(subjects, dict) else None
    if spec is not None:
        return {"declared": name, "spec": spec, "files": artifact_identity(root, spec)}
    return {"fixture": name}

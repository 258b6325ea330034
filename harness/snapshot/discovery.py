"""Find contract files: explicit paths, or every YAML under a directory.

A directory scan follows pv's own rules for what under ``contracts/`` is a contract: not the
binding registry (``binding.yaml``), not ``external-corpora.yaml`` or ``ontology.yaml``, no dotfile,
and nothing under ``kaizen/``, ``legacy/``, ``pipelines/`` or ``publish-manifests/``. Nor is a YAML
document with no contract block at its top level (no ``metadata``, no falsifier block, none of pv's
blocks): the model-family registries, corpus lists and manifests real repositories keep beside
their contracts. Such a file declares nothing, so passing over it can hide no claim. Projects add
their own skips with the ``harness_skip`` ini key (glob patterns, matched against the path under
the contracts folder and against the file name). A file named explicitly is always read.
"""

from __future__ import annotations

import fnmatch
import os
import re
from functools import lru_cache
from pathlib import Path

NOT_CONTRACTS = frozenset({"binding.yaml", "binding.yml", "external-corpora.yaml", "ontology.yaml"})
NOT_CONTRACT_DIRS = frozenset({"kaizen", "legacy", "pipelines", "publish-manifests"})


def skipped(parts: tuple[str, ...] | list[str], extra: tuple[str, ...] = ()) -> bool:
    """Whether a file a directory scan found (its path parts under the contracts folder) is, by
    pv's rules or the project's, not a contract."""
    name = parts[-1]
    if name in NOT_CONTRACTS or any(part.startswith(".") for part in parts):
        return True
    if any(part in NOT_CONTRACT_DIRS for part in parts[:-1]):
        return True
    text = "/".join(parts)
    return any(fnmatch.fnmatch(text, pattern) or fnmatch.fnmatch(name, pattern) for pattern in extra)


TOP_LEVEL_KEY = re.compile(r"""^["']?([A-Za-z_][\w-]*)["']?[ \t]*:""", re.M)


def contract_blocks() -> frozenset[str]:
    """Top-level keys that make a YAML document a contract (the harness's own and pv's)."""
    from harness.contract.pv_rules import PV_MARKERS

    return frozenset({"metadata", "falsification_tests", "hypotheses", "subjects", *PV_MARKERS})


def declares_nothing(data: bytes) -> bool:
    """Whether a file's bytes hold no contract block at their top level — a registry or list kept
    under ``contracts/``, not a contract. Undecidable text (flow style, undecodable bytes) is read."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    if _block_key().search(text):  # the common case: a contract block, usually on the first lines
        return False
    body = _PREAMBLE.sub("", text, count=1)
    if body.lstrip().startswith(("{", "[")) or not body.strip():
        return False
    keys = set(TOP_LEVEL_KEY.findall(text))
    return not keys & contract_blocks()


@lru_cache(maxsize=1)
def _block_key() -> re.Pattern:
    """A top-level line opening a contract block (TOP_LEVEL_KEY limited to contract_blocks())."""
    names = "|".join(sorted(map(re.escape, contract_blocks()), key=len, reverse=True))
    return re.compile(rf"""^["']?(?:{names})["']?[ \t]*:""", re.M)


_PREAMBLE = re.compile(r"^(?:\s*#[^\n]*\n|\s*\n|---[^\n]*\n|%[^\n]*\n)*")


def find_project_root(start: Path | None = None) -> Path:
    """The nearest ancestor holding ``pyproject.toml``, ``.git`` or ``contracts/``; else ``start``."""
    here = Path(start or Path.cwd()).absolute()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").exists() or (candidate / ".git").exists():
            return candidate
    return here


Source = tuple[tuple[int, int], bytes]  # (mtime_ns, size) taken before the read, and the bytes


def read_source(path: Path) -> Source:
    """A contract file's bytes with the stat signature taken *before* reading them: a write that
    lands after the read changes the signature, so the session notices and reloads."""
    st = os.stat(path)
    with open(path, "rb") as handle:
        return (st.st_mtime_ns, st.st_size), handle.read()


def discover(paths: list[Path], skip: tuple[str, ...] = (), sources: dict[Path, Source] | None = None) -> tuple[list[Path], list[Path]]:
    """Expand ``paths`` into contract files; returns (files, missing). A directory is walked
    without following symlinked folders (as ``Path.rglob`` does); each YAML file found is read
    once, and with ``sources`` its bytes are kept there for the loader."""
    files: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(_scan(path, skip, sources))
        elif path.exists():
            files.append(path)
        else:
            missing.append(path)
    return files, missing


def _scan(folder: Path, skip: tuple[str, ...], sources: dict[Path, Source] | None) -> list[Path]:
    found: list[tuple[list[str], str, Source | None]] = []
    top = os.fspath(folder)
    for here, dirs, names in os.walk(top):
        # pv's rules prune whole folders (dot folders and its named ones) before reading them
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in NOT_CONTRACT_DIRS]
        for name in names:
            if not name.endswith((".yaml", ".yml")):
                continue
            full = os.path.join(here, name)
            parts = full[len(top) :].lstrip(os.sep).split(os.sep)
            if skipped(parts, skip):
                continue
            try:
                source = read_source(full)
            except OSError:  # a file we may not read is the loader's to report; a dangling link is no file
                if os.path.isfile(full):
                    found.append((parts, full, None))
                continue
            if not declares_nothing(source[1]):
                found.append((parts, full, source))
    found.sort(key=lambda entry: entry[0])  # the order of sorted(Path, …): part by part
    paths = []
    for _, full, source in found:
        path = Path(full)
        paths.append(path)
        if sources is not None and source is not None:
            sources[path] = source
    return paths

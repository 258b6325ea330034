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
import re
from pathlib import Path

NOT_CONTRACTS = frozenset({"binding.yaml", "binding.yml", "external-corpora.yaml", "ontology.yaml"})
NOT_CONTRACT_DIRS = frozenset({"kaizen", "legacy", "pipelines", "publish-manifests"})


def skipped(relative: Path, extra: tuple[str, ...] = ()) -> bool:
    """Whether a file found by a directory scan is, by pv's rules or the project's, not a contract."""
    parts = relative.parts
    if relative.name in NOT_CONTRACTS or any(part.startswith(".") for part in parts):
        return True
    if any(part in NOT_CONTRACT_DIRS for part in parts[:-1]):
        return True
    text = relative.as_posix()
    return any(fnmatch.fnmatch(text, pattern) or fnmatch.fnmatch(relative.name, pattern) for pattern in extra)


TOP_LEVEL_KEY = re.compile(r"""^["']?([A-Za-z_][\w-]*)["']?[ \t]*:""", re.M)


def contract_blocks() -> frozenset[str]:
    """Top-level keys that make a YAML document a contract (the harness's own and pv's)."""
    from harness.contract.pv_rules import PV_MARKERS

    return frozenset({"metadata", "falsification_tests", "hypotheses", "subjects", *PV_MARKERS})


def declares_nothing(path: Path) -> bool:
    """Whether a file holds no contract block at its top level — a registry or list kept under
    ``contracts/``, not a contract. Undecidable text (flow style, undecodable bytes) is read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return False
    body = re.sub(r"^(?:\s*#[^\n]*\n|\s*\n|---[^\n]*\n|%[^\n]*\n)*", "", text)
    if body.lstrip().startswith(("{", "[")) or not body.strip():
        return False
    keys = set(TOP_LEVEL_KEY.findall(text))
    return not keys & contract_blocks()


def find_project_root(start: Path | None = None) -> Path:
    """The nearest ancestor holding ``pyproject.toml``, ``.git`` or ``contracts/``; else ``start``."""
    here = Path(start or Path.cwd()).absolute()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").exists() or (candidate / ".git").exists():
            return candidate
    return here


def discover(paths: list[Path], skip: tuple[str, ...] = ()) -> tuple[list[Path], list[Path]]:
    """Expand ``paths`` into contract files; returns (files, missing)."""
    files: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                is_yaml = candidate.suffix in (".yaml", ".yml") and candidate.is_file()
                if is_yaml and not skipped(candidate.relative_to(path), skip) and not declares_nothing(candidate):
                    files.append(candidate)
        elif path.exists():
            files.append(path)
        else:
            missing.append(path)
    return files, missing

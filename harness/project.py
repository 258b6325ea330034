"""Where a project keeps its contracts, evidence and falsifiers, read once for every entry point.

The plugin gets these from pytest's ini keys; the CLI (validate, lint, gate, report) reads the same
keys from the same files, in pytest's order (pytest.ini, pyproject.toml, tox.ini, setup.cfg), so a
project that moves a folder moves it for both. Contract identity lives here too: the key of a
contract is its path under the contracts folder without the suffix (``a/c`` for
``contracts/a/c.yaml``), unique by construction except for ``c.yaml`` beside ``c.yml``, which is
a clash reported as a finding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.findings import Finding

INI_KEYS = {
    "harness_contracts": "contracts",
    "harness_evidence": "evidence",
    "harness_falsifiers": "falsifiers",
    "python_files": "test_*.py *_test.py",
    "python_functions": "test",
    "harness_skip": "",
    "harness_pv_rules": "auto",
}


@dataclass(frozen=True)
class Layout:
    """The project root and its three folders (relative, posix, as written in the ini)."""

    root: Path
    contracts: str = "contracts"
    evidence: str = "evidence"
    falsifiers: str = "falsifiers"
    python_files: tuple[str, ...] = ("test_*.py", "*_test.py")
    python_functions: tuple[str, ...] = ("test",)
    skip: tuple[str, ...] = ()  # extra globs of non-contract YAML under the contracts folder
    pv_rules: str = "auto"  # auto | error | warning | off: pv's own rules (harness.contract.pv_rules)

    @property
    def contracts_dir(self) -> Path:
        return self.root / self.contracts

    @property
    def evidence_dir(self) -> Path:
        return self.root / self.evidence

    @property
    def falsifiers_dir(self) -> Path:
        return self.root / self.falsifiers


def _clean(value: str) -> str:
    return Path(value.strip()).as_posix().rstrip("/") or "."


def _ini_values(root: Path) -> dict[str, str]:
    """The harness ini keys from the first pytest config file that pytest itself would use."""
    pytest_ini = root / "pytest.ini"
    if pytest_ini.is_file():
        return _from_cfg(pytest_ini, "pytest", require_section=False)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            data = tomllib.loads(pyproject.read_text("utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            data = {}
        options = data.get("tool", {}).get("pytest", {}).get("ini_options")
        if isinstance(options, dict):
            return {k: " ".join(v) if isinstance(v, list) else str(v) for k, v in options.items() if k in INI_KEYS and isinstance(v, (str, list))}
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        path = root / name
        if path.is_file():
            values = _from_cfg(path, section, require_section=True)
            if values is not None:
                return values
    return {}


def _from_cfg(path: Path, section: str, *, require_section: bool) -> dict[str, str] | None:
    import configparser  # the CLI's ini reading; the plugin gets its layout from pytest

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {} if not require_section else None
    if not parser.has_section(section):
        return {} if not require_section else None
    return {k: v for k, v in parser[section].items() if k in INI_KEYS}


def read_layout(root: Path) -> Layout:
    """The layout of the project at ``root``, from its pytest configuration."""
    values = _ini_values(Path(root))
    return Layout(
        root=Path(root),
        contracts=_clean(values.get("harness_contracts", INI_KEYS["harness_contracts"])),
        evidence=_clean(values.get("harness_evidence", INI_KEYS["harness_evidence"])),
        falsifiers=_clean(values.get("harness_falsifiers", INI_KEYS["harness_falsifiers"])),
        python_files=tuple(values.get("python_files", INI_KEYS["python_files"]).split()),
        python_functions=tuple(values.get("python_functions", INI_KEYS["python_functions"]).split()),
        skip=tuple(values.get("harness_skip", "").split()),
        pv_rules=values.get("harness_pv_rules", "auto").strip() or "auto",
    )


def contract_key(path: Path, contracts_dir: Path | None) -> str:
    """``a/c`` for ``<contracts>/a/c.yaml``; the bare stem for a file outside the contracts folder."""
    path, folder = os.fspath(path), None if contracts_dir is None else os.fspath(contracts_dir)
    # the cache is keyed by absolute paths: a relative one means something else after a chdir
    if not os.path.isabs(path):
        path = os.path.abspath(path)
    if folder is not None and not os.path.isabs(folder):
        folder = os.path.abspath(folder)
    return _contract_key(path, folder)


@lru_cache(maxsize=65536)
def _contract_key(path: str, contracts_dir: str | None) -> str:
    stem = os.path.basename(path).rsplit(".", 1)[0]
    if contracts_dir is None:
        return stem
    absolute, base = os.path.normpath(path), os.path.normpath(contracts_dir)
    if absolute.startswith(base.rstrip(os.sep) + os.sep):  # the common case, without relpath
        parts = absolute[len(base.rstrip(os.sep)) + 1 :].split(os.sep)
    else:
        try:
            parts = list(Path(os.path.relpath(absolute, base)).parts)
        except ValueError:
            return stem
    if parts and parts[0] == "..":
        return stem
    return "/".join([*parts[:-1], stem])


def key_clashes(paths: list[Path], contracts_dir: Path | None, display) -> tuple[list[Path], list[Finding]]:
    """Drop every file whose key another file also has (``c.yaml`` + ``c.yml``): neither may take
    the other's verdict or evidence. Returns (kept files, one finding per clashing file)."""
    by_key: dict[str, list[Path]] = {}
    for path in paths:
        by_key.setdefault(contract_key(path, contracts_dir), []).append(path)
    kept, findings = [], []
    from harness.evidence import RUN_ID

    for path in paths:
        key = contract_key(path, contracts_dir)
        same = by_key[key]
        reserved = [part for part in key.split("/")[1:] if part == "LATEST" or RUN_ID.match(part)]
        if reserved:  # evidence/<a>/LATEST is contract a's pointer file; a/LATEST's folder would collide
            findings.append(
                Finding(
                    display(path),
                    0,
                    0,
                    "reserved-name",
                    f"its contract key {key!r} has a folder part {reserved[0]!r}, a name evidence folders reserve (LATEST, run ids); rename the file",
                )
            )
            continue
        if len(same) == 1:
            kept.append(path)
            continue
        others = ", ".join(display(p) for p in same if p != path)
        findings.append(
            Finding(
                display(path),
                0,
                0,
                "duplicate-contract",
                f"has the same contract key {contract_key(path, contracts_dir)!r} as {others}; rename one (results and evidence are keyed by it)",
            )
        )
    return kept, findings


@dataclass
class ProjectContracts:
    """Every contract of a project, loaded once: the valid ones and the findings of the rest."""

    layout: Layout
    files: list[Path]
    contracts: list = None  # list[Contract]
    findings: list[Finding] = None


def load_contracts(layout: Layout, paths: list[Path] | None = None) -> ProjectContracts:
    """Load the contracts under the layout's folder (or the given files and folders), with the
    layout's falsifier and evidence folders and contract keys; clashing keys are findings."""
    from harness.contract import cache
    from harness.contract.discovery import discover
    from harness.contract.loader import artifact_roots_from_env, display_path, load_contract

    sources: dict = {}  # each file read once: the scan's bytes are the ones loaded
    if paths is None:
        files = discover([layout.contracts_dir], layout.skip, sources)[0] if layout.contracts_dir.is_dir() else []
    else:
        files = discover(paths, layout.skip, sources)[0]
    root = layout.root.absolute()
    allowed_roots = artifact_roots_from_env()
    kept, findings = key_clashes(files, layout.contracts_dir, lambda p: display_path(Path(p), root))
    contracts = []
    with cache.batch(layout.contracts_dir):
        for path in kept:
            contract, found = load_contract(
                path,
                root=root,
                falsifiers_dir=layout.falsifiers,
                evidence_dir=layout.evidence,
                contracts_dir=layout.contracts_dir,
                pv_rules=layout.pv_rules,
                allowed_roots=allowed_roots,
                source=sources.get(path),
            )
            findings.extend(found)
            if contract is not None:
                contracts.append(contract)
    return ProjectContracts(layout, files, contracts, findings)


class SelectionError(ValueError):
    """A ``--contract`` name that names no contract, or several (an ambiguous stem)."""


def select_contracts(contracts: list, names: list[str], refused: dict | None = None) -> list:
    """The contracts ``names`` select, by key (``a/c``), metadata.id, or file stem when that stem is
    unique. One rule for the plugin, the gate and the summary. ``refused`` maps the stems of files
    that did not validate to their first finding, so naming one says why."""
    chosen: list = []
    for name in names:
        exact = [c for c in contracts if name in (c.key, c.id)]
        by_stem = [c for c in contracts if c.key.rsplit("/", 1)[-1] == name]
        if not exact and len(by_stem) > 1:
            raise SelectionError(f"{name} is ambiguous; it is the stem of {', '.join(sorted(c.key for c in by_stem))}: name one by its key")
        found = exact or by_stem
        if not found:
            if refused and name in refused:
                raise SelectionError(f"{name} does not validate: {refused[name].render()}")
            raise SelectionError(f"unknown contract {name}; known contracts: {', '.join(sorted(c.key for c in contracts)) or '(none found)'}")
        chosen.extend(c for c in found if c not in chosen)
    return chosen

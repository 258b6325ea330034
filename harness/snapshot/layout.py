"""Where a project keeps its contracts, evidence and falsifiers, read from its pytest configuration.

The plugin gets these from pytest's ini keys; the CLI (validate, lint, gate, report) reads the same
keys from the same files, in pytest's order (pytest.toml, .pytest.toml, pytest.ini, .pytest.ini,
pyproject.toml's ``[tool.pytest]`` or ``[tool.pytest.ini_options]``, tox.ini, setup.cfg), so a
project that moves a folder moves it for both. This module is the only reader of those files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

INI_KEYS = {
    "harness_contracts": "contracts",
    "harness_evidence": "evidence",
    "harness_falsifiers": "falsifiers",
    "python_files": "test_*.py *_test.py",
    "python_functions": "test",
    "harness_skip": "",
    "harness_pv_rules": "auto",
    "pythonpath": "",
    "harness_allow_falsified": "false",
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
    pythonpath: tuple[str, ...] = ()  # pytest's ``pythonpath`` ini key: folders a test's imports are found in
    allow_falsified: bool = False  # the gate passes with FALSIFIED claims on disk (known-broken contracts tracked on purpose)

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


# The files pytest reads its configuration from, in its order (pytest 9: ``_pytest.config.findpaths``).
CONFIG_FILES = ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


def _toml_values(table) -> dict[str, str]:
    return {k: " ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in table.items() if k in INI_KEYS and isinstance(v, (str, list, int, float))}


def _read_toml(path: Path) -> dict:
    import tomllib

    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}


def config_values(path: Path) -> dict[str, str] | None:
    """The harness's ini keys in one pytest config file, or None when pytest would not take the
    file as its configuration (a ``pyproject.toml`` without a ``[tool.pytest]`` table, a ``tox.ini``
    without ``[pytest]``)."""
    name = path.name
    if name in ("pytest.toml", ".pytest.toml"):
        table = _read_toml(path).get("pytest")
        return _toml_values(table) if isinstance(table, dict) else {}
    if name in ("pytest.ini", ".pytest.ini"):
        return _from_cfg(path, "pytest", require_section=False)
    if name == "pyproject.toml":
        tool = _read_toml(path).get("tool", {}).get("pytest")
        if not isinstance(tool, dict):
            return None
        native = {k: v for k, v in tool.items() if k != "ini_options"}  # pytest 9's [tool.pytest]
        options = tool.get("ini_options")
        return _toml_values(native) if native else _toml_values(options) if isinstance(options, dict) else None
    if name == "tox.ini":
        return _from_cfg(path, "pytest", require_section=True)
    if name == "setup.cfg":
        return _from_cfg(path, "tool:pytest", require_section=True)
    return None


def config_file(root: Path) -> tuple[Path, dict[str, str]] | None:
    """The pytest config file in ``root`` that pytest itself would use, with its harness keys."""
    for name in CONFIG_FILES:
        path = Path(root) / name
        if path.is_file():
            values = config_values(path)
            if values is not None:
                return path, values
    return None


def _ini_values(root: Path) -> dict[str, str]:
    """The harness ini keys from the first pytest config file that pytest itself would use."""
    found = config_file(root)
    return found[1] if found is not None else {}


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


def contract_root(contract: Path) -> Path:
    """The project a contract file belongs to, as pytest's rootdir rules find it: the nearest
    folder above it whose pytest configuration puts its contracts folder around the contract;
    else the nearest folder whose default ``contracts/`` holds it (a project without
    ``pyproject.toml`` or ``.git``, a package of a monorepo); else the folder above. A tripwire
    writes its verdicts into that project's ledger and evidence, never a parent's."""
    import os

    path = Path(os.path.abspath(contract))
    fallback = None
    for folder in path.parents:
        found = config_file(folder)
        if found is not None:
            contracts = folder / _clean(found[1].get("harness_contracts", INI_KEYS["harness_contracts"]))
            if path.is_relative_to(contracts):
                return folder
        elif fallback is None and path.is_relative_to(folder / INI_KEYS["harness_contracts"]):
            fallback = folder
    return fallback if fallback is not None else path.parent


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
        pythonpath=tuple(values.get("pythonpath", "").split()),
        allow_falsified=values.get("harness_allow_falsified", "false").strip().lower() in ("1", "true", "yes", "on"),
    )

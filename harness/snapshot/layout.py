"""Where a project keeps its contracts, evidence and falsifiers, read from its pytest configuration.

The plugin gets these from pytest's ini keys; the CLI (validate, lint, gate, report) reads the same
keys from the same files, in pytest's order (pytest.ini, pyproject.toml, tox.ini, setup.cfg), so a
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

"""Find contract files: explicit paths, or every YAML under a directory.

``binding.yaml`` files of the pv family map contracts to code; they are not contracts and are
skipped when a directory is scanned.
"""

from __future__ import annotations

from pathlib import Path

NOT_CONTRACTS = frozenset({"binding.yaml", "binding.yml"})


def find_project_root(start: Path | None = None) -> Path:
    """The nearest ancestor holding ``pyproject.toml``, ``.git`` or ``contracts/``; else ``start``."""
    here = Path(start or Path.cwd()).absolute()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").exists() or (candidate / ".git").exists():
            return candidate
    return here


def discover(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Expand ``paths`` into contract files; returns (files, missing)."""
    files: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                if (
                    candidate.suffix in (".yaml", ".yml")
                    and candidate.name not in NOT_CONTRACTS
                    and candidate.is_file()
                    and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
                ):
                    files.append(candidate)
        elif path.exists():
            files.append(path)
        else:
            missing.append(path)
    return files, missing

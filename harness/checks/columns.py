"""Which column (or leaf) of a row-shaped shard holds the token ids: the subject's ``column:``,
else the first of the names tokenizing pipelines use. Shared by the Arrow/parquet, MDS and LitData
readers so that all three pick, and refuse, alike."""

from __future__ import annotations

from pathlib import Path

from harness.checks import ArtifactError

DEFAULT_COLUMNS = ("input_ids", "tokens", "token_ids", "ids")


def pick_column(path: Path, names: list[str], column: str | None, what: str = "column") -> str:
    """The declared column, or the first default one present; a clear error naming the file and
    the columns it has otherwise."""
    if column is not None:
        if column not in names:
            raise ArtifactError(f"{path}: no {what} {column!r} ({what}s: {', '.join(map(str, names))})")
        return column
    for name in DEFAULT_COLUMNS:
        if name in names:
            return name
    raise ArtifactError(f"{path}: no token {what} ({' / '.join(DEFAULT_COLUMNS)}); {what}s: {', '.join(map(str, names))} — declare column: in the subject")

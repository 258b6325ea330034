"""Subjects a contract declares as artifacts (``subjects:``), judged as a declaration: known keys,
paths that stay inside the project, globs that expand, sizes the harness can hold. Building a
subject from them (``harness.subjects.declarative``) sits higher up; the loader, lint and the
fingerprint need only what is here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.paths import artifact_roots_from_env, check_artifact_path

ENCODER_KINDS = ("byte_level", "hex_byte", "byte_fallback")


SUBJECT_KEYS = (
    "vocab", "encoder", "shards", "documents", "run", "vocab_size", "unk_id", "pattern", "description",
    "splits", "seq_len", "batch_size", "model_vocab_size", "pad_id", "format", "dtype", "column",
)  # fmt: skip


SHARD_FORMATS = ("npy", "sidecar", "megatron", "hf-datasets", "parquet", "mds", "litdata", "raw")  # harness.checks.formats reads each
ID_DTYPES = ("uint8", "uint16", "uint32", "uint64", "int32", "int64")  # what token ids are stored as
METADATA_NAMES = ("index.json", "state.json", "dataset_info.json", "dataset_dict.json")  # read beside a folder's shards


class SubjectError(ValueError):
    """A declared subject cannot be built (names the subject and what is wrong)."""


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def expand(root: Path, patterns: list[str], folders: bool = False) -> list[Path]:
    """Files matching the globs (``**`` allowed), sorted, without duplicates; with ``folders``, a
    pattern naming a folder gives the folder (a ``datasets``, MDS or LitData dataset is one). A
    pattern that climbs out, costs too much to walk, or matches a file resolving outside the
    project is a ``SubjectError`` naming it (``harness.globbing``)."""
    from harness.globbing import GlobError, expand_glob
    from harness.paths import check_url
    from harness.urls import is_url

    found: set = set()
    allowed = artifact_roots_from_env()
    for pattern in patterns:
        if is_url(pattern):
            why = check_url(pattern, root, allowed)
            if why:
                raise SubjectError(f"glob {pattern!r} {why}")
            matches = _expand_url(pattern)
            from harness.paths import confinement_problem

            for match in matches:  # a file:// glob obeys the local rules after its symlinks resolve
                why = confinement_problem(match, root, allowed)
                if why:
                    raise SubjectError(f"glob {pattern!r} matches {why}")
            found.update(matches)
            continue
        if folders and not any(ch in pattern for ch in "*?[") and (root / pattern).is_dir():
            why = check_artifact_path(pattern, root, allowed)
            if why:
                raise SubjectError(f"glob {pattern!r} {why}")
            found.add(root / pattern)
            continue
        try:
            found.update(expand_glob(root, pattern, allowed))
        except GlobError as exc:
            raise SubjectError(f"glob {pattern!r} {exc}") from None
    return sorted(found, key=str)


def _expand_url(pattern: str) -> list:
    from harness.urls import expand_url

    try:
        return expand_url(pattern)
    except (OSError, ValueError) as exc:
        raise SubjectError(f"glob {pattern!r}: {exc}") from None


def project_module_problem(spec: str, root: Path) -> str | None:
    """Why ``package.module:factory`` may not be imported for a contract, or None. Contracts are
    untrusted data: a callable must live in the project's own source (reviewed as code), never in
    the standard library or an installed package (``os:system`` would run the vocab path)."""
    module, _, attribute = spec.partition(":")
    if not module or not attribute or not all(part.isidentifier() for part in module.split(".")):
        return "a callable is written 'package.module:factory'"
    parts = module.split(".")
    root_real = os.path.realpath(root)
    for base in (Path(root), Path(root) / "src"):
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file() and os.path.realpath(candidate).startswith(root_real + os.sep):
                return None
    return f"module {module!r} is not a file of this project (a contract may only name the project's own code, never an installed module)"


def artifact_problems(name: str, spec: Any, root: Path) -> list[tuple[list, str, str]]:
    """(path within the spec, rule, message) for each problem a declared subject has on disk."""

    if not isinstance(spec, dict):
        return [([], "bad-subject", f"subject {name!r} must be a mapping of artifacts")]
    problems = []
    for key in spec:
        if key not in SUBJECT_KEYS:
            problems.append(([key], "unknown-key", f"subject {name!r}: unknown key {key!r} (allowed: {', '.join(SUBJECT_KEYS)})"))
    encoder = spec.get("encoder")
    if encoder is not None and (not isinstance(encoder, str) or (encoder not in ENCODER_KINDS and ":" not in encoder)):
        problems.append(
            (["encoder"], "unknown-encoder", f"subject {name!r}: encoder {encoder!r} is not one of {', '.join(ENCODER_KINDS)} or 'package.module:factory'")
        )
    elif isinstance(encoder, str) and ":" in encoder:
        why = project_module_problem(encoder, root)
        if why:
            problems.append((["encoder"], "untrusted-encoder", f"subject {name!r}: encoder {encoder!r}: {why}"))
    for key in ("vocab", "run"):
        value = spec.get(key)
        if isinstance(value, str):
            why = check_artifact_path(value, root, artifact_roots_from_env())
            if why:
                problems.append(([key], "path-escape", f"subject {name!r}: {key} {value!r} {why}"))
            elif not (root / value).exists():
                problems.append(([key], "missing-artifact", f"subject {name!r}: {key} {value} does not exist"))
    splits = spec.get("splits")
    if splits is not None and not (isinstance(splits, dict) and all(isinstance(v, (str, list)) for v in splits.values())):
        problems.append((["splits"], "bad-subject", f"subject {name!r}: splits maps a split name to shard globs"))
    globs = [(["shards"], p) for p in as_list(spec.get("shards"))] + [(["documents"], p) for p in as_list(spec.get("documents"))]
    globs += [(["splits", k], p) for k, v in (splits.items() if isinstance(splits, dict) else ()) for p in as_list(v)]
    for where, pattern in globs:
        key = where[0]
        megatron = key != "documents" and "://" not in pattern and Path(root, f"{pattern}.bin").is_file() and Path(root, f"{pattern}.idx").is_file()
        try:
            matched = expand(root, [f"{pattern}.bin" if megatron else pattern], folders=key != "documents")  # a Megatron data prefix names its .bin + .idx
        except SubjectError as exc:
            problems.append((where, "path-escape", f"subject {name!r}: {key} {exc}"))
            continue
        if not matched:
            problems.append((where, "missing-artifact", f"subject {name!r}: {key} {pattern!r} matches no file"))
    problems.extend(size_problems(name, spec))
    problems.extend(format_problems(name, spec))
    return problems


def format_problems(name: str, spec: dict) -> list[tuple[list, str, str]]:
    """A declared ``format``/``dtype``/``column`` the readers cannot take."""
    problems = []
    kind, dtype, column = spec.get("format"), spec.get("dtype"), spec.get("column")
    if kind is not None and kind not in SHARD_FORMATS:
        problems.append((["format"], "bad-subject", f"subject {name!r}: format {kind!r} is not one of {', '.join(SHARD_FORMATS)}"))
    if dtype is not None and dtype not in ID_DTYPES:
        problems.append((["dtype"], "bad-subject", f"subject {name!r}: dtype {dtype!r} is not one of {', '.join(ID_DTYPES)}"))
    if kind == "raw" and dtype is None:
        problems.append((["dtype"], "bad-subject", f"subject {name!r}: format raw needs dtype: (nanoGPT writes uint16)"))
    if column is not None and (not isinstance(column, str) or not column):
        problems.append((["column"], "bad-subject", f"subject {name!r}: column names one column, as a string"))
    return problems


MAX_SEQ_LEN = 1 << 20


MAX_BATCH_IDS = 1 << 24  # batch_size × (seq_len + 1): 16 Mi ids, 128 MiB as int64


def size_problems(name: str, spec: dict) -> list[tuple[list, str, str]]:
    """What ``seq_len`` and ``batch_size`` may make the harness allocate: one batch is held in
    memory, so their product is bounded (``batch_size: 1000000000`` once cost 2.4 GB)."""
    problems = []
    sizes = {}
    for key, default, top in (("seq_len", 512, MAX_SEQ_LEN), ("batch_size", 8, MAX_BATCH_IDS)):
        value = spec.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            problems.append(([key], "bad-subject", f"subject {name!r}: {key} must be an integer from 1 to {top:,}, not {value!r}"))
        else:
            sizes[key] = value
    if len(sizes) == 2 and sizes["batch_size"] * (sizes["seq_len"] + 1) > MAX_BATCH_IDS:
        problems.append(
            (
                ["batch_size"],
                "bad-subject",
                f"subject {name!r}: batch_size × (seq_len + 1) = {sizes['batch_size'] * (sizes['seq_len'] + 1):,} ids in one batch, over the {MAX_BATCH_IDS:,} the harness holds at once",
            )
        )
    return problems


COMPANION_SUFFIXES = (".idx", ".json")  # a Megatron index, a sidecar


def reader_inputs(path: Path, limit: int = 100_000) -> list[Path]:
    """Every local file a shard reader may open for ``path``: the files under a folder (a
    ``datasets``, MDS or LitData dataset), else the file with what is read beside it — a Megatron
    ``.idx``, a sidecar, the folder's ``index.json`` / ``state.json`` / ``dataset_info.json`` /
    ``dataset_dict.json`` — and a Megatron data prefix's ``.bin`` and ``.idx``. What a verdict
    stands on (``harness.identity``) and what must stay inside the project
    (``harness.paths.confinement_problem``) are these files, not the name a glob matched."""
    import os

    path = Path(path)
    if path.is_dir():
        found: list[Path] = []
        for here, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                found.append(Path(here) / name)
                if len(found) > limit:
                    raise SubjectError(f"{path}: more than {limit:,} files under this folder")
            for name in dirs:
                if (Path(here) / name).is_symlink():  # os.walk does not follow it: name it, so it is checked
                    found.append(Path(here) / name)
        return found
    candidates = [path]
    if not path.exists() and Path(f"{path}.bin").exists():  # a Megatron data prefix
        candidates = [Path(f"{path}.bin"), Path(f"{path}.idx")]
    for suffix in COMPANION_SUFFIXES:
        candidates.append(path.with_suffix(suffix))
    candidates.append(path.with_name(path.name + ".json"))
    candidates += [path.parent / name for name in METADATA_NAMES]
    return list(dict.fromkeys(c for c in candidates if c.exists() or c.is_symlink()))

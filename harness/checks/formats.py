"""Which format a token shard is in, recognised from its bytes and what lies beside it — never
from a guess. A subject may declare ``format:`` (with ``dtype:`` for raw memmaps and MDS
``bytes`` columns, ``column:`` for a token column not named ``input_ids``) where the files are
ambiguous; a file no rule recognises is a finding that says what to declare.

| format | recognised by | a document is |
|---|---|---|
| ``npy`` | the ``\\x93NUMPY`` magic | — (the stream is split at the end-of-text id) |
| ``sidecar`` | ``NAME.json`` beside a ``.bin`` | — |
| ``megatron`` | the ``MMIDIDX`` magic of ``NAME.idx`` beside ``NAME.bin`` | one entry of the document index |
| ``hf-datasets`` | Arrow IPC magic (``.arrow``; a ``save_to_disk`` folder's ``state.json``) | one row |
| ``parquet`` | the ``PAR1`` magic | one row |
| ``mds`` | an ``index.json`` listing the file as an MDS shard | one sample |
| ``litdata`` | an ``index.json`` listing the file as a LitData chunk | one item |
| ``raw`` | declared only (``format: raw``, ``dtype: uint16``): nanoGPT's ``train.bin``, OLMo's headerless ``.npy`` | — |
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.checks import ArtifactError
from harness.contract.subjects import METADATA_NAMES, reader_inputs  # noqa: F401 — re-exported: what a reader opens beside a shard
from harness.contract.subjects import SHARD_FORMATS as FORMATS

SHARD_SUFFIXES = (".bin", ".npy", ".arrow", ".parquet", ".mds")
NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class ShardOptions:
    """What a subject declares about its shards where the files cannot say it themselves."""

    format: str | None = None
    dtype: str | None = None
    column: str | None = None

    @classmethod
    def from_spec(cls, spec: dict) -> ShardOptions:
        return cls(spec.get("format"), spec.get("dtype"), spec.get("column"))


NO_OPTIONS = ShardOptions()


def _head(path: Path, n: int = 8) -> bytes:
    from harness.checks.storage import read_range

    try:
        return read_range(path, 0, n)
    except (OSError, ArtifactError):
        return b""


@lru_cache(maxsize=256)
def _index_json(directory: str, stamp: tuple) -> object:
    from harness.checks.storage import location

    try:
        return json.loads((location(directory) / "index.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None


@lru_cache(maxsize=256)
def _listed(directory: str, stamp: tuple) -> dict[str, tuple[str, dict, dict]]:
    """{file name: ("mds" | "litdata", its entry, the index)} of the ``index.json`` in a folder."""
    from harness.checks.litdata import is_litdata_index
    from harness.checks.mds import is_mds_index

    data = _index_json(directory, stamp)
    if is_mds_index(data):
        return {(e.get("raw_data") or {}).get("basename"): ("mds", e, data) for e in data["shards"]}
    if is_litdata_index(data):
        return {e.get("filename"): ("litdata", e, data) for e in data["chunks"] if isinstance(e, dict)}
    return {}


def index_beside(path: Path) -> tuple[str, dict, dict] | None:
    """("mds" | "litdata", the file's entry, the parsed index) when an ``index.json`` beside
    ``path`` lists it."""
    from harness.checks.storage import stamp

    try:
        version = stamp(path.parent / "index.json")
    except ArtifactError:
        return None
    return _listed(str(path.parent), version).get(path.name)


def detect(path: Path) -> str | None:
    """The format of the shard at ``path``, from its bytes and neighbours; None when nothing says."""
    from harness.checks.columnar import PARQUET_MAGIC, is_arrow

    beside = index_beside(path)
    if beside:
        return beside[0]
    head = _head(path)
    if head.startswith(NPY_MAGIC):
        return "npy"
    if path.suffix == ".bin" and path.with_suffix(".idx").exists():  # a damaged .idx is the Megatron reader's finding
        return "megatron"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if path.suffix == ".arrow" or (path.suffix not in (".bin", ".npy") and is_arrow(head)):
        return "hf-datasets"
    if path.suffix == ".bin" and any(c.exists() for c in (path.with_suffix(".json"), path.with_name(path.name + ".json"))):
        return "sidecar"
    return None


def undetected_hint(path: Path) -> str:
    """Why ``path`` could not be recognised, and what to declare."""
    if path.suffix == ".npy":
        return f"{path}: no .npy header (a headerless memmap, as OLMo writes?): declare format: raw and its dtype: in the subject"
    if path.suffix == ".bin":
        return f"{path}: raw .bin shard without a JSON sidecar (dtype, vocab_size, count), a Megatron .idx or an index.json: declare format: raw and its dtype: (nanoGPT writes uint16)"
    return f"{path}: not a token shard this harness recognises ({', '.join(FORMATS)}): declare format: in the subject"


def directory_shards(directory: Path) -> list[Path]:
    """The shards a folder holds, in order: a ``datasets`` folder's Arrow files, the files an MDS or
    LitData ``index.json`` lists (a missing one included, so its reader can name it), else its
    shard files by name."""
    from harness.checks.columnar import dataset_files
    from harness.checks.litdata import is_litdata_index
    from harness.checks.mds import is_mds_index

    arrow = dataset_files(directory)
    if arrow is not None:
        return arrow
    from harness.checks.storage import stamp

    index = directory / "index.json"
    if index.is_file():
        data = _index_json(str(directory), stamp(index))
        if is_mds_index(data):
            return [directory / e["raw_data"]["basename"] for e in data["shards"] if isinstance(e.get("raw_data"), dict) and "basename" in e["raw_data"]]
        if is_litdata_index(data):
            return [directory / e["filename"] for e in data["chunks"] if isinstance(e, dict) and "filename" in e]
        raise ArtifactError(f"{index}: neither an MDS nor a LitData index")
    found = sorted(p for p in directory.iterdir() if p.suffix in SHARD_SUFFIXES or p.name.endswith(".mds.zstd"))
    if not found:
        raise ArtifactError(f"{directory}: no shards in this directory ({', '.join(SHARD_SUFFIXES)}, a datasets folder, an MDS or LitData index.json)")
    return found


def fold_metadata(paths: list[Path]) -> list[Path]:
    """The shards among files a glob matched: an ``index.json`` or ``state.json`` stands for the
    shards it lists, a Megatron ``.idx`` for its ``.bin``; a sidecar is read with its shard,
    never as one; other metadata files are dropped."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(directory_shards(p))
        elif p.name in ("index.json", "state.json", "dataset_dict.json"):
            out.extend(directory_shards(p.parent))
        elif p.name in METADATA_NAMES:
            continue
        elif p.suffix == ".idx" and p.with_suffix(".bin").exists():
            out.append(p.with_suffix(".bin"))
        elif p.suffix == ".json" and (
            p.with_suffix(".bin").exists() or p.with_suffix(".npy").exists() or (p.name.endswith(".bin.json") and p.with_suffix("").exists())
        ):
            continue
        else:
            out.append(p)
    return list(dict.fromkeys(out))

"""One corpus written by each training stack's own writer: Megatron's ``IndexedDatasetBuilder``,
``datasets.Dataset.save_to_disk`` and ``to_parquet``, ``streaming.MDSWriter``, ``litdata.optimize``,
``numpy.save`` / ``numpy.memmap`` — never a hand-made imitation of their bytes. Each writer takes
the documents as lists of ids (one list per document, the separator already appended) and writes
them under a folder; ``WRITERS`` names what a user would point ``--shards`` at."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np


def _streaming_writer():
    """``streaming.MDSWriter``. streaming's top-level package imports its vision datasets, which
    import torchvision — a CUDA build on PyPI that cannot load beside the CPU torch this suite
    pins — so its ``base`` package is imported without running that ``__init__``; the writer and
    reader are streaming's own, unchanged."""
    if "streaming" not in sys.modules:
        spec = importlib.util.find_spec("streaming")
        if spec is None:
            raise ImportError("mosaicml-streaming is not installed")
        package = types.ModuleType("streaming")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["streaming"] = package
    from streaming.base.format.mds.reader import MDSReader
    from streaming.base.format.mds.writer import MDSWriter

    return MDSWriter, MDSReader


def write_megatron(folder: Path, docs, dtype=np.int32) -> str:
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / "corpus_text_document"
    builder = IndexedDatasetBuilder(f"{prefix}.bin", dtype=dtype)
    for ids in docs:
        builder.add_document(torch.tensor(ids, dtype=torch.int64), [len(ids)])
    builder.finalize(f"{prefix}.idx")
    return f"{folder.name}/*"


def write_hf_datasets(folder: Path, docs) -> str:
    import datasets

    features = datasets.Features({"input_ids": datasets.Sequence(datasets.Value("uint32"))})
    datasets.Dataset.from_dict({"input_ids": [list(d) for d in docs]}, features=features).save_to_disk(str(folder), max_shard_size="256KB")
    return f"{folder.name}/*"


def write_parquet(folder: Path, docs) -> str:
    import datasets

    folder.mkdir(parents=True, exist_ok=True)
    features = datasets.Features({"input_ids": datasets.Sequence(datasets.Value("uint32"))})
    dataset = datasets.Dataset.from_dict({"input_ids": [list(d) for d in docs]}, features=features)
    half = len(dataset) // 2
    dataset.select(range(half)).to_parquet(str(folder / "train-00000-of-00002.parquet"), batch_size=200)
    dataset.select(range(half, len(dataset))).to_parquet(str(folder / "train-00001-of-00002.parquet"), batch_size=200)
    return f"{folder.name}/*"


def write_mds(folder: Path, docs, size_limit: str = "256kb") -> str:
    """MDS shards of ``size_limit`` (small, so a test corpus spans several; streaming's default is 64 MiB)."""
    writer, _ = _streaming_writer()
    with writer(out=str(folder), columns={"input_ids": "ndarray:uint32", "n": "int"}, size_limit=size_limit) as out:
        for k, ids in enumerate(docs):
            out.write({"input_ids": np.asarray(ids, dtype=np.uint32), "n": k})
    return f"{folder.name}/*"


def as_uint32(ids):
    """LitData's ``fn``: one document's ids as a 1-D array (module level: optimize pickles it)."""
    return np.asarray(ids, dtype=np.uint32)


def write_litdata(folder: Path, docs, chunk_bytes: str = "256KB") -> str:
    from litdata import optimize

    optimize(
        fn=as_uint32, inputs=[np.asarray(d, dtype=np.uint32) for d in docs], output_dir=str(folder), chunk_bytes=chunk_bytes, num_workers=1, mode="overwrite"
    )
    return f"{folder.name}/*"


def write_npy(folder: Path, docs) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "corpus.npy", np.concatenate([np.asarray(d, dtype=np.uint32) for d in docs]))
    return f"{folder.name}/*"


def write_raw(folder: Path, docs) -> str:
    """nanoGPT's ``prepare.py``: ids into a headerless ``np.memmap`` (uint32: Qwen2.5's ids pass 65,535)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.concatenate([np.asarray(d, dtype=np.uint32) for d in docs])
    out = np.memmap(folder / "train.bin", dtype=np.uint32, mode="w+", shape=(ids.size,))
    out[:] = ids
    out.flush()
    del out
    return f"{folder.name}/train.bin"


WRITERS = {
    "megatron": write_megatron,
    "hf-datasets": write_hf_datasets,
    "parquet": write_parquet,
    "mds": write_mds,
    "litdata": write_litdata,
    "npy": write_npy,
    "raw": write_raw,
}
NEEDS = {"megatron": "megatron.core", "hf-datasets": "datasets", "parquet": "datasets", "mds": "streaming", "litdata": "litdata"}
DECLARED = {"raw": {"format": "raw", "dtype": "uint32"}}  # what cannot be recognised from the bytes


def available(kind: str) -> bool:
    module = NEEDS.get(kind)
    return module is None or module.split(".")[0] in sys.modules or importlib.util.find_spec(module.split(".")[0]) is not None


def their_documents(kind: str, folder: Path) -> list[np.ndarray] | None:
    """Each document as the format's own reader yields it (None for a flat format)."""
    if kind == "megatron":
        from megatron.core.datasets.indexed_dataset import IndexedDataset

        data = IndexedDataset(str(folder / "corpus_text_document"))
        return [np.array(data[i]) for i in range(len(data))]
    if kind == "hf-datasets":
        import datasets

        return [np.asarray(row) for row in datasets.load_from_disk(str(folder))["input_ids"]]
    if kind == "parquet":
        import pyarrow.parquet as pq

        return [np.asarray(row) for f in sorted(folder.glob("*.parquet")) for row in pq.read_table(f).column("input_ids").to_pylist()]
    if kind == "mds":
        _, reader = _streaming_writer()
        index = json.loads((folder / "index.json").read_text())
        out = []
        for entry in index["shards"]:
            shard = reader.from_json(str(folder), None, entry)
            out += [np.asarray(shard.get_item(i)["input_ids"]) for i in range(shard.samples)]
        return out
    if kind == "litdata":
        from litdata import StreamingDataset

        data = StreamingDataset(str(folder))
        return [np.array(data[i]) for i in range(len(data))]
    return None


def harness_init(root: Path, name: str, encoder: str, glob: str, *extra: str):
    """``harness init`` run as a user runs it, in a subprocess from the project's root: binds the
    built-ins to ``vocab/tokenizer.json`` and the shards at ``glob``; the finished process."""
    import subprocess

    args = ["init", "--name", name, "--vocab", "vocab/tokenizer.json", "--encoder", encoder, "--shards", glob, *extra]
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=root, capture_output=True, text=True, check=False)

"""Honest, round 3: the third hostile review's seventeen routes through the new reach to a pass over
less than the claim names (issue #38), one test per class. Each was red on the commit before the
round (ee781f0) unless its docstring says otherwise; docs/security.md maps route → rule → test.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.snapshot import load_contract
from tests.redgreen import check, run_cases
from tests.test_honesty_round2 import new_project


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "--root", str(cwd), *args], cwd=cwd, capture_output=True, text=True, check=False)


def qwen_ids(texts: list[str], eos: bool = False) -> list[list[int]]:
    from harness.demo.qwen_vocab import qwen_tiktoken_path
    from harness.subjects.encoders import TiktokenEncoder

    encoder = TiktokenEncoder(qwen_tiktoken_path())
    return [ids + ([QWEN_EOS] if eos else []) for ids in encoder.encode_batch(texts)]


QWEN_EOS = 151643  # <|endoftext|>: the first id after Qwen2.5's 151,643 ranks


def stdlib_texts(nbytes: int) -> list[str]:
    from harness.demo.corpus import stdlib_documents

    return [text for _, text in stdlib_documents(nbytes)]


def contract(subject: dict, builtin: str, params: dict | None = None, extra: str = "") -> str:
    lines = ["metadata:", "  version: 1.0.0", "  status: DRAFT", "subjects:", "  data:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in subject.items()]
    lines += ["falsification_tests:", "- id: F-1", f"  test: builtin:{builtin}", "  subject: data"]
    if params:
        lines.append(f"  params: {json.dumps(params)}")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


def write_idx(path: Path, dtype_code: int, lengths, pointers, document_ends) -> None:
    """A Megatron ``.idx`` written field by field (the layout ``IndexedDatasetBuilder`` writes)."""
    with open(path, "wb") as out:
        out.write(b"MMIDIDX\x00\x00")
        out.write(struct.pack("<QBQQ", 1, dtype_code, len(lengths), len(document_ends)))
        out.write(np.asarray(lengths, dtype="<i4").tobytes())
        out.write(np.asarray(pointers, dtype="<i8").tobytes())
        out.write(np.asarray(document_ends, dtype="<i8").tobytes())


# ---------------------------------------------------------------------------------------------
# One pytest session over a project of one contract per case (the data built-ins, routes 1-5, 8, 15)

QWEN_TIKTOKEN = "vocab/qwen.tiktoken"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    import shutil

    from harness.demo.qwen_vocab import qwen_tiktoken_path
    from tests.artifacts import cl100k_rank_file

    root = new_project(tmp_path_factory.mktemp("round3") / "p")
    (root / "vocab").mkdir()
    shutil.copy(qwen_tiktoken_path(), root / QWEN_TIKTOKEN)
    texts = stdlib_texts(900_000)
    qwen = qwen_ids(texts)
    flat = np.asarray([i for ids in qwen for i in ids], dtype=np.uint32)
    cases = {}

    # 1: 80 shards — the first 64 small and Qwen's, the last 16 (86% of the ids) cl100k's
    import tiktoken.load

    from harness.subjects.encoders import CL100K_PATTERN

    ranks = tiktoken.load.load_tiktoken_bpe(str(cl100k_rank_file(root / "tmp" / "cl100k.tiktoken")))
    cl100k = tiktoken.Encoding(name="cl100k", pat_str=CL100K_PATTERN, mergeable_ranks=ranks, special_tokens={})
    foreign = np.asarray([i for ids in cl100k.encode_ordinary_batch(texts) for i in ids], dtype=np.uint32)
    (root / "agree80").mkdir()
    for k in range(64):
        np.save(root / "agree80" / f"s{k:03d}.npy", flat[k * 150 : k * 150 + 150])
    per = foreign.size // 16
    for k in range(16):
        np.save(root / "agree80" / f"s{64 + k:03d}.npy", foreign[k * per : (k + 1) * per][:4000])
    cases["agree80-red"] = contract({"vocab": QWEN_TIKTOKEN, "encoder": "byte_level", "shards": "agree80/*.npy"}, "vocab-id-agreement")

    # 1 (and #40.1): a healthy EOS-separated Qwen stream over 80 shards: windows never span the EOS
    eos = np.asarray([i for ids in qwen_ids(texts, eos=True) for i in ids], dtype=np.uint32)
    (root / "agree-eos").mkdir()
    for k, part in enumerate(np.array_split(eos, 80)):
        np.save(root / "agree-eos" / f"s{k:03d}.npy", part)
    cases["agree-eos-green"] = contract({"vocab": QWEN_TIKTOKEN, "encoder": "byte_level", "shards": "agree-eos/*.npy"}, "vocab-id-agreement")
    for seed in range(1, 12):  # #40's seed sweep: the same healthy stream, eleven more draws of windows
        cases[f"agree-eos-seed-{seed}"] = contract(
            {"vocab": QWEN_TIKTOKEN, "encoder": "byte_level", "shards": "agree-eos/*.npy"}, "vocab-id-agreement", {"seed": seed}
        )

    # 2: a Megatron index whose pointers skip a region: the trained sequences hold ids ≥ V, the skipped bytes do not
    (root / "mg").mkdir()
    good, bad = flat[:3000].astype(np.int32), np.full(3000, 200_000, dtype=np.int32)
    (root / "mg" / "skip.bin").write_bytes(good.tobytes() + bad.tobytes())
    write_idx(root / "mg" / "skip.idx", 4, [1500, 1500], [3000 * 4, 3000 * 4 + 1500 * 4], [0, 1, 2])
    cases["megatron-skip-red"] = contract(
        {"shards": "mg/skip.bin", "vocab_size": 151665}, "shard-entropy", {"min_tokens": 100, "min_bits": 0.0, "max_top1_share": 1.0}
    )
    # 2: an index covering half the .bin: the other half is named
    (root / "mg2").mkdir()
    (root / "mg2" / "half.bin").write_bytes(flat[:4000].astype(np.int32).tobytes())
    write_idx(root / "mg2" / "half.idx", 4, [1000, 1000], [0, 4000], [0, 1, 2])
    cases["megatron-half-red"] = contract({"shards": "mg2/half.bin", "vocab_size": 151665}, "shard-integrity")

    # 3: 25 documents run together, one separator at the very end, no documents declared: none counted;
    # and a shard written three times over with no separator in it: one "document"
    from harness.demo.pipeline import vocab_dir

    shutil.copy(vocab_dir() / "tokenizer.json", root / "vocab" / "tokenizer.json")
    (root / "together").mkdir()
    np.save(root / "together" / "a.npy", np.concatenate([flat[:30000], [QWEN_EOS]]).astype(np.uint32))
    cases["boundaries-red"] = contract({"vocab": "vocab/tokenizer.json", "encoder": "byte_level", "shards": "together/*.npy"}, "document-boundaries")
    (root / "flat").mkdir()
    np.save(root / "flat" / "a.npy", np.concatenate([flat[:20000]] * 3))
    cases["duplicates-red"] = contract({"vocab": "vocab/tokenizer.json", "encoder": "byte_level", "shards": "flat/*.npy"}, "duplicate-documents")

    # 4: every train shard shorter than one window, holding ids ≥ the model's vocab
    (root / "split").mkdir()
    for k in range(3):
        np.save(root / "split" / f"train-{k}.npy", np.asarray([5, 6, 200_000, 7], dtype=np.uint32))
    np.save(root / "split" / "val-0.npy", flat[:5000])
    cases["zero-batches-red"] = contract(
        {
            "vocab_size": 151665,
            "shards": "split/*.npy",
            "splits": {"train": "split/train-*.npy", "val": "split/val-*.npy"},
            "seq_len": 64,
            "batch_size": 4,
            "model_vocab_size": 151665,
        },
        "model-vocab-fit",
    )

    # 5: a full-scan claim judged from a sample
    (root / "healthy").mkdir()
    np.save(root / "healthy" / "a.npy", flat)
    cases["full-scan-red"] = contract(
        {"shards": "healthy/*.npy", "vocab_size": 151665}, "shard-entropy", {"sample": 20000, "min_tokens": 1000}, extra="  full_scan: true"
    )
    # 15: sample 0 / confidence 1 are usage errors, never a verdict
    cases["sample-zero"] = contract({"shards": "healthy/*.npy", "vocab_size": 151665}, "shard-entropy", {"sample": 0})
    cases["confidence-one"] = contract({"shards": "healthy/*.npy", "vocab_size": 151665}, "shard-entropy", {"sample": 1000, "confidence": 1})
    # 15: a shard concatenated from two widths: uint16 ids, then uint32 ids appended as their bytes
    (root / "widths").mkdir()
    small = (flat[:80_000] % 60_000).astype(np.uint16)
    wide = flat[80_000:160_000].astype(np.uint32)
    (root / "widths" / "a.bin").write_bytes(small.tobytes() + wide.tobytes())
    (root / "widths" / "a.json").write_text(json.dumps({"dtype": "uint16", "vocab_size": 65536}))
    cases["two-widths-red"] = contract({"shards": "widths/a.bin", "vocab_size": 65536}, "shard-integrity")

    # 8: a folder of shards holding a symlink that leads out of the project
    outside = root.parent / "outside"
    outside.mkdir()
    np.save(outside / "b.npy", flat[:3000])
    (root / "linked").mkdir()
    np.save(root / "linked" / "a.npy", flat[:3000])
    (root / "linked" / "b.npy").symlink_to(outside / "b.npy")
    cases["folder-symlink-out"] = contract({"shards": "linked", "vocab_size": 151665}, "shard-integrity")
    # 8: a datasets folder whose state.json names a file outside
    (root / "ds").mkdir()
    (root / "ds" / "state.json").write_text(json.dumps({"_data_files": [{"filename": "../../outside/data.arrow"}]}))
    (root / "ds" / "dataset_info.json").write_text("{}")
    cases["state-json-out"] = contract({"shards": "ds", "vocab_size": 151665}, "shard-integrity")
    # 15: a dataset_dict.json whose split is the folder itself
    (root / "dd").mkdir()
    (root / "dd" / "dataset_dict.json").write_text(json.dumps({"splits": ["."]}))
    cases["dataset-dict-dot"] = contract({"shards": "dd", "vocab_size": 151665}, "shard-integrity")

    for name, text in cases.items():
        (root / "contracts" / f"{name}.yaml").write_text(text)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\ntestpaths = ['contracts']\n")
    return run_cases(root, list(cases))


# 1 ------------------------------------------------------------------ windows over the whole corpus
def test_vocab_id_agreement_draws_its_windows_over_every_shard(outcomes):
    measurements = check(outcomes, "agree80-red", "FALSIFIED", "another tokenizer")
    assert measurements["canonical_share"] < 0.5


def test_vocab_id_agreement_passes_a_healthy_eos_separated_stream(outcomes):
    """Windows never span a special id: the healthy openwebtext pattern (EOS after each document)
    is green. Red before the fix as a false alarm (windows holding the EOS failed)."""
    measurements = check(outcomes, "agree-eos-green", "DISCHARGED")
    assert measurements["canonical_share"] > 0.95


@pytest.mark.parametrize("seed", range(1, 12))
def test_the_eos_separated_stream_stays_green_whatever_windows_are_drawn(outcomes, seed):
    """Issue #40's seed sweep on this healthy pipeline: 12 draws of windows (seed 0 above), none red."""
    assert check(outcomes, f"agree-eos-seed-{seed}", "DISCHARGED")["canonical_share"] > 0.95


# 2 ------------------------------------------------------------------ Megatron read as Megatron reads it
def test_a_megatron_index_is_read_where_its_pointers_say(outcomes):
    check(outcomes, "megatron-skip-red", "FALSIFIED", "outside the vocab")


def test_bytes_no_megatron_sequence_covers_are_named(outcomes):
    check(outcomes, "megatron-half-red", "FALSIFIED", "lie in no sequence")


def test_the_reader_yields_what_megatrons_own_reader_yields_for_skipping_pointers(tmp_path):
    """Megatron's ``IndexedDataset`` on an index whose pointers skip and reorder sequences: the
    harness's stream is the concatenation of what it yields (green before and after: the reader's
    sequences; red before: the stream)."""
    pytest.importorskip("megatron.core")
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    from harness.checks.shards import describe_shard

    ids = np.arange(10_000, dtype=np.int32)
    (tmp_path / "c.bin").write_bytes(ids.tobytes())
    lengths, pointers = [100, 300, 50, 7], [4000, 800, 20_000, 0]
    write_idx(tmp_path / "c.idx", 4, lengths, pointers, [0, 2, 4])
    theirs = IndexedDataset(str(tmp_path / "c"), mmap=True)
    expected = np.concatenate([np.asarray(theirs[i]) for i in range(len(theirs))])
    shard, problems = describe_shard(tmp_path / "c.bin")
    assert np.array_equal(np.asarray(shard.open()[0 : shard.count]), expected)
    assert any("lie in no sequence" in p for p in problems)
    assert list(shard.document_bounds()) == [(0, 400), (400, 457)]


# 3 ------------------------------------------------------------------ documents it can tell apart
def test_document_builtins_never_discharge_on_documents_they_cannot_tell_apart(outcomes):
    check(outcomes, "boundaries-red", "METHODOLOGY_SUSPECT", None)
    check(outcomes, "duplicates-red", "METHODOLOGY_SUSPECT", None)


# 4 ------------------------------------------------------------------ zero batches is never a pass
def test_a_split_that_yields_no_batch_is_never_judged_a_pass(outcomes):
    check(outcomes, "zero-batches-red", "FALSIFIED", "yield no batch")


# 5 ------------------------------------------------------------------ full_scan is the run's rule too
def test_a_full_scan_claim_judged_from_a_sample_is_never_written_discharged(outcomes):
    check(outcomes, "full-scan-red", "METHODOLOGY_SUSPECT")


# 15 ------------------------------------------------------------------ the smaller routes
def test_sample_zero_and_confidence_one_are_usage_errors(outcomes):
    for case in ("sample-zero", "confidence-one"):
        status, record = outcomes[case]
        assert status in (None, "OPEN") and record == {}, (case, status)
    assert "sample must be a positive count" in outcomes["<stdout>"]


def test_a_shard_of_two_widths_is_caught_past_its_head(outcomes):
    check(outcomes, "two-widths-red", "FALSIFIED", "look like uint32 ids")


def test_a_dataset_dict_naming_itself_is_a_clear_error(outcomes):
    assert outcomes["dataset-dict-dot"][0] in (None, "OPEN")
    assert "RecursionError" not in outcomes["<stdout>"]
    assert "splits must be folder names" in outcomes["<stdout>"]


def test_mds_and_litdata_sizes_past_the_record_are_errors_not_clipped(tmp_path):
    from harness.checks import ArtifactError
    from harness.checks.framing import check_fields

    offsets = np.asarray([8, 40, 60], dtype=np.int64)
    check_fields(tmp_path, "sample", offsets, np.asarray([12, 44]), np.asarray([28, 16]))  # exactly to each end: fine
    with pytest.raises(ArtifactError, match="past the record's end"):
        check_fields(tmp_path, "sample", offsets, np.asarray([12, 44]), np.asarray([28, 64]))


# 8 ------------------------------------------------------------------ every file a reader opens stays inside
def test_a_folder_shard_that_leads_out_is_refused(outcomes):
    for case in ("folder-symlink-out", "state-json-out"):
        assert outcomes[case][0] in (None, "OPEN"), case
    assert "outside the repository" in outcomes["<stdout>"] or "resolves through a symlink" in outcomes["<stdout>"]


# 9 ------------------------------------------------------------------ file:// globs
def test_a_file_url_glob_through_a_symlink_out_is_refused(tmp_path):
    pytest.importorskip("upath")
    from harness.contract.subjects import SubjectError, expand

    root = new_project(tmp_path / "p")
    (tmp_path / "outside").mkdir()
    np.save(tmp_path / "outside" / "s.npy", np.arange(10, dtype=np.uint16))
    (root / "data").mkdir()
    np.save(root / "data" / "in.npy", np.arange(10, dtype=np.uint16))
    assert expand(root, [f"file://{root}/data/*.npy"])
    (root / "data" / "s.npy").symlink_to(tmp_path / "outside" / "s.npy")  # matched by the wildcard, not named by the pattern
    with pytest.raises(SubjectError, match="symlink"):
        expand(root, [f"file://{root}/data/*.npy"])


# 6 ------------------------------------------------------------------ folder subjects in the fingerprint
def test_a_folder_subject_and_a_megatron_prefix_are_in_the_fingerprint(tmp_path):
    from harness.identity import artifact_identity

    root = new_project(tmp_path)
    (root / "ds").mkdir()
    np.save(root / "ds" / "a.npy", np.arange(100, dtype=np.uint32))
    (root / "mg").mkdir()
    (root / "mg" / "corpus_text_document.bin").write_bytes(np.arange(10, dtype=np.int32).tobytes())
    write_idx(root / "mg" / "corpus_text_document.idx", 4, [10], [0], [0, 1])
    spec = {"shards": ["ds", "mg/corpus_text_document"]}
    before = artifact_identity(root, spec)
    assert any("ds/a.npy" in k for k in before) and any(k.endswith(".idx") for k in before), before
    np.save(root / "ds" / "a.npy", np.arange(100, dtype=np.uint32) + 200_000)  # rewritten in place
    middle = artifact_identity(root, spec)
    assert middle != before
    write_idx(root / "mg" / "corpus_text_document.idx", 4, [5], [0], [0, 1])
    assert artifact_identity(root, spec) != middle


# 7 ------------------------------------------------------------------ pytest's pythonpath ini key
def test_a_module_found_through_pytests_pythonpath_is_in_the_fingerprint(tmp_path):
    from harness.fingerprint import current_fingerprint

    root = new_project(tmp_path)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\npythonpath = ['src']\n")
    (root / "src" / "mymodel").mkdir(parents=True)
    (root / "src" / "mymodel" / "__init__.py").write_text("SIZE = 1\n")
    (root / "falsifiers" / "test_m.py").write_text("import mymodel\n\n\ndef test_m(falsifier):\n    assert mymodel.SIZE\n")
    (root / "contracts" / "c.yaml").write_text("metadata:\n  version: 1.0.0\nfalsification_tests:\n- id: F-1\n  test: falsifiers/test_m.py::test_m\n")
    (root / "lib").mkdir()
    (root / "lib" / "other.py").write_text("X = 1\n")

    def now():
        c = load_contract(root / "contracts" / "c.yaml", root=root)[0]
        return current_fingerprint(root, c, c.falsifier("F-1"))

    before = now()
    (root / "src" / "mymodel" / "__init__.py").write_text("SIZE = 2\n")
    assert now() != before
    # pytest 9's own files and the native [tool.pytest] table are read the same way
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "pytest.toml").write_text("[pytest]\npythonpath = ['src']\n")
    again = now()
    (root / "src" / "mymodel" / "__init__.py").write_text("SIZE = 3\n")
    assert now() != again


# 16 ------------------------------------------------------------------ pytest 9's config files
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.toml", "[pytest]\nharness_contracts = 'claims'\n"),
        (".pytest.toml", "[pytest]\nharness_contracts = 'claims'\n"),
        ("pyproject.toml", "[tool.pytest]\nharness_contracts = 'claims'\n"),
        (".pytest.ini", "[pytest]\nharness_contracts = claims\n"),
    ],
)
def test_the_cli_reads_the_layout_from_pytest_9s_config_files(tmp_path, name, text):
    from harness.snapshot import read_layout

    (tmp_path / name).write_text(text)
    (tmp_path / "tox.ini").write_text("[pytest]\nharness_contracts = other\n")  # later in pytest's order
    assert read_layout(tmp_path).contracts == "claims"


# 10 ------------------------------------------------------------------ prune stays inside
def test_evidence_prune_never_deletes_through_a_symlinked_evidence_folder(tmp_path):
    root = new_project(tmp_path / "p")
    (root / "contracts" / "c.yaml").write_text("metadata:\n  version: 1.0.0\nfalsification_tests:\n- id: F-1\n  test: external text\n")
    elsewhere = tmp_path / "elsewhere"
    for run in ("20260101T000000Z-a1b2c3", "20260102T000000Z-b2c3d4", "20260103T000000Z-c3d4e5"):
        (elsewhere / "c" / run).mkdir(parents=True)
        (elsewhere / "c" / run / "results.json").write_text("{}")
    (root / "evidence").symlink_to(elsewhere)
    proc = cli(root, "evidence", "prune", "--keep", "0")
    assert "Traceback" not in proc.stderr
    assert len(list((elsewhere / "c").iterdir())) == 3, proc.stdout


# 12 ------------------------------------------------------------------ the contract's own project
def test_a_contract_belongs_to_the_project_pytest_would_find(tmp_path):
    from harness.snapshot import contract_root

    bare = tmp_path / "bare"  # no pyproject.toml, no .git
    (bare / "contracts").mkdir(parents=True)
    assert contract_root(bare / "contracts" / "c.yaml") == bare
    mono = tmp_path / "mono"
    (mono / "ml" / "contracts").mkdir(parents=True)
    (mono / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    (mono / ".git").mkdir()
    assert contract_root(mono / "ml" / "contracts" / "c.yaml") == mono / "ml"
    (mono / "pytest.ini").write_text("[pytest]\nharness_contracts = ml/contracts\n")
    assert contract_root(mono / "ml" / "contracts" / "c.yaml") == mono


# 17 ------------------------------------------------------------------ init binds what can run
def test_init_binds_no_document_builtin_it_cannot_run(tmp_path):
    root = new_project(tmp_path)
    (root / "vocab").mkdir()
    (root / "vocab" / "vocab.json").write_text(json.dumps({chr(c): i for i, c in enumerate(range(33, 127))} | {"<|endoftext|>": 94}))
    (root / "data").mkdir()
    np.save(root / "data" / "s.npy", np.arange(90, dtype=np.uint16))
    proc = cli(root, "init", "--vocab", "vocab/vocab.json", "--encoder", "byte_level", "--shards", "data/*.npy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (root / "contracts" / "pipeline-v1.yaml").read_text()
    for builtin in ("document-boundaries", "duplicate-documents", "document-lengths", "vocab-id-agreement"):
        assert f"builtin:{builtin}" not in text, builtin


# ---------------------------------------------------------------------------------------------
# Tripwires (routes 11-14): a real torch model in a plain loop

TRIPWIRE_CONTRACT = """\
metadata:
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: F-ENTROPY
  test: builtin:shard-entropy
  subject: training_run
- id: F-CAUSAL
  test: builtin:causal-mask
  subject: training_run
- id: F-FIT
  test: builtin:model-vocab-fit
  subject: training_run
"""


class TinyLM:
    """A real two-layer torch LM (embedding → linear), built on demand."""

    def __new__(cls, vocab: int = 64):
        import torch

        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Embedding(vocab, 16), torch.nn.Linear(16, vocab))


def degenerate_batches(n: int = 12):
    import torch

    for _ in range(n):
        ids = torch.full((4, 32), 3, dtype=torch.long)
        yield {"input_ids": ids, "labels": ids}


def healthy_batches(n: int = 12, vocab: int = 64):
    import torch

    g = torch.Generator().manual_seed(1)
    for _ in range(n):
        ids = torch.randint(0, vocab, (4, 32), generator=g)
        yield {"input_ids": ids, "labels": ids}


def tripwire_project(root: Path, text: str = TRIPWIRE_CONTRACT) -> Path:
    (root / "contracts").mkdir(parents=True, exist_ok=True)
    (root / "contracts" / "c.yaml").write_text(text)
    return root / "contracts" / "c.yaml"


def status_in(path: Path, fid: str):
    c = load_contract(path, root=path.parent.parent)[0]
    return c.falsifier(fid).status


# 11
def test_a_trip_in_warn_mode_is_recorded_when_it_happens_even_if_training_crashes(tmp_path):
    from harness.tripwires import Tripwire

    path = tripwire_project(new_project(tmp_path))
    tripwire = Tripwire(path, on_falsified="warn")
    with pytest.warns(UserWarning, match="FALSIFIED"):
        tripwire.before_training(model=TinyLM(), train_loader=list(degenerate_batches()))
    with pytest.raises(RuntimeError):
        for step in range(5):
            tripwire.on_loss(step, 2.0)
            if step == 3:
                raise RuntimeError("the run crashed")  # no finish() ever called
    assert status_in(path, "F-ENTROPY") == "FALSIFIED"


# 12
def test_a_tripwire_writes_into_the_contracts_own_project(tmp_path):
    from harness.tripwires import Tripwire

    bare = tmp_path / "bare"  # no pyproject.toml, no .git
    path = tripwire_project(bare)
    Tripwire(path, on_falsified="warn").before_training(model=TinyLM(), train_loader=list(degenerate_batches()))
    assert status_in(path, "F-ENTROPY") == "FALSIFIED"
    assert (bare / "evidence" / "c").is_dir() and not (bare / "contracts" / "evidence").exists()


# 13
def test_the_tripwire_takes_no_batch_from_a_one_shot_loader(tmp_path):
    from harness.tripwires import Tripwire

    path = tripwire_project(new_project(tmp_path))
    tripwire = Tripwire(path, write=False)
    loader = healthy_batches(12)
    tripwire.before_training(model=TinyLM(), train_loader=loader)
    assert len(list(loader)) == 12  # the run still gets every batch
    watched = tripwire.watch(healthy_batches(12))
    fresh = Tripwire(path, write=False)
    fresh.before_training(model=TinyLM(), train_loader=watched)
    assert "F-ENTROPY" in fresh.verdicts and fresh.verdicts["F-ENTROPY"][0].passed is not None
    assert len(list(watched)) == 12  # read ahead and handed back


# 14
def test_a_huge_id_or_a_probe_that_breaks_never_crashes_the_run(tmp_path):
    import torch

    from harness.tripwires import Tripwire

    path = tripwire_project(new_project(tmp_path))
    ids = torch.randint(0, 64, (4, 32))
    ids[0, 0] = 1 << 40
    tripwire = Tripwire(path, write=False, on_falsified="warn")
    with pytest.warns(UserWarning):
        tripwire.before_training(model=TinyLM(), train_loader=[{"input_ids": ids, "labels": ids}] * 4)
    assert tripwire.verdicts["F-FIT"][0].passed is False  # named by model-vocab-fit, not a crash

    class BreaksInEval(torch.nn.Module):
        """A forward that fails where the probe calls it (eval mode, no grad): a real bug of a real
        model, which must not become a crash of the run the tripwire guards."""

        def __init__(self):
            super().__init__()
            self.inner = TinyLM()

        def forward(self, idx):
            if not self.training:
                raise RuntimeError("no kernel for this dtype in eval mode")
            return self.inner(idx)

    tripwire = Tripwire(path, write=False)
    tripwire.before_training(model=BreaksInEval(), train_loader=list(healthy_batches(4)))
    verdict = tripwire.verdicts["F-CAUSAL"][0]
    assert verdict.passed is None and "could not run" in verdict.message


# ---------------------------------------------------------------------------------------------
# The gate blocks what is refuted or could not be judged (#39, item 4)


def test_the_gate_fails_a_falsified_claim_unless_tracked_on_purpose(tmp_path):
    from harness.cli.gate import run_gate
    from tests.test_gate import CONTRACT, make_value_repo

    repo = make_value_repo(tmp_path, CONTRACT)
    (repo / "data" / "value.txt").write_text("30")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "falsifiers"], cwd=repo, capture_output=True, check=False)
    assert status_in(repo / "contracts" / "c-v1.yaml", "F-VALUE-001") == "FALSIFIED"
    result = run_gate(repo)
    assert not result.passed and any(p.check == "falsified" for p in result.problems), [p.render() for p in result.problems]
    assert run_gate(repo, allow_falsified=True).passed
    (repo / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\nharness_allow_falsified = true\n")
    assert run_gate(repo).passed
    proc = cli(repo, "gate", "--no-run")
    assert proc.returncode == 0, proc.stdout


def test_the_gate_fails_when_its_own_run_could_not_judge_a_claim(tmp_path):
    from harness.cli.gate import run_gate
    from tests.test_gate import CONTRACT, make_value_repo

    repo = make_value_repo(tmp_path, CONTRACT)
    (repo / "data" / "value.txt").write_text("not a number")  # the falsifier now errors: no verdict either way
    result = run_gate(repo)
    assert not result.passed
    assert any("could not be judged" in p.reason for p in result.problems), [p.render() for p in result.problems]


def test_a_conftest_that_edits_sys_path_is_named_by_lint(tmp_path):
    """Where the harness cannot resolve imports the way the run does (a conftest's sys.path
    insert), lint says so (route 7's other half)."""
    root = new_project(tmp_path)
    (root / "conftest.py").write_text("import sys\nsys.path.insert(0, 'vendor')\n")
    (root / "falsifiers" / "test_m.py").write_text("def test_m(falsifier):\n    assert True\n")
    (root / "contracts" / "c.yaml").write_text(
        "metadata:\n  version: 1.0.0\n  status: DRAFT\nfalsification_tests:\n- id: F-1\n  test: falsifiers/test_m.py::test_m\n"
    )
    proc = cli(root, "lint")
    assert "unfingerprinted-import-path" in proc.stdout and "conftest.py:2" in proc.stdout, proc.stdout
    assert proc.returncode == 0  # a warning: it says what the fingerprint cannot follow, it backs no claim

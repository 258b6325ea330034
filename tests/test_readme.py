"""The README's snippets, run as written: "Use it in your repo" (init, pytest, gate) on a real
pipeline laid out at the paths the README names, then "Writing a falsifier" bound into it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.snapshot import load_contract

pytestmark = pytest.mark.slow  # runs by default; `-m 'not slow'` leaves it out of a quick loop

README = (Path(__file__).parent.parent / "README.md").read_text()


def block(after_heading: str, language: str, index: int = 0) -> str:
    section = README.split(after_heading, 1)[1]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)[index]


def healthy_pipeline_at_readme_paths(root: Path) -> None:
    """tokenizer/tokenizer.json (the real Qwen2.5 tokenizer), data/raw/**/*.txt, data/shards/*.npy."""
    import numpy as np
    from tokenizers import Tokenizer

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir

    (root / "tokenizer").mkdir()
    shutil.copy(vocab_dir() / "tokenizer.json", root / "tokenizer" / "tokenizer.json")
    # a healthy pipeline deduplicates: Python 3.12's stdlib holds identical modules (__phello__'s),
    # which duplicate-documents rightly flags in a corpus this small
    docs = list({text: (name, text) for name, text in stdlib_documents(800_000)}.values())
    for name, text in docs:
        path = root / "data" / "raw" / (name[:-3] + ".txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    tok = Tokenizer.from_file(str(root / "tokenizer" / "tokenizer.json"))
    eos = tok.token_to_id("<|endoftext|>")  # after each document, as a pretraining pipeline writes (document-boundaries)
    ids = [i for e in tok.encode_batch([t for _, t in docs], add_special_tokens=False) for i in [*e.ids, eos]]
    (root / "data" / "shards").mkdir(parents=True)
    np.save(root / "data" / "shards" / "part-0.npy", np.asarray(ids, dtype=np.uint32))


def sh(root: Path, line: str) -> subprocess.CompletedProcess:
    words = shlex.split(line.split("#", 1)[0])
    if words[0] == "harness":
        words = [sys.executable, "-m", "harness", *words[1:]]
    elif words[0] == "pytest":
        words = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *words[1:]]
    return subprocess.run(words, cwd=root, capture_output=True, text=True, check=False)


def test_use_it_in_your_repo_as_the_readme_says(tmp_path):
    healthy_pipeline_at_readme_paths(tmp_path)
    commands = [line for line in block("## Use it in your repo", "bash").splitlines() if line.strip() and not line.startswith("pip ")]
    assert [c.split()[0] for c in commands] == ["harness", "pytest", "harness"]
    for line in commands:
        proc = sh(tmp_path, line)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"
    contract = load_contract(tmp_path / "contracts" / "pipeline-v1.yaml", root=tmp_path)[0]
    assert contract.status == "ACTIVE_RUNTIME"
    assert {f.builtin for f in contract.falsifiers} == {
        "vocab-format",
        "tokenizer-roundtrip",
        "shard-integrity",
        "shard-entropy",
        "vocab-id-agreement",
        "document-boundaries",
        "duplicate-documents",
        "document-lengths",
        "documents-intact",
    }

    # "Writing a falsifier": the module and its binding, as printed
    (tmp_path / "falsifiers").mkdir()
    module = block("### Writing a falsifier", "python")
    (tmp_path / module.splitlines()[0].lstrip("# ").strip()).write_text(module)
    entry = block("### Writing a falsifier", "yaml").split("\n", 1)[1]
    path = tmp_path / "contracts" / "pipeline-v1.yaml"
    path.write_text(path.read_text() + entry)
    proc = sh(tmp_path, "pytest")
    assert proc.returncode == 0, proc.stdout[-3000:]
    mine = load_contract(path, root=tmp_path)[0].falsifier("FALSIFY-MY-ENTROPY-001")
    assert mine.status == "DISCHARGED"
    assert sh(tmp_path, "harness gate").returncode == 0

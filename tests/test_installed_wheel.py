"""As a new user would: build the wheel, install it into a fresh venv, and in an empty directory
outside the checkout run ``harness demo`` and ``harness init`` + ``pytest`` on real pipelines.

The fresh venv has only the wheel installed; its dependencies (torch, tokenizers, …) come from the
test environment through a ``.pth`` line, so nothing is downloaded and nothing of the checkout
(``conftest.py``, ``falsifiers/``, the editable install) is visible to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from harness.snapshot import load_contract
from tests import artifacts

pytestmark = pytest.mark.slow  # runs by default; `-m 'not slow'` leaves it out of a quick loop

REPO = Path(__file__).parent.parent


def clean_env(venv: Path) -> dict:
    """The environment of a user's shell with that venv first: no PYTHONPATH (a runner may point it
    at the checkout), no traces of the pytest session running this test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_in(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False, env=clean_env(venv), timeout=900)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built once per session: xdist workers building it from the same tree at once
    collide on its build/ and egg-info folders, so they take turns under a lock and share it."""
    from filelock import FileLock

    base_temp = tmp_path_factory.getbasetemp()
    shared = base_temp.parent if os.environ.get("PYTEST_XDIST_WORKER") else base_temp  # this session's folder, every worker's
    with FileLock(str(shared / "wheel.lock")):
        base = shared / "dist"
        found = sorted(base.glob("falsifier_harness-*.whl"))
        if found:
            return found[0]
        build = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(base), str(REPO)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert build.returncode == 0, build.stderr
        return next(base.glob("falsifier_harness-*.whl"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A venv with the freshly built wheel installed (and the test env's dependencies visible)."""
    base = tmp_path_factory.mktemp("wheel")
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    )
    # the wheel first, into a venv that sees nothing else (pip must not find another install)
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall", str(wheel)],
        env=clean_env(env_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    # then the test environment's dependencies (site-packages, PYTHONPATH entries), after the venv's
    # own site-packages (so its harness wins over any copy there), never the checkout itself
    visible = [p for p in sys.path if p and Path(p).is_dir() and Path(p).resolve() != REPO.resolve()]
    (site / "_test_env_dependencies.pth").write_text("\n".join(dict.fromkeys([sysconfig.get_paths()["purelib"], *visible])) + "\n")
    where = subprocess.run(
        [python, "-c", "import harness, harness.falsifiers.shards; print(harness.__file__)"],
        cwd=base,
        env=clean_env(env_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(site) in where.stdout, (
        f"harness imported from {where.stdout}, not the installed wheel; venv path: {(site / '_test_env_dependencies.pth').read_text()}"
    )
    return env_dir


def statuses(root: Path) -> dict:
    contract, findings = load_contract(root / "contracts" / "pipeline-v1.yaml", root=root, contracts_dir=root / "contracts")
    assert contract is not None, findings
    return {"<contract>": contract.status, **{f.id: f.status for f in contract.falsifiers}}


def test_the_wheel_ships_the_falsifiers_the_demo_and_the_schema(wheel):
    import zipfile

    from harness.builtins import BUILTINS

    names = set(zipfile.ZipFile(wheel).namelist())
    for builtin in BUILTINS.values():
        assert builtin.module.replace(".", "/") + ".py" in names, builtin
    assert {"harness/demo/fixtures.py", "harness/demo/pipeline.py", "harness/schema/contract.schema.json", "harness/subjects/declarative.py"} <= names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "harness = harness.plugin" in entry_points and "harness = harness.cli:main" in entry_points


def test_demo_runs_from_the_installed_wheel_anywhere(venv, tmp_path):
    proc = run_in(venv, tmp_path, "harness", "demo", "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    acts = json.loads(proc.stdout)
    assert acts["broken"]["contract_status"] == "FALSIFIED"
    assert all(f["status"] == "DISCHARGED" for f in acts["fixed"]["falsifiers"].values())
    assert not (tmp_path / "conftest.py").exists() and not (tmp_path / "falsifiers").exists()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "healthy_cl100k",
            {
                "<contract>": "ACTIVE_RUNTIME",
                "FALSIFY-VOCAB-FORMAT-001": "DISCHARGED",
                "FALSIFY-SHARD-ENTROPY-001": "DISCHARGED",
                "FALSIFY-VOCAB-ID-AGREEMENT-001": "DISCHARGED",
                "FALSIFY-SPLIT-OVERLAP-001": "DISCHARGED",
                "FALSIFY-EVAL-COVERAGE-001": "DISCHARGED",
                "FALSIFY-LOSS-MASK-001": "DISCHARGED",
                "FALSIFY-MODEL-VOCAB-FIT-001": "DISCHARGED",
            },
        ),
        ("leaky_cl100k", {"<contract>": "FALSIFIED", "FALSIFY-SPLIT-OVERLAP-001": "FALSIFIED", "FALSIFY-LOSS-MASK-001": "DISCHARGED"}),
        ("incident_qwen", {"<contract>": "FALSIFIED", "FALSIFY-VOCAB-FORMAT-001": "FALSIFIED", "FALSIFY-SHARD-ENTROPY-001": "FALSIFIED"}),
        ("incident_run", {"<contract>": "FALSIFIED", "FALSIFY-METRIC-PLAUSIBILITY-001": "FALSIFIED"}),
    ],
)
def test_init_then_pytest_on_your_own_pipeline(venv, tmp_path, case, expected):
    declared = getattr(artifacts, case)(tmp_path)
    args = ["harness", "init"]
    for flag in ("vocab", "encoder", "shards", "documents", "run", "split"):
        for value in declared.get(flag, []) if flag == "split" else [declared[flag]] if flag in declared else []:
            args += [f"--{flag}", value]
    init = run_in(venv, tmp_path, *args)
    assert init.returncode == 0, init.stderr
    again = run_in(venv, tmp_path, *args)
    assert again.returncode == 2 and "never overwrites" in again.stderr
    run = run_in(venv, tmp_path, "python", "-m", "pytest", "-p", "no:cacheprovider")
    assert "Traceback" not in run.stdout + run.stderr or "AssertionError" in run.stdout, run.stdout[-3000:]
    got = statuses(tmp_path)
    for key, status in expected.items():
        assert got[key] == status, f"{case}: {key} is {got[key]}, expected {status}\n{run.stdout[-3000:]}"
    if expected["<contract>"] == "ACTIVE_RUNTIME":
        assert all(v == "DISCHARGED" for k, v in got.items() if k != "<contract>"), got
    lint = run_in(venv, tmp_path, "harness", "lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_a_tripwire_from_the_installed_wheel_stops_the_incident_in_a_users_loop(venv, tmp_path):
    """``harness init --tripwire loop`` in an empty directory, then docs/tripwires.md's set-up and
    loop with the incident's hex-byte encoder planted: the run stops at step 0 and the contract
    records vocab-format and shard-entropy FALSIFIED; the healthy set-up trains to the end."""
    pytest.importorskip("transformers")
    import re

    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "tripwires.md").read_text(), re.S)
    setup, loop = blocks[0], blocks[1]
    (tmp_path / "pyproject.toml").write_text("[project]\nname='mine'\n")
    init = run_in(venv, tmp_path, "harness", "init", "--tripwire", "loop")
    assert init.returncode == 0, init.stderr
    assert "from harness.tripwires import Tripwire" in init.stdout
    contract = tmp_path / "contracts" / "pipeline-v1.yaml"
    healthy = tmp_path / "healthy.py"
    healthy.write_text(setup + "\n" + loop)
    run = run_in(venv, tmp_path, "python", str(healthy))
    assert run.returncode == 0, run.stderr[-3000:]
    hex_bytes = (  # the incident's encoder: hex-byte strings looked up in the byte-level Qwen vocab
        "vocab = tokenizer.get_vocab()\n"
        "ids = [vocab.get(f'{b:02x}', tokenizer.eos_token_id) for _, text in stdlib_documents(max_bytes=200_000) for b in text.encode()]\n"
    )
    incident = tmp_path / "incident.py"
    incident.write_text(setup.replace("rng = random.Random(0)\n", hex_bytes + "rng = random.Random(0)\n") + "\n" + loop)
    run = run_in(venv, tmp_path, "python", str(incident))
    assert run.returncode != 0 and "harness tripwire FALSIFIED at step 0" in run.stderr
    text = contract.read_text()
    for builtin in ("VOCAB-FORMAT", "SHARD-ENTROPY"):
        assert re.search(rf"id: FALSIFY-LIVE-{builtin}-\d+\n(?:  .*\n)*?  status: FALSIFIED", text), text
    assert "site-packages" in run_in(venv, tmp_path, "python", "-c", "import harness; print(harness.__file__)").stdout


@pytest.mark.parametrize("kind", ["mds", "parquet", "megatron"])
def test_init_then_pytest_on_the_data_your_stack_writes(venv, tmp_path, kind):
    """From the installed wheel, on shards written by the format's own writer: ``init`` recognises
    the format from the glob alone and binds the data and document built-ins; a healthy corpus
    discharges them all, one written twice over falsifies duplicate-documents."""
    import shutil

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir
    from tests import format_writers as fw

    if not fw.available(kind):
        pytest.skip(f"the {kind} writer is not installed")
    from tokenizers import Tokenizer

    (tmp_path / "vocab").mkdir()
    shutil.copy(vocab_dir() / "tokenizer.json", tmp_path / "vocab" / "tokenizer.json")
    tok = Tokenizer.from_file(str(tmp_path / "vocab" / "tokenizer.json"))
    eos = tok.token_to_id("<|endoftext|>")
    texts = [t for _, t in stdlib_documents(max_bytes=6_000_000) if len(t) < 12_000][:170]  # ≥ 1.5·10⁵ ids: shard-entropy needs 10⁵ on either Python's stdlib
    docs = [[*e.ids, eos] for e in tok.encode_batch(texts, add_special_tokens=False)]
    fw.WRITERS[kind](tmp_path / "data" / "healthy", docs)
    fw.WRITERS[kind](tmp_path / "data" / "twice", docs + docs)
    for name in ("healthy", "twice"):
        init = run_in(
            venv, tmp_path, "harness", "init", "--name", name, "--vocab", "vocab/tokenizer.json", "--encoder", "byte_level", "--shards", f"data/{name}/*"
        )
        assert init.returncode == 0, init.stderr
        assert f"format: {kind}" in (tmp_path / "contracts" / f"{name}.yaml").read_text()
    run = run_in(venv, tmp_path, "python", "-m", "pytest", "-p", "no:cacheprovider", "-q")
    for name in ("healthy", "twice"):
        contract, findings = load_contract(tmp_path / "contracts" / f"{name}.yaml", root=tmp_path, contracts_dir=tmp_path / "contracts")
        assert contract is not None, findings
        got = {f.builtin: f.status for f in contract.falsifiers}
        assert {"document-boundaries", "duplicate-documents", "document-lengths", "shard-entropy"} <= set(got), got
        if name == "healthy":
            assert all(s == "DISCHARGED" for s in got.values()), (got, run.stdout[-3000:])
        else:
            assert got["duplicate-documents"] == "FALSIFIED", (got, run.stdout[-3000:])

"""Whole-corpus passes on Ray (``harness.engines``): a local cluster of a head and two worker
nodes (``ray.cluster_utils.Cluster``) gives exactly the single-process counts and integrity
findings on every format the harness reads, and a worker node killed mid-scan is retried by Ray
without a wrong count. The same engine runs from ``harness probe shards --engine ray`` and from
the ini key ``harness_engine = ray`` in a pytest run."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from harness.checks.documents import document_stats
from harness.checks.formats import ShardOptions
from harness.checks.scan import count_shards, range_problems
from harness.checks.shards import describe_shards
from tests import format_writers as fw

ray = pytest.importorskip("ray", reason="the [ray] extra")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

V = 151_665
EOS = 151_643


@pytest.fixture(scope="module")
def cluster():
    """A head that runs no task and two worker nodes of one CPU each: every task crosses a node."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 80 << 20})
    nodes = [cluster.add_node(num_cpus=1, object_store_memory=80 << 20) for _ in range(2)]
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    cluster.wait_for_nodes()
    yield cluster, nodes
    ray.shutdown()
    cluster.shutdown()


def _tokenizer():
    from tokenizers import Tokenizer

    from harness.demo.pipeline import vocab_dir

    return Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))


@pytest.fixture(scope="module")
def documents():
    """Real documents (stdlib modules through the real Qwen2.5 tokenizer, EOS after each) and, last,
    one that holds an id past the vocab: the histogram's out-of-vocab bin and the range check both
    have something to find."""
    from tokenizers import Tokenizer

    from harness.demo.corpus import stdlib_documents
    from harness.demo.pipeline import vocab_dir

    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    texts = [text for _, text in stdlib_documents(max_bytes=400_000)]
    docs = [[*e.ids, EOS] for e in tok.encode_batch(texts, add_special_tokens=False)]
    return [*docs, [17, V + 9, 3, EOS]]


@pytest.mark.parametrize("kind", [k for k in fw.WRITERS if fw.available(k)])
def test_ray_gives_the_single_process_counts_on_every_format(kind, cluster, documents, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glob = fw.WRITERS[kind](tmp_path / kind, documents)
    options = ShardOptions(**fw.DECLARED.get(kind, {}))
    shards, problems, _ = describe_shards([str(tmp_path / glob)], V, options)
    assert shards and not problems
    task_ids = max(1, sum(s.count for s in shards) // 12)  # a dozen tasks or more: both nodes get work
    local, local_failed = count_shards(shards, V, engine="local")
    on_ray, ray_failed = count_shards(shards, V, engine="ray", task_ids=task_ids)
    assert local_failed == ray_failed == []
    assert len(on_ray) == len(local)
    assert all(np.array_equal(a, b) for a, b in zip(local, on_ray))
    assert sum(int(c[V]) for c in on_ray) == 1  # the planted id, counted once
    found = range_problems(shards, V, engine="ray", task_ids=task_ids)
    assert found == range_problems(shards, V, engine="local")
    assert len(found) == 1 and str(V + 9) in found[0]
    from harness.checks.contamination import ContaminationIndex, canonical_table, scan_shards
    from harness.subjects.encoders import HFTokenizerEncoder

    encoder = HFTokenizerEncoder(_tokenizer())
    texts = [_tokenizer().decode(d[:-1][:400]) for d in documents[3:6]]  # three documents' heads: in the shards, found
    index = ContaminationIndex.build([("heads", [(str(k), t) for k, t in enumerate(texts)])], encoder, canonical_table(encoder, V), 13, 2)
    local_found, local_ids, _ = scan_shards(shards, index, engine="local")
    ray_found, ray_ids, ray_failed = scan_shards(shards, index, engine="ray", task_ids=task_ids)
    assert ray_failed == [] and ray_found == local_found and ray_ids == local_ids and local_found
    here, _ = document_stats(shards, EOS, engine="local")
    there, _ = document_stats(shards, EOS, engine="ray")
    assert here.documents == there.documents == len(documents) and here.hashes == there.hashes
    assert here.length_array().tolist() == there.length_array().tolist() and here.sources == there.sources


def test_a_worker_node_killed_mid_scan_is_retried_without_a_wrong_count(cluster, tmp_path):
    cluster, nodes = cluster
    rng = np.random.default_rng(5)
    for k in range(4):
        np.save(tmp_path / f"s{k}.npy", rng.zipf(1.2, 4_000_000).clip(0, V - 1).astype(np.uint32))
    shards, _, _ = describe_shards([str(tmp_path / "*.npy")], V)
    expected, _ = count_shards(shards, V, engine="local")
    finished, killed = [], []

    def progress(ids: int) -> None:  # called on the driver as each task's counts arrive
        finished.append(ids)
        if len(finished) == 3 and not killed:
            victim = nodes[0]
            cluster.remove_node(victim, allow_graceful=False)  # its running tasks die with it
            killed.append(victim)
            nodes.append(cluster.add_node(num_cpus=1, object_store_memory=80 << 20))  # the cluster heals, as an autoscaler would

    counts, failed = count_shards(shards, V, engine="ray", progress=progress, task_ids=250_000)
    assert killed, "the node was never killed: the test proved nothing"
    assert failed == []
    assert all(np.array_equal(a, b) for a, b in zip(expected, counts))
    assert sum(finished) == sum(s.count for s in shards)


def test_a_shard_that_fails_on_a_worker_is_named_and_the_others_are_kept(cluster, tmp_path):
    rng = np.random.default_rng(1)
    for k in range(3):
        np.save(tmp_path / f"s{k}.npy", rng.integers(0, V, 300_000, dtype=np.uint32))
    shards, _, _ = describe_shards([str(tmp_path / "*.npy")], V)
    (tmp_path / "s1.npy").unlink()  # gone between planning and reading, as an object deleted mid-scan
    counts, failed = count_shards(shards, V, engine="ray", task_ids=100_000)
    assert len(failed) == 1 and "s1.npy" in failed[0]
    assert counts[1] is None and all(c is not None and int(c.sum()) == 300_000 for c in (counts[0], counts[2]))

    from harness.checks.passes import IncompleteScan, shard_stats

    class DeleteOnStart:  # the shard vanishes after it was listed and sized, before its ids are read
        def start(self, total):
            (tmp_path / "s2.npy").unlink()

        def advance(self, ids):
            pass

    for engine in ("local", "ray"):
        np.save(tmp_path / "s2.npy", rng.integers(0, V, 300_000, dtype=np.uint32))
        with pytest.raises(IncompleteScan, match=r"s2\.npy"):  # statistics of part of a corpus are never a verdict
            shard_stats([str(tmp_path / "*.npy")], V, engine=engine, progress=DeleteOnStart())


def test_probe_and_pytest_run_on_ray(cluster, documents, tmp_path):
    """``harness probe shards --engine ray --address ADDR`` prints the local numbers; a project with
    ``harness_engine = ray`` discharges its data built-ins on the cluster — and errors, never
    passes, when the cluster it names cannot be reached."""
    import shutil

    from harness.demo.pipeline import vocab_dir

    cluster, _ = cluster
    (tmp_path / "data").mkdir()
    (tmp_path / "vocab").mkdir()
    shutil.copy(vocab_dir() / "tokenizer.json", tmp_path / "vocab" / "tokenizer.json")
    ids = np.concatenate([np.asarray(d, dtype=np.uint32) for d in documents[:-1]])  # healthy: no planted id
    for k, part in enumerate(np.array_split(ids, 2)):
        np.save(tmp_path / "data" / f"s{k}.npy", part)
    args = [sys.executable, "-m", "harness", "probe", "shards", str(tmp_path / "data" / "*.npy"), "--vocab-size", str(V), "--json"]
    local = subprocess.run(args, capture_output=True, text=True, check=False)
    remote = subprocess.run([*args, "--engine", "ray", "--address", cluster.address], capture_output=True, text=True, check=False)
    assert local.returncode == remote.returncode == 0, remote.stderr[-2000:]
    assert local.stdout == remote.stdout

    init = subprocess.run(
        [sys.executable, "-m", "harness", "init", "--vocab", "vocab/tokenizer.json", "--encoder", "byte_level", "--shards", "data/*.npy"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    pytest_run = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "entropy_floor or shard_integrity", "--log-cli-level=INFO"]
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nharness_engine = ray\nharness_engine_address = {cluster.address}\n")
    run = subprocess.run(pytest_run, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "2 passed" in run.stdout and "100% (" in run.stdout  # the progress log, one line per tenth
    (tmp_path / "pytest.ini").write_text("[pytest]\nharness_engine = ray\nharness_engine_address = 127.0.0.1:9\n")
    unreachable = subprocess.run([*pytest_run, "--harness-no-write"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert unreachable.returncode != 0 and "passed" not in unreachable.stdout.splitlines()[-1], unreachable.stdout[-3000:]


def test_short_tasks_travel_to_ray_together_and_each_keeps_its_own_result():
    """Short shards make short tasks, and each Ray task costs milliseconds of dispatch: consecutive
    tasks are gathered up to ``BATCH_IDS`` ids, in order, none split or lost; a task without an id
    count, or one as large as a batch, goes alone; one failing task fails alone inside its batch."""
    from harness.checks.scan import plan
    from harness.engines.on_ray import BATCH_IDS, _in_batch, batches

    class Short:
        def __init__(self, k, count):
            self.path, self.count, self.view, self.options = f"s{k}.npy", count, None, None

    tasks = plan([Short(k, 360_000) for k in range(80)] + [Short(80, 3 * BATCH_IDS)], task_ids=BATCH_IDS)
    grouped = batches(tasks)
    assert [t for batch in grouped for t in batch] == tasks
    assert all(sum(t.ids for t in batch) <= BATCH_IDS for batch in grouped)
    assert len(grouped) == 8 + 3  # 80 short tasks in batches of 11 (8 batches), then three whole ones alone
    loose = [object(), object()]
    assert batches(loose) == [[loose[0]], [loose[1]]]

    def fn(task, offset):
        if task == 2:
            raise ValueError("shard 2 is gone")
        return task + offset

    got = _in_batch(fn, [1, 2, 3], (10,), run=lambda f, task, args: f(task, *args))
    assert got[0] == 11 and got[2] == 13 and isinstance(got[1], ValueError)


def test_a_corpus_of_many_shards_is_counted_holding_one_histogram_not_one_per_shard(tmp_path):
    """``shard_stats`` counts through ``count_corpus``: the same total and out-of-vocab findings as
    per-shard histograms summed, a shard that fails part-way leaves nothing of itself in the
    total, and memory is a histogram for the corpus (and the shards being read), not one per shard:
    200 shards on Qwen2.5's 151,646 ids held 240 MB of histograms before."""
    import tracemalloc

    from harness.checks.scan import count_corpus

    vocab = 151_646
    rng = np.random.default_rng(3)
    for k in range(200):
        ids = rng.integers(0, vocab, 1_000, dtype=np.uint32)
        if k == 7:
            ids[3] = vocab + 5  # one id outside the vocab, in shard 7
        np.save(tmp_path / f"s{k:03d}.npy", ids)
    shards, _, _ = describe_shards([str(tmp_path / "*.npy")], vocab)
    per_shard, failed = count_shards(shards, vocab, engine="local", task_ids=400)
    assert failed == []
    tracemalloc.start()
    total, oov, failed = count_corpus(shards, vocab, engine="local", task_ids=400)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert failed == [] and np.array_equal(total, sum(per_shard))
    assert oov[7] == 1 and sum(oov) == 1
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB held while counting 200 shards"

    (tmp_path / "s100.npy").unlink()  # gone between planning and reading
    total, oov, failed = count_corpus(shards, vocab, engine="local", task_ids=400)
    assert len(failed) == 1 and "s100.npy" in failed[0] and oov[100] is None
    assert int(total.sum()) == 199 * 1_000 and np.array_equal(total, sum(c for k, c in enumerate(per_shard) if k != 100))


def test_a_huge_scan_makes_a_bounded_number_of_tasks():
    """Each task sends a vocabulary-sized histogram to the driver: a 40 TB scan (10¹³ ids) in 64 Mi-id
    tasks would send 187 GB. Tasks grow with the scan so it makes at most ``MAX_TASKS`` — where its
    shards are large enough to be cut that coarsely (a shard is never joined to another)."""
    from harness.checks.scan import MAX_TASKS, TASK_IDS, default_task_ids, plan

    class Big:
        def __init__(self, k, count):
            self.path, self.count, self.view, self.options = f"s{k}.bin", count, None, None

    shards = [Big(k, 10**13 // 100) for k in range(100)]
    for on_ray in (False, True):
        size = default_task_ids(on_ray, sum(s.count for s in shards))
        assert len(plan(shards, size)) <= MAX_TASKS + len(shards)  # at most one short tail task per shard
    assert default_task_ids(False, 10**8) >= TASK_IDS  # a small scan keeps tasks sized to the cores

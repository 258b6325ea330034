"""A training run's tripwire: the contract's built-in falsifiers, run on the run's live objects.

``Tripwire`` is framework-free; the Hugging Face and Lightning callbacks call it. Before the first
step it reads the first batches the run's own loaders yield and probes the model; during the run
it judges every logged loss and every eval. A FALSIFIED check stops the run (or raises, or warns:
``on_falsified``), and at the end its verdicts are written to the contract exactly as a pytest
run writes them (``harness.recording``): same ledger, fingerprints, evidence. A tripwire only
ever falsifies: a check that passed in one run is evidence about that run, never a discharge.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time
import warnings
from pathlib import Path

from harness.builtins import tripwire_builtins
from harness.tripwires.checks import LiveVerdict

log = logging.getLogger("harness.tripwires")
ON_FALSIFIED = ("stop", "raise", "warn")


class TripwireFalsified(RuntimeError):
    """A tripwire's falsifier failed and ``on_falsified="raise"``."""


class TripwireStopped(SystemExit):
    """A tripwire's falsifier failed and ``on_falsified="stop"`` (the default): the run ends now, as a
    failure to the shell and to CI, before it saves anything as if trained; the verdicts are already
    in the ledger. Its ``code`` is its message, so an uncaught one is what the interpreter prints
    last, and the process exits with status 1 (``SystemExit`` with a text)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Tripwire:
    def __init__(
        self,
        contract: str | os.PathLike,
        *,
        on_falsified: str = "stop",
        batches: int = 8,
        eval_batches: int = 32,
        no_learning_steps: int = 50,
        framework: str = "loop",
        write: bool = True,
        forward=None,
    ) -> None:
        if on_falsified not in ON_FALSIFIED:
            raise ValueError(f"on_falsified must be one of {', '.join(ON_FALSIFIED)}, not {on_falsified!r}")
        from harness.snapshot import contract_root, load_contract, read_layout

        path = Path(contract).absolute()
        self.layout = read_layout(contract_root(path))
        loaded, findings = load_contract(
            path, root=self.layout.root, falsifiers_dir=self.layout.falsifiers, evidence_dir=self.layout.evidence, contracts_dir=self.layout.contracts_dir
        )
        if loaded is None:
            raise ValueError(f"{contract}: not a valid contract: " + "; ".join(f.render() for f in findings[:3]))
        self.contract, self.path = loaded, path
        self.on_falsified, self.batches, self.eval_batches, self.no_learning_steps = on_falsified, batches, eval_batches, no_learning_steps
        self.train_rows: list = []  # the step-0 train rows, kept for an eval loader met later
        self.eval_judged = False
        self.tokenizer = None
        self.framework, self.write = framework, write
        self.forward = forward  # how to get (B, T, V) logits from the model, when no common convention fits: forward(model, ids)
        self.verdicts: dict[str, tuple[LiveVerdict, int]] = {}  # falsifier id → (verdict, step) on this rank
        self.losses: list[float] = []
        self.step = 0
        self.said: set[str] = set()
        self.tripped = False
        self.finished = False
        self._recorded: set[str] = set()  # falsifier ids whose failure this rank has had written
        self._written: set[tuple[str, int]] = set()  # (falsifier id, rank) written to the ledger (rank 0)

    def watch(self, loader):
        """A one-shot loader (a generator, an iterator) the run and the tripwire can share:
        ``loader = tripwire.watch(loader)`` before ``before_training``, then iterate ``loader``. The
        batches the step-0 checks read are kept and handed to the run first, so it sees every
        batch it would have."""
        return WatchedLoader(loader)

    # ------------------------------------------------------------------ what the contract binds
    def _bound(self, builtin: str):
        return [f for f in self.contract.bound_falsifiers if f.builtin == builtin]

    # ------------------------------------------------------------------ the calls a loop makes
    def before_training(self, *, model=None, tokenizer=None, train_loader=None, eval_loader=None, pad_id: int | None = None) -> list[LiveVerdict]:
        """Step 0: the first ``batches`` batches of each loader (read from a fresh iterator, so the
        run's own iteration starts where it would have) and the model, before any optimizer step."""
        from harness.tripwires import checks

        started = time.perf_counter()
        one_shot = [name for name, loader in (("train", train_loader), ("eval", eval_loader)) if _one_shot(loader)]
        wanted = max([int(f.params.get("tripwire_min_tokens", checks.MIN_TOKENS)) for f in self.contract.bound_falsifiers] or [checks.MIN_TOKENS])
        train = [] if "train" in one_shot else _first(train_loader, self.batches, lambda got: checks.content_ids(got).numel() >= wanted)
        evals = [] if "eval" in one_shot else _first(eval_loader, self.eval_batches)
        batches = train + evals
        unread = (
            f"the {' and '.join(one_shot)} loader is a one-shot iterator: the tripwire takes no batch the run would not get back "
            "(share it: loader = tripwire.watch(loader))"
            if one_shot and not train
            else None
        )
        # each loader's ids judged on their own: healthy eval rows must not dilute a broken train stream
        streams = [ids for ids in (checks.content_ids(train), checks.content_ids(evals)) if ids.numel()]
        stream_rows = [rows for rows in (checks.content_rows(train), checks.content_rows(evals)) if rows]
        ids = checks.content_ids(batches)
        pad_id = pad_id if pad_id is not None else getattr(tokenizer, "pad_token_id", None)
        self.tokenizer = tokenizer
        rows = _embedding_rows(model)
        self.train_rows = checks.content_rows(train)
        results = []
        for f in self.contract.bound_falsifiers:
            p = dict(f.params)
            if unread and f.builtin in STEP0_BUILTINS:
                results.append(self._judge(f, LiveVerdict(f.builtin, None, unread)))
            elif f.builtin in ("vocab-format", "tokenizer-roundtrip"):
                results.append(
                    self._judge(
                        f,
                        checks.guarded(
                            f.builtin,
                            lambda p=p, f=f: _worst(
                                checks.vocab_format(s, tokenizer, p, f.builtin, rows) for s, rows in zip(streams or [ids], stream_rows or [[]])
                            ),
                        ),
                    )
                )
            elif f.builtin == "shard-entropy":
                results.append(self._judge(f, checks.guarded(f.builtin, lambda p=p: _worst(checks.entropy(s, p) for s in streams or [ids]))))
            elif f.builtin == "loss-mask":
                results.append(
                    self._judge(f, checks.guarded(f.builtin, lambda p=p: checks.loss_mask(batches, pad_id, p, getattr(tokenizer, "eos_token_id", None))))
                )
            elif f.builtin == "model-vocab-fit":
                results.append(self._judge(f, checks.guarded(f.builtin, lambda: checks.vocab_fit(ids, rows))))
            elif f.builtin == "target-alignment" and model is not None and train:
                from harness.tripwires.probe import loss_targets

                results.append(self._judge(f, checks.guarded(f.builtin, lambda p=p: loss_targets(model, train[0], p))))
            elif f.builtin == "causal-mask" and model is not None and batches:
                from harness.tripwires.probe import causal_mask

                results.append(
                    self._judge(f, checks.guarded(f.builtin, lambda p=p: causal_mask(model, batches[0], p, rows or int(ids.max()) + 1, self.forward)))
                )
        if eval_loader is not None and "eval" not in one_shot:
            results += self._judge_eval_batches(evals)
        self._say_step0(results, int(ids.numel()), time.perf_counter() - started)
        self._decide()
        return results

    def _say_step0(self, results: list[LiveVerdict], ids: int, seconds: float) -> None:
        """One visible line at step 0, so a healthy run shows the tripwire ran and what it saw."""
        if self.rank != 0:
            return
        ran = [v for v in results if v.passed is not None]
        failed = sum(1 for v in ran if v.passed is False)
        unrun = len(results) - len(ran)
        print(
            f"harness tripwire ({self.contract.key}): step 0 — {len(ran) - failed} check(s) passed, {failed} falsified, {unrun} not run; "
            f"{ids:,} ids read in {seconds:.2f} s",
            file=sys.stderr,
        )

    def on_eval_loader(self, eval_loader) -> list[LiveVerdict]:
        """Judge an eval loader met after step 0 (Hugging Face builds it at the first evaluate):
        its first batches against the train batches read at step 0. Once per run."""
        if self.eval_judged or eval_loader is None:
            return []
        evals = _first(eval_loader, self.eval_batches)
        results = self._judge_eval_batches(evals)
        results += self._judge_late_stream(evals)
        self._decide()
        return results

    def _judge_late_stream(self, evals: list) -> list[LiveVerdict]:
        """The data checks on an eval loader met after step 0; only a failure is kept (the
        train loader's verdict stands otherwise)."""
        from harness.tripwires import checks

        ids = checks.content_ids(evals)
        if not ids.numel():
            return []
        results = []
        for f in self.contract.bound_falsifiers:
            if f.builtin in ("vocab-format", "tokenizer-roundtrip", "shard-entropy"):
                verdict = checks.guarded(
                    f.builtin,
                    lambda f=f: (
                        checks.entropy(ids, dict(f.params))
                        if f.builtin == "shard-entropy"
                        else checks.vocab_format(ids, self.tokenizer, dict(f.params), f.builtin)
                    ),
                )
                if verdict.passed is False:
                    results.append(self._judge(f, verdict))
        return results

    def _judge_eval_batches(self, evals: list) -> list[LiveVerdict]:
        from harness.tripwires import checks

        self.eval_judged = True
        eval_rows = checks.content_rows(evals)
        results = []
        for f in self._bound("split-overlap"):
            results.append(self._judge(f, checks.guarded(f.builtin, lambda f=f: checks.split_overlap(self.train_rows, eval_rows, dict(f.params)))))
        for f in self._bound("eval-coverage"):
            results.append(self._judge(f, checks.guarded(f.builtin, lambda f=f: checks.eval_coverage(eval_rows, dict(f.params)))))
        return results

    def on_loss(self, step: int, loss: float) -> None:
        from harness.tripwires.checks import losses

        self.step = step
        self.losses.append(float(loss))
        for f in self._bound("metric-plausibility"):
            verdict = losses(self.losses, dict(f.params), self.no_learning_steps)
            if verdict is not None:
                self._judge(f, verdict)
        self._decide()

    def on_eval(self, step: int, metrics: dict[str, float]) -> None:
        from harness.tripwires.checks import eval_loss

        self.step = step
        value = next((metrics[k] for k in ("eval_loss", "val_loss", "loss") if k in metrics), None)
        if value is None:
            return
        for f in self._bound("metric-plausibility"):
            self._judge(f, eval_loss(float(value), dict(f.params)))
        self._decide()

    @property
    def rank(self) -> int:
        """This process's rank, read when asked: a callback is often built before the process
        group is."""
        return _rank()

    @property
    def should_stop(self) -> bool:
        return self.tripped and self.on_falsified == "stop"

    # ------------------------------------------------------------------ verdicts
    def _judge(self, f, verdict: LiveVerdict) -> LiveVerdict:
        if verdict.passed is None and f.id not in self.said:
            self.said.add(f.id)
            log.warning("harness tripwire: %s (%s) not run: %s", f.id, verdict.builtin, verdict.message)
        previous = self.verdicts.get(f.id)
        if previous is None or previous[0].passed is not False:  # the first failure stands
            self.verdicts[f.id] = (verdict, self.step)
        return verdict

    def failed(self) -> list[tuple[str, LiveVerdict, int]]:
        return [(fid, v, step) for fid, (v, step) in self.verdicts.items() if v.passed is False]

    def _decide(self) -> None:
        """A failure is recorded when it happens, not at the end: a run that later crashes (or
        whose loop never calls ``finish``) still leaves its FALSIFIED verdict in the ledger. Every
        rank calls this after each check, so the agreement and the gather are collectives."""
        fresh = bool({fid for fid, _, _ in self.failed()} - self._recorded)
        if not _any_rank(fresh):
            return
        first = not self.tripped
        self.tripped = True
        self._record(_gather_failures(self.failed()))
        if not first:
            return
        summary = "; ".join(f"{fid}: {v.message}" for fid, v, _ in self.failed()) or "another rank's falsifier failed"
        message = f"harness tripwire FALSIFIED at step {self.step} ({self.contract.key}): {summary}"
        log.error(message)
        if self.on_falsified == "warn":
            warnings.warn(message, stacklevel=3)
        elif self.on_falsified == "raise":
            self.finish()
            raise TripwireFalsified(message)
        else:  # stop: now, before anything is saved as if trained, and as a failure the shell and CI see
            self.finish()
            raise TripwireStopped(f"{message} — the run was stopped (exit status 1); its verdicts are in {self.path.name}")

    # ------------------------------------------------------------------ the ledger
    def finish(self, *, gather: bool = True) -> str | None:
        """Write the verdicts to the contract and evidence, once. Under ``torch.distributed`` this is
        a collective (every rank calls it, as every rank ends training): each rank's failures are
        gathered to rank 0, which alone writes, so a batch only rank 1 held still reaches the
        ledger. ``gather=False`` (one rank's exception) writes only what rank 0 saw. Returns the
        evidence folder written, or None."""
        if self.finished:
            return None
        self.finished = True
        failures = _gather_failures(self.failed()) if gather else [(fid, v, step, self.rank) for fid, v, step in self.failed()]
        written = self._record(failures)
        if self.rank == 0 and not self.tripped:
            unrun = sorted({v.builtin for v, _ in self.verdicts.values() if v.passed is None})
            unjudged = sorted({f.builtin for f in self.contract.bound_falsifiers if f.builtin in tripwire_builtins() and f.id not in self.verdicts})
            print(
                f"harness tripwire ({self.contract.key}): finished at step {self.step} — no claim falsified"
                + (f"; not run: {', '.join(unrun)}" if unrun else "")
                + (f"; not judged yet: {', '.join(unjudged)}" if unjudged else ""),
                file=sys.stderr,
            )
        return written

    def _record(self, failures: list) -> str | None:
        """Write ``failures`` (every rank's, gathered) unless each was written already."""
        self._recorded |= {fid for fid, _, _ in self.failed()}
        keys = {(fid, rank) for fid, _, _, rank in failures}
        if not self.write or self.rank != 0 or not keys or keys <= self._written:
            return None
        written = write_verdicts(self, failures)
        if written is not None:
            self._written |= keys
        return written


def _gather_failures(local: list[tuple[str, LiveVerdict, int]]) -> list[tuple[str, LiveVerdict, int, int]]:
    """Every rank's failed verdicts, tagged with their rank (rank order; a collective when
    distributed)."""
    rank = _rank()
    mine = [(fid, v, step, rank) for fid, v, step in local]
    try:
        import torch.distributed as dist
    except ImportError:
        return mine
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return mine
    everyone: list = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    return [entry for part in everyone for entry in (part or [])]


def write_verdicts(tripwire: Tripwire, failures: list[tuple[str, LiveVerdict, int, int]] | None = None) -> str | None:
    """The run's verdicts into the ledger: ``failures`` (every rank's, gathered) as FAILED, the
    first per falsifier in rank order; this rank's other verdicts as NOT_RUN with what they saw."""
    from harness.atomic import WriteError, contracts_lock
    from harness.evidence import dispatch_info
    from harness.fingerprint import current_fingerprint, declaration_digest
    from harness.ledger import RunResult
    from harness.recording import record_results
    from harness.status import Outcome

    layout = tripwire.layout
    contract = tripwire.contract  # as the run started; recording re-reads it under the lock and drops entries edited since
    closures: dict = {}  # one walk of the built-ins' imports for all the verdicts
    if failures is None:
        failures = [(fid, v, step, tripwire.rank) for fid, v, step in tripwire.failed()]
    if not failures:
        return None  # nothing falsified: the contract is left as it was (no fingerprint walked)
    judged = {fid: (v, step, tripwire.rank) for fid, (v, step) in tripwire.verdicts.items()}
    for fid, v, step, rank in reversed(failures):  # the lowest rank's failure wins
        judged[fid] = (v, step, rank)
    results = {}
    for fid, (verdict, step, rank) in judged.items():
        f = contract.falsifier(fid)
        if f is None:
            continue
        where = f"tripwire ({tripwire.framework}, step {step}, rank {rank})"
        if verdict.passed is False:
            outcome, message = Outcome.FAILED, f"{where}: {verdict.message}"
        else:
            outcome = Outcome.NOT_RUN
            message = f"{where}: {'passed in this training run' if verdict.passed else verdict.message}; a tripwire never discharges"
        results[fid] = RunResult(
            falsifier_id=fid,
            outcome=outcome,
            nodeid=f"tripwire:{tripwire.framework}",
            measurements=dict(verdict.measurements),
            message=message,
            fingerprint=current_fingerprint(layout.root, contract, f, memo=closures) or "",
            declaration=declaration_digest(f),
        )
    if not any(r.outcome is Outcome.FAILED for r in results.values()):
        return None
    ranks = sorted({rank for *_, rank in failures})
    dispatch = dispatch_info(layout.root) | {
        "tripwire": tripwire.framework,
        "global_step": str(tripwire.step),
        "rank": ",".join(map(str, ranks or [tripwire.rank])),
    }
    try:
        with contracts_lock(layout.contracts_dir):
            recorded = record_results(layout, tripwire.path, results, dispatch)
    except WriteError as exc:
        log.error("harness tripwire: %s not rewritten: %s", tripwire.path, exc)
        return None
    for warning in recorded.warnings:
        log.error("harness tripwire: %s", warning)
    return recorded.evidence_rel


# the step-0 checks that read the loaders' batches
STEP0_BUILTINS = ("vocab-format", "tokenizer-roundtrip", "shard-entropy", "loss-mask", "model-vocab-fit", "causal-mask", "target-alignment")


class batches_from:  # lower case: used like a function, train_loader=batches_from(lambda: get_batch("train"))
    """A loader for a loop that has none: each batch is ``draw()`` (nanoGPT's ``get_batch``). The
    tripwire reads its step-0 batches with the RNG streams saved and restored, so the run's own
    draws are the ones it would have made."""

    def __init__(self, draw) -> None:
        self.draw = draw

    def __iter__(self):
        while True:
            yield self.draw()


class WatchedLoader:
    """A one-shot loader shared by the run and the tripwire (``Tripwire.watch``): ``peek`` reads
    ahead into a buffer, and iterating yields the buffer first, then the rest."""

    def __init__(self, loader) -> None:
        self._source = iter(loader)
        self._buffer: list = []

    def peek(self, count: int) -> list:
        while len(self._buffer) < count:
            try:
                self._buffer.append(next(self._source))
            except StopIteration:
                break
        return list(self._buffer[:count])

    def __iter__(self):
        return self

    def __next__(self):
        if self._buffer:
            return self._buffer.pop(0)
        return next(self._source)


def _one_shot(loader) -> bool:
    """A loader that hands out its batches once (a generator, an iterator): reading ahead would
    take batches from the run. A ``WatchedLoader`` and any re-iterable (a ``DataLoader``, a list)
    are not."""
    if loader is None or isinstance(loader, WatchedLoader):
        return False
    return hasattr(loader, "__next__")  # never iter(loader) here: a shuffling DataLoader's iterator draws from the RNG


def _worst(verdicts) -> LiveVerdict:
    """The first failed verdict, else the first (the train loader's)."""
    verdicts = list(verdicts)
    return next((v for v in verdicts if v.passed is False), verdicts[0])


READ_AHEAD_CAP = 64  # times ``batches``: how far past its first batches a step-0 check reads to have enough ids


def _first(loader, count: int, enough=None) -> list:
    """The first ``count`` batches of a fresh iterator over ``loader``, the RNG streams kept: a
    shuffling loader draws its order from the global RNG, which the run's own iteration must
    find as it was."""
    if loader is None:
        return []
    if isinstance(loader, WatchedLoader):
        got = loader.peek(count)
        while enough is not None and not enough(got) and len(got) < count * READ_AHEAD_CAP:
            more = loader.peek(len(got) * 2)
            if len(more) == len(got):
                break
            got = more
        return got
    from harness.tripwires.checks import rng_kept

    with rng_kept():
        iterator = iter(loader)
        got = list(itertools.islice(iterator, count))
        # small batches (batch size 1): read on from the same fresh iterator until the checks have
        # enough ids to judge, never from the run's own
        while enough is not None and len(got) >= count and not enough(got) and len(got) < count * READ_AHEAD_CAP:
            more = list(itertools.islice(iterator, len(got)))
            if not more:
                break
            got += more
        return got


def _embedding_rows(model) -> int | None:
    if model is None:
        return None
    get = getattr(model, "get_input_embeddings", None)
    embedding = get() if callable(get) else None
    if embedding is None:
        import torch

        embedding = next((m for m in model.modules() if isinstance(m, torch.nn.Embedding)), None)
    return int(embedding.num_embeddings) if embedding is not None else None


def _rank() -> int:
    try:
        import torch.distributed as dist

        return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    except Exception:
        return 0


def _any_rank(flag: bool) -> bool:
    """Whether any rank's flag is set: every rank sees the same answer, so all stop together."""
    try:
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return flag
        backend = dist.get_backend()
        device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
        t = torch.tensor([1 if flag else 0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())
    except ImportError:
        return flag

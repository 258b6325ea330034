"""Subjects for the round-2 falsifier-power tests (#24): held-out pipelines written as a user
would — their own loaders over the standard library's source, under a byte-level (hex-byte style)
vocab whose one-byte tokens make runs of indentation at row ends — healthy, legitimately unusual,
and each buggy one changing one real code path. Loaded as a conftest plugin of the temporary
project (``pytest_plugins``), so each is a fixture."""

from __future__ import annotations

import numpy as np
import pytest

from harness.demo.corpus import stdlib_documents

EOT = 256  # the byte-level vocab's one special id: 256 bytes + end-of-text
PAD0 = 257  # a pad id the text never produces (a vocab row added for padding)


def _documents():
    return [np.frombuffer(text.encode(), dtype=np.uint8).astype(np.int64) for _, text in stdlib_documents(max_bytes=600_000)]


def _stream():
    docs = _documents()
    return np.concatenate([np.concatenate([d, [EOT]]) for d in docs])


class PackedBytes:
    """Packed windows of a byte stream (indentation runs of id 32 end many rows); no pad id."""

    vocab_size = 258
    ignore_index = -100
    seq_len = 128

    def __init__(self, pads=None):
        if pads is not None:
            self.pads = pads
        self.stream = _stream()

    def batches(self, split):
        span = self.seq_len + 1
        cut = int(self.stream.size * 0.9) // span * span
        ids = self.stream[:cut] if split == "train" else self.stream[cut:]
        usable = ids.size // span * span
        windows = ids[:usable].reshape(-1, span)
        for start in range(0, len(windows), 8):
            w = windows[start : start + 8]
            yield w[:, :-1], w[:, 1:]


class PaddedDocs:
    """One document per row, right-padded with ``pad``; ``mask_padding`` False is the planted bug
    (padded targets scored). HF-style mappings with an attention mask when ``hf``."""

    vocab_size = 258
    ignore_index = -100

    def __init__(self, pad, mask_padding=True, hf=False, declare=False):
        self.pad, self.mask_padding, self.hf = pad, mask_padding, hf
        if declare:
            self.pad_id = pad
        self.docs = [d[: 16 + (i * 37) % 80] for i, d in enumerate(_documents())]  # rows of 16..95 bytes: padded batches

    def batches(self, split):
        docs = self.docs[: int(len(self.docs) * 0.9)] if split == "train" else self.docs[int(len(self.docs) * 0.9) :]
        for start in range(0, len(docs), 8):
            chunk = docs[start : start + 8]
            width = max(len(d) for d in chunk) + 1
            ids = np.full((len(chunk), width), self.pad, dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, d in enumerate(chunk):
                ids[i, : len(d)] = d
                ids[i, len(d)] = EOT
                mask[i, : len(d) + 1] = 1
            if self.hf:  # labels = input_ids, -100 where the collator masks padding; the model shifts
                labels = ids.copy()
                if self.mask_padding:
                    labels[mask == 0] = -100
                yield {"input_ids": ids, "attention_mask": mask, "labels": labels}
                continue
            targets = ids[:, 1:].copy()
            if self.mask_padding:
                targets[mask[:, 1:] == 0] = -100
            yield ids[:, :-1], targets


@pytest.fixture(scope="session")
def bytes_packed():
    return PackedBytes()


@pytest.fixture(scope="session")
def bytes_packed_never_pads():
    return PackedBytes(pads=False)


@pytest.fixture(scope="session")
def docs_padded_healthy():
    return PaddedDocs(PAD0)


@pytest.fixture(scope="session")
def docs_padded_unmasked():
    return PaddedDocs(PAD0, mask_padding=False)


@pytest.fixture(scope="session")
def hf_eot_padded_healthy():
    return PaddedDocs(EOT, hf=True)


@pytest.fixture(scope="session")
def hf_eot_padded_unmasked():
    return PaddedDocs(EOT, mask_padding=False, hf=True)


def _mc_dropout_lm(seed: int):
    """A causal GRU LM whose dropout layer is Monte-Carlo dropout (``training=True`` always): its
    eval outputs change run to run, yet it cannot see a future token."""
    import torch

    class MCDropout(torch.nn.Dropout):
        def forward(self, x):
            return torch.nn.functional.dropout(x, self.p, training=True)

    class GRULM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(1000, 32)
            self.drop = MCDropout(0.1)
            self.gru = torch.nn.GRU(32, 32, batch_first=True)
            self.head = torch.nn.Linear(32, 1000)

        def forward(self, ids):
            return self.head(self.gru(self.drop(self.embed(ids)))[0])

    torch.manual_seed(seed)
    return GRULM()


@pytest.fixture
def gru_mc_dropout():
    from harness.subjects.adapters import ModuleTrainer

    return ModuleTrainer(_mc_dropout_lm, vocab_size=1000)


def _qwen_ids():
    from tokenizers import Tokenizer

    from harness.demo.pipeline import vocab_dir

    tok = Tokenizer.from_file(str(vocab_dir() / "tokenizer.json"))
    docs = [text for _, text in stdlib_documents(max_bytes=400_000)]
    return np.concatenate([np.asarray([*e.ids, 151643], dtype=np.int64) for e in tok.encode_batch(docs)])


class Shards:
    """A data subject of only shards and a vocab size (no documents, no encoder)."""

    vocab_size = 151_646
    unk_id = None

    def __init__(self, folder, ids):
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "shard-000.npy", ids)
        self.paths = [folder / "shard-000.npy"]

    def shard_paths(self):
        return self.paths


class PackedIds(PackedBytes):
    """Packed windows over a given id stream."""

    vocab_size = 151_646

    def __init__(self, stream):
        self.stream = stream


@pytest.fixture(scope="session")
def qwen_shards(tmp_path_factory):
    return Shards(tmp_path_factory.mktemp("qwen"), _qwen_ids().astype(np.uint32))


@pytest.fixture(scope="session")
def qwen_int32_read_as_uint16(tmp_path_factory):
    """The planted defect: a writer's int32 ids read back as uint16 and saved (no sidecar to contradict)."""
    return Shards(tmp_path_factory.mktemp("narrow"), _qwen_ids().astype(np.int32).view(np.uint16))


@pytest.fixture(scope="session")
def qwen_packed_read_narrow():
    return PackedIds(_qwen_ids().astype(np.int32).view(np.uint16).astype(np.int64))


class HFShiftedTwice(PaddedDocs):
    """The planted defect: the loader shifts ``labels`` itself (labels[t] = input_ids[t+1]) and hands
    them to a Hugging Face model, which shifts them again."""

    def batches(self, split):
        for batch in super().batches(split):
            labels = np.full_like(batch["labels"], -100)
            labels[:, :-1] = batch["labels"][:, 1:]
            yield {**batch, "labels": labels}


@pytest.fixture(scope="session")
def hf_labels_shifted_twice():
    return HFShiftedTwice(EOT, hf=True)


class TupleUnshifted(PackedBytes):
    """The planted defect: targets are the inputs themselves (no shift)."""

    def batches(self, split):
        for inputs, _ in super().batches(split):
            yield inputs, inputs.copy()


@pytest.fixture(scope="session")
def bytes_targets_unshifted():
    return TupleUnshifted()


class TupleReversed(PackedBytes):
    """The planted defect: each row's targets run backwards (a collate that flips its labels)."""

    def batches(self, split):
        for inputs, targets in super().batches(split):
            yield inputs, targets[:, ::-1].copy()


@pytest.fixture(scope="session")
def bytes_targets_reversed():
    return TupleReversed()


def _tiny(seed: int):
    from harness.demo.models import TinyConfig, build_tiny_lm

    return build_tiny_lm(TinyConfig(vocab_size=1000, hidden=32, layers=1, heads=2, max_seq=64, dropout=0.0), seed)


def _trainer(cls=None, **kwargs):
    from harness.subjects.adapters import ModuleTrainer

    return (cls or ModuleTrainer)(_tiny, vocab_size=1000, **kwargs)


def _zero_grad_before_step_cls():
    from harness.subjects.adapters import ModuleTrainer

    class ZeroGradBeforeStep(ModuleTrainer):
        """The planted defect: gradients zeroed between ``backward()`` and ``step()`` (a misplaced
        ``zero_grad`` under gradient accumulation)."""

        def train_batch(self, inputs, targets) -> float:
            self.model.train()
            loss = self.loss_fn(self.forward(inputs), targets)
            loss.backward()
            self.optimizer.zero_grad(set_to_none=True)
            self.optimizer.step()
            return float(loss.detach())

    return ZeroGradBeforeStep


@pytest.fixture
def tiny_module_trainer():
    return _trainer(lr=3e-3)


@pytest.fixture
def tiny_zero_grad_before_step():
    return _trainer(_zero_grad_before_step_cls(), lr=3e-3)


@pytest.fixture
def tiny_lr_zero():
    return _trainer(lr=0.0)


class SmallEval(PackedBytes):
    """A legitimately small eval: 8 distinct rows (1,024 targets) — imprecise, not wrong."""

    def batches(self, split):
        for i, batch in enumerate(super().batches(split)):
            if split != "train" and i >= 1:
                return
            yield batch


@pytest.fixture(scope="session")
def bytes_small_eval():
    return SmallEval()


class QwenDocs:
    """A data subject: stdlib documents encoded with the real Qwen2.5 tokenizer into one .npy shard,
    the separator written by ``write`` — the pipeline's own code path."""

    vocab_size = 151_646
    unk_id = None
    encoder_name = "byte_level"

    def __init__(self, folder, write):
        from harness.demo.pipeline import vocab_dir
        from harness.subjects.encoders import ByteLevelEncoder

        self.vocab_path = vocab_dir() / "tokenizer.json"
        self._encoder = ByteLevelEncoder(self.vocab_path)
        self.docs = [(name, text) for name, text in stdlib_documents(max_bytes=300_000)]
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "shard-000.npy", np.concatenate([write(self._encoder, text) for _, text in self.docs]).astype(np.uint32))
        self.paths = [folder / "shard-000.npy"]

    def encoder(self):
        return self._encoder

    def shard_paths(self):
        return self.paths

    def documents(self):
        return iter(self.docs)


def _eos_after_each(encoder, text):
    return np.asarray([*encoder.encode(text), encoder.eos_id])


def _marker_as_text(encoder, text):
    """The planted defect: the document and its end marker encoded with special tokens split as
    text (``encode_special_tokens = True``, the tokenizer's own switch)."""
    inner = encoder._tok
    inner.encode_special_tokens = True
    try:
        return np.asarray(inner.encode(text + "<|endoftext|>", add_special_tokens=False).ids)
    finally:
        inner.encode_special_tokens = False


def _no_separator(encoder, text):
    """The planted defect: documents concatenated with no separator at all."""
    return np.asarray(encoder.encode(text))


@pytest.fixture(scope="session")
def qwen_docs_eos(tmp_path_factory):
    return QwenDocs(tmp_path_factory.mktemp("eos"), _eos_after_each)


@pytest.fixture(scope="session")
def qwen_docs_marker_as_text(tmp_path_factory):
    return QwenDocs(tmp_path_factory.mktemp("marker"), _marker_as_text)


@pytest.fixture(scope="session")
def qwen_docs_no_separator(tmp_path_factory):
    return QwenDocs(tmp_path_factory.mktemp("nosep"), _no_separator)

"""pv's own rules, so ``harness validate`` gives a pv contract the verdict ``pv validate`` gives it.

Mirrors the pv schema (``aprender-contracts``: ``schema/types.rs``, ``kind.rs``, ``validator.rs``):
what its serde types require (``metadata.version`` and ``description`` as strings; a falsification
test's ``id``, ``rule``, ``prediction``, ``if_fails`` — or their legacy aliases ``description``,
``expected``, ``fails_if``; a proof obligation's ``property`` (its ``type`` from the 26 kinds, a
warning);
each equation's ``formula``; ``metadata.kind`` from the known kinds, as a warning since the list
grows) and its validator's structural
rules (SCHEMA-001 references, SCHEMA-002 version, SCHEMA-003/004 equations of a kernel,
SCHEMA-005 obligation property, SCHEMA-018 top-level ``kind:``, SCHEMA-019 near-miss block names,
PROVABILITY-001 for kernels). Everything else pv ignores, the harness ignores too.

Which documents they apply to is the ``harness_pv_rules`` setting: ``auto`` (default) holds a
document to them when it carries any block the harness does not own (equations, proof obligations,
Kani harnesses, a corpus manifest's own keys, …) or pv's ``metadata.references`` — a real pv
contract — and leaves a harness-native contract (metadata, falsification_tests, hypotheses,
subjects) alone; ``error`` and ``warning`` apply them to every contract; ``off`` never.
"""

from __future__ import annotations

from typing import Any

# pv's enums grow between its versions: a value this list lacks is a warning, never a refusal
# and what its serde types require has loosened across versions (contracts in repositories whose
# pv reports 0 errors lack metadata.version): such findings are warnings, and a document pv could
# not parse is not judged by the structural rules pv would never reach
WARNING_RULES = frozenset({"ENUM", "SCHEMA-PARSE"})
KEY_RULES = frozenset({"SCHEMA-018", "SCHEMA-019"})  # about a key: positioned at the key
KINDS = (
    "kernel", "registry", "model-family", "model-family-variant", "tokenizer", "training-loop", "pretraining-corpus",
    "training-precondition-gate", "corpus-assembly", "pattern", "schema", "beat-benchmark", "kaizen",
)  # fmt: skip
OBLIGATION_TYPES = (
    "invariant", "equivalence", "bound", "monotonicity", "idempotency", "linearity", "symmetry", "associativity",
    "conservation", "ordering", "completeness", "soundness", "involution", "determinism", "roundtrip", "state_machine",
    "classification", "independence", "termination", "precondition", "postcondition", "frame", "loop_invariant",
    "loop_variant", "old_state", "subcontract",
)  # fmt: skip
TOP_LEVEL_FIELDS = (
    "metadata", "equations", "proof_obligations", "kernel_structure", "simd_dispatch", "enforcement", "falsification_tests",
    "kani_harnesses", "qa_gate", "verification_summary", "type_invariants", "coq_spec",
)  # fmt: skip
# falsification test field → its legacy alias, as pv's serde accepts both
FALSIFIER_FIELDS = {"rule": "description", "prediction": "expected", "if_fails": "fails_if"}


# blocks that only pv-family documents carry: their presence makes a document a pv contract
PV_MARKERS = frozenset(
    {*TOP_LEVEL_FIELDS, "falsification", "falsifiers", "gates", "invariants", "contract", "contract_id", "kind", "preconditions", "postconditions"}
) - {"metadata", "falsification_tests"}


def applies(plain: dict, setting: str) -> bool:
    """Whether pv's rules judge this document. ``auto``: a document carrying a pv-family block
    (equations, proof obligations, Kani harnesses, a corpus manifest's falsification list, …) or pv's
    ``metadata.references``/``metadata.kind`` is a pv document; a harness-native contract (metadata,
    falsification_tests, hypotheses, subjects, and any helper block such as a YAML anchor) is not."""
    if setting == "off":
        return False
    if setting in ("error", "warning"):
        return True
    metadata = plain.get("metadata") if isinstance(plain.get("metadata"), dict) else {}
    return any(key in PV_MARKERS for key in plain) or "references" in metadata or "kind" in metadata


def _forms(key: str) -> set[str]:
    squashed = "".join(c.lower() for c in key if c.isalnum())
    forms = {squashed}
    for suffix in ("es", "s"):
        if squashed.endswith(suffix) and len(squashed) > len(suffix):
            forms.add(squashed[: -len(suffix)])
    return forms


def near_miss(key: str) -> str | None:
    """The pv block a top-level key is a case/separator/plural variant of (SCHEMA-019)."""
    forms = _forms(key)
    return next((field for field in TOP_LEVEL_FIELDS if _forms(field) & forms), None)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def pv_problems(plain: dict) -> list[tuple[list, str, str]]:
    """(path, pv rule id, message) for each place pv refuses this document."""
    problems: list[tuple[list, str, str]] = []
    metadata = plain.get("metadata")
    if not isinstance(metadata, dict):
        return [(["metadata"], "SCHEMA-PARSE", "pv requires a metadata mapping")]
    for key in ("version", "description"):
        if not _is_text(metadata.get(key)):
            what = "missing" if key not in metadata else f"a {type(metadata[key]).__name__}, not a string"
            problems.append((["metadata", key] if key in metadata else ["metadata"], "SCHEMA-PARSE", f"pv requires metadata.{key} as a string ({what})"))
    kind = metadata.get("kind", "kernel")
    if not isinstance(kind, str) or kind not in KINDS:
        problems.append((["metadata", "kind"], "ENUM", f"metadata.kind {kind!r} is not a kind this harness knows pv to have ({', '.join(KINDS)})"))
    if any(rule == "SCHEMA-PARSE" for _, rule, _ in problems):
        return problems
    references = metadata.get("references")
    if not isinstance(references, list) or not references:
        problems.append(
            (
                ["metadata", "references"] if "references" in metadata else ["metadata"],
                "SCHEMA-001",
                "metadata.references must not be empty (pv: every contract cites its sources)",
            )
        )
    elif not all(_is_text(r) for r in references):
        problems.append((["metadata", "references"], "SCHEMA-PARSE", "pv requires metadata.references as a list of strings"))
    if _is_text(metadata.get("version")) and not metadata["version"]:
        problems.append((["metadata", "version"], "SCHEMA-002", "metadata.version must not be empty"))
    for key in plain:
        if key == "kind":
            problems.append((["kind"], "SCHEMA-018", "top-level `kind:` is not part of the pv schema and is dropped; put it under metadata:"))
        elif key not in TOP_LEVEL_FIELDS and near_miss(key):
            problems.append(([key], "SCHEMA-019", f"top-level `{key}:` is not a pv field and is dropped; did you mean `{near_miss(key)}:`?"))
    equations = plain.get("equations")
    if isinstance(equations, dict):
        for name, eq in equations.items():
            if not isinstance(eq, dict) or not _is_text(eq.get("formula")):
                problems.append((["equations", name], "SCHEMA-PARSE", f"pv requires equations.{name}.formula as a string"))
    obligations = plain.get("proof_obligations") if isinstance(plain.get("proof_obligations"), list) else []
    for i, ob in enumerate(obligations):
        if not isinstance(ob, dict) or not _is_text(ob.get("property")):
            problems.append((["proof_obligations", i], "SCHEMA-PARSE", f"pv requires proof_obligations[{i}] to have a property string"))
        elif ob.get("type", "invariant") not in OBLIGATION_TYPES:
            problems.append((["proof_obligations", i, "type"], "ENUM", f"obligation type {ob.get('type')!r} is not one this harness knows pv to have"))
    tests = plain.get("falsification_tests") if isinstance(plain.get("falsification_tests"), list) else []
    for i, entry in enumerate(tests):
        if not isinstance(entry, dict):
            problems.append((["falsification_tests", i], "SCHEMA-PARSE", "pv requires each falsification test to be a mapping"))
            continue
        missing = [f for f, alias in FALSIFIER_FIELDS.items() if not (_is_text(entry.get(f)) or _is_text(entry.get(alias)))]
        if not _is_text(entry.get("id")):
            missing.insert(0, "id")
        if missing:
            problems.append((["falsification_tests", i], "SCHEMA-PARSE", f"pv requires falsification_tests[{i}] to have {', '.join(missing)} as text"))
    harnesses = plain.get("kani_harnesses") if isinstance(plain.get("kani_harnesses"), list) else []
    # qa_gate and kani_harnesses entry fields are not checked: real contracts pv accepts today carry
    # other shapes (qa_gate: {certeza: ...}) — zero false rejections comes first
    is_kernel = kind == "kernel" and metadata.get("registry") is not True
    if is_kernel:
        if not equations:
            problems.append((["metadata"], "SCHEMA-003", "a kernel contract needs at least one equation (no metadata.kind: judged kernel by default)"))
        if not obligations:
            problems.append((["metadata"], "PROVABILITY-001", "kernel contract has no proof_obligations"))
        if not tests:
            problems.append((["metadata"], "PROVABILITY-001", "kernel contract has no falsification_tests"))
        if not harnesses:
            problems.append((["metadata"], "PROVABILITY-001", "kernel contract has no kani_harnesses"))
        if len(tests) < len(obligations):
            problems.append((["falsification_tests"], "PROVABILITY-001", f"falsification_tests ({len(tests)}) < proof_obligations ({len(obligations)})"))
    return problems

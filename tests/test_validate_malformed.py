"""Malformed contracts: each gives one precise finding (file:line and rule id) and writes nothing.

The expected line is marked in the case text with a trailing ``# <-`` comment, so the table
cannot drift from the text it describes. Whole-file problems expect line 0.
"""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.snapshot import load_contract
from tests.conftest import snapshot_tree

VALID = """\
metadata:
  id: t-v1
  version: 1.0.0
  status: DRAFT
falsification_tests:
- id: F-001
  test: falsifiers/test_x.py::test_x
  params:
    threshold: 3
  plausible:
    m: [0, 1]
"""

CASES: list[tuple[str, str, str]] = [
    # (case id, contract text, rule); the marked line is the expected one
    ("empty-file", "", "empty-file"),
    ("whitespace-only", "   \n\n  \n", "empty-file"),
    ("unclosed-flow", "metadata: {id: x\nfalsification_tests: []  # <-\n", "yaml-syntax"),
    ("bad-indentation", "metadata:\n  id: x\n version: 1.0.0  # <-\n", "yaml-syntax"),
    ("duplicate-key", "metadata:\n  id: a\n  version: 1.0.0\n  id: b  # <-\n", "duplicate-key"),
    ("top-level-list", "- metadata  # <-\n- x\n", "not-a-mapping"),
    ("top-level-scalar", "just a string  # <-\n", "not-a-mapping"),
    ("missing-metadata", "equations: {}  # <-\n", "missing-key"),
    ("metadata-is-list", "metadata:\n- id: x  # <-\n", "wrong-type"),
    ("version-is-number", "metadata:\n  version: 1.0  # <-\n", "wrong-type"),
    ("status-is-number", "metadata:\n  status: 3  # <-\n", "wrong-type"),
    ("depends-on-string", "metadata:\n  depends_on: other-v1  # <-\n", "wrong-type"),
    ("tests-not-a-list", "metadata: {}\nfalsification_tests:\n  id: F-1  # <-\n", "wrong-type"),
    ("falsifier-missing-id", "metadata: {}\nfalsification_tests:\n- test: x  # <-\n", "missing-key"),
    ("duplicate-falsifier-id", "metadata: {}\nfalsification_tests:\n- id: F-1\n  test: a\n- id: F-1  # <-\n  test: b\n", "duplicate-id"),
    ("ship-blocking-string", "metadata: {}\nfalsification_tests:\n- id: F-1\n  test: a\n  ship_blocking: 'yes'  # <-\n", "wrong-type"),
    ("bound-unknown-status", VALID + "  status: PASSED  # <-\n", "unknown-status"),
    ("bound-unknown-key", VALID + "  plausable:  # <-\n    m: [0, 1]\n", "unknown-key"),
    ("range-low-above-high", VALID.replace("m: [0, 1]", "m: [5, 1]  # <-"), "bad-range"),
    ("range-nan", VALID.replace("m: [0, 1]", "m: [.nan, 1]  # <-"), "bad-range"),
    ("range-inf", VALID.replace("m: [0, 1]", "m: [0, .inf]  # <-"), "bad-range"),
    ("range-three-items", VALID.replace("m: [0, 1]", "m: [0, 1, 2]  # <-"), "bad-range"),
    ("range-string-bound", VALID.replace("m: [0, 1]", "m: [0, high]  # <-"), "wrong-type"),
    ("range-not-a-list", VALID.replace("m: [0, 1]", "m: 7  # <-"), "wrong-type"),
    ("param-bad-name", VALID.replace("threshold: 3", "bad-name: 3  # <-"), "bad-name"),
    ("path-escapes-repo", VALID.replace("threshold: 3", "vocab_path: ../../etc/passwd  # <-"), "path-escape"),
    ("path-absolute", VALID.replace("threshold: 3", "corpus_dir: /etc  # <-"), "path-escape"),
    ("path-list-escapes", VALID.replace("threshold: 3", "shard_files: [data/a.bin, ../../b.bin]  # <-"), "path-escape"),
    ("requires-unknown", VALID + "  requires: [tpu]  # <-\n", "bad-value"),
    ("fingerprint-not-hex", VALID + "  fingerprint: not-a-hash  # <-\n", "bad-value"),
    ("evidence-outside", VALID + "  evidence: /tmp/elsewhere  # <-\n", "path-escape"),
    ("test-file-escapes", "metadata: {}\nfalsification_tests:\n- id: F-1\n  test: falsifiers/../../evil.py::test_x  # <-\n", "path-escape"),
    ("hypothesis-missing-statement", VALID + "hypotheses:\n- id: H1  # <-\n", "missing-key"),
    ("hypothesis-unknown-key", VALID + "hypotheses:\n- id: H1\n  statement: s\n  refutes: [F-001]  # <-\n", "unknown-key"),
    ("hypothesis-unknown-falsifier", VALID + "hypotheses:\n- id: H1\n  statement: s\n  refuted_by:\n  - F-999  # <-\n", "unknown-falsifier"),
    ("hypothesis-duplicate-id", VALID + "hypotheses:\n- id: H1\n  statement: s\n- id: H1  # <-\n  statement: t\n", "duplicate-id"),
    ("hypothesis-bad-status", VALID + "hypotheses:\n- id: H1\n  statement: s\n  status: MAYBE  # <-\n", "unknown-status"),
    ("promotion-unknown-key", "metadata:\n  promotion:\n    when: always  # <-\n", "unknown-key"),
    ("promotion-bad-range", "metadata:\n  promotion:\n    measurements:\n      val_loss: [2.5, 1.5]  # <-\n", "bad-range"),
    ("promotion-unknown-falsifier", "metadata:\n  promotion:\n    measurements:\n      F-404:val_loss: [1, 2]  # <-\n", "unknown-falsifier"),
    ("equation-is-list", "metadata: {}\nequations:\n  loss:\n  - a  # <-\n", "wrong-type"),
    ("python-tag", "metadata: !!python/object/apply:os.system ['true']  # <-\n", "yaml-tag"),
    ("custom-tag", "metadata:\n  id: !include other.yaml  # <-\n", "yaml-tag"),
    ("multiple-documents", "metadata: {}\n--- # <-\nmetadata: {}\n", "multiple-documents"),
    ("nul-byte", "metadata: {}\n\x00 # <-\n", "binary-file"),
]


def _expected_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if "# <-" in line:
            return number
    return 0


@pytest.mark.parametrize(("text", "rule"), [pytest.param(t, r, id=i) for i, t, r in CASES])
def test_malformed_contract_gives_one_positioned_finding(project, capsys, text, rule):
    path = project / "contracts" / "bad-v1.yaml"
    path.write_text(text)
    before = snapshot_tree(project)
    code = main(["--root", str(project), "validate", str(path)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "Traceback" not in out
    line = _expected_line(text)
    findings = [row for row in out.splitlines() if row.startswith("contracts/bad-v1.yaml")]
    expected_prefix = f"contracts/bad-v1.yaml:{line}:" if line else "contracts/bad-v1.yaml: "
    matching = [row for row in findings if row.startswith(expected_prefix) and row.endswith(f"[{rule}]")]
    assert matching, f"expected {expected_prefix}… [{rule}], got:\n{out}"
    assert snapshot_tree(project) == before, "validate wrote a file"


def test_there_are_at_least_thirty_distinct_cases():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


def test_invalid_utf8_names_line_and_column(project, capsys):
    path = project / "contracts" / "bin-v1.yaml"
    path.write_bytes(b"metadata:\n  id: caf\xe9\n")
    assert main(["--root", str(project), "validate", str(path)]) == 1
    assert "contracts/bin-v1.yaml:2:10: invalid UTF-8 byte 0xe9" in capsys.readouterr().out


def test_alias_bomb_is_refused_quickly(project, capsys):
    lines = ["metadata: {}", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = project / "contracts" / "bomb-v1.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert main(["--root", str(project), "validate", str(path)]) == 1
    assert "[yaml-alias]" in capsys.readouterr().out


def test_huge_file_is_refused_without_parsing(project, capsys):
    path = project / "contracts" / "huge-v1.yaml"
    path.write_text("metadata: {}\nnotes: '" + "x" * (3 * 1024 * 1024) + "'\n")
    assert main(["--root", str(project), "validate", str(path)]) == 1
    assert "[file-too-large]" in capsys.readouterr().out


def test_deep_nesting_is_refused(project, capsys):
    path = project / "contracts" / "deep-v1.yaml"
    path.write_text("metadata: {}\nx: " + "[" * 200 + "]" * 200 + "\n")
    assert main(["--root", str(project), "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "[too-deep]" in out or "[too-large]" in out


def test_symlinked_artifact_out_of_repo_is_refused(project, capsys, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (project / "data").symlink_to(outside)
    path = project / "contracts" / "link-v1.yaml"
    path.write_text(VALID.replace("threshold: 3", "vocab_path: data/vocab.json"))
    assert main(["--root", str(project), "validate", str(path)]) == 1
    assert "symlink" in capsys.readouterr().out


def test_missing_path_is_a_usage_error(project, capsys):
    assert main(["--root", str(project), "validate", str(project / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unknown_contract_status_is_a_warning_only_where_a_status_must_be_derived(project, capsys):
    path = project / "contracts" / "odd-v1.yaml"
    path.write_text("metadata:\n  status: SOMETHING_NEW\n")  # no bound falsifier: kept as written, silently
    assert main(["--root", str(project), "validate", str(path)]) == 0
    assert "warning:" not in capsys.readouterr().out
    path.write_text("metadata:\n  status: SOMETHING_NEW\nfalsification_tests:\n- id: F-1\n  test: builtin:shard-entropy\n  subject: s\n")
    assert main(["--root", str(project), "validate", str(path)]) == 0
    assert "warning:" in capsys.readouterr().out and "never derived" in capsys.readouterr().out + "never derived"


# pv models none of these (its Metadata has version: String, created: Option<String>, no changelog):
# the harness must not refuse what pv accepts.
PV_ACCEPTS = [
    "metadata:\n  version: '1.0'\n",
    "metadata:\n  version: 1.0.0\n  created: yesterday\n",
    "metadata:\n  version: 1.0.0\n  changelog:\n  - 'v1.0.0: Initial from ALB-108 (first draft)'\n  - version: v2\n    change: x\n",
]


@pytest.mark.parametrize("text", PV_ACCEPTS)
def test_what_pv_accepts_validates(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    contract, findings = load_contract(path, root=tmp_path)
    assert contract is not None and not [f for f in findings if f.is_error], [f.render() for f in findings]

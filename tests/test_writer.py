"""The writer: byte-exact round-trip, one-line edits, atomic writes that keep the file mode."""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest

from harness.atomic import WriteError, write_atomic
from harness.contract import load_contract_text
from harness.snapshot import load_contract
from harness.writer import Edit, apply_edits, update_file
from tests.conftest import DATA

PV_SHAPED = DATA / "pv-shaped-v1.yaml"
SHIPPED = sorted((Path(__file__).parent.parent / "contracts").glob("*.yaml"))


def _changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[:2] in ("- ", "+ ")]


@pytest.mark.parametrize("path", [PV_SHAPED, *SHIPPED], ids=lambda p: p.name)
def test_untouched_contract_round_trips_byte_for_byte(path):
    text = path.read_text("utf-8")
    contract, findings = load_contract(path, root=path.parent.parent)
    assert contract is not None, findings
    assert apply_edits(text, []) == text
    # setting every value to what it already is changes nothing either
    assert apply_edits(text, [Edit(("metadata", "status"), contract.status)]) == text


def test_pv_shaped_contract_validates_clean():
    contract, findings = load_contract(PV_SHAPED, root=PV_SHAPED.parent)
    assert contract is not None and findings == []
    assert contract.status == "PARTIAL_ALGORITHM_LEVEL"
    assert [f.bound for f in contract.falsifiers] == [False, False]


def test_one_status_change_changes_exactly_that_line():
    text = PV_SHAPED.read_text("utf-8")
    new = apply_edits(text, [Edit(("metadata", "status"), "DRAFT")])
    assert _changed_lines(text, new) == ["- " + "  status: PARTIAL_ALGORITHM_LEVEL", "+ " + "  status: DRAFT"]


def test_quote_style_and_trailing_comment_are_kept():
    text = "metadata:\n  status: 'DRAFT'   # written by the harness\n  id: x\n"
    assert apply_edits(text, [Edit(("metadata", "status"), "FALSIFIED")]) == "metadata:\n  status: 'FALSIFIED'   # written by the harness\n  id: x\n"


def test_inserted_keys_go_beside_their_siblings_in_order():
    text = "falsification_tests:\n- id: F-1\n  test: falsifiers/t.py::test_a  # bound\n  params:\n    a: 1\n"
    new = apply_edits(
        text,
        [
            Edit(("falsification_tests", 0, "status"), "DISCHARGED", after="test"),
            Edit(("falsification_tests", 0, "fingerprint"), "0123456789abcdef", after="status"),
            Edit(("falsification_tests", 0, "evidence"), "evidence/c/run", after="fingerprint"),
        ],
    )
    assert new == (
        "falsification_tests:\n- id: F-1\n  test: falsifiers/t.py::test_a  # bound\n"
        "  status: DISCHARGED\n  fingerprint: 0123456789abcdef\n  evidence: evidence/c/run\n  params:\n    a: 1\n"
    )


def test_numeric_looking_values_are_quoted_to_stay_strings():
    new = apply_edits("metadata:\n  id: x\n", [Edit(("metadata", "fp"), "12345678")])
    assert "fp: '12345678'" in new or 'fp: "12345678"' in new


def test_crlf_files_keep_crlf():
    text = "metadata:\r\n  status: DRAFT\r\n  id: x\r\n"
    new = apply_edits(text, [Edit(("metadata", "status"), "FALSIFIED"), Edit(("metadata", "kind"), "pattern", after="id")])
    assert new == "metadata:\r\n  status: FALSIFIED\r\n  id: x\r\n  kind: pattern\r\n"


def test_flow_mappings_are_edited_in_place():
    text = "metadata: {id: x,   status: DRAFT}  # keep\nfalsification_tests: [{id: F-1, test: t}]\n"
    new = apply_edits(text, [Edit(("metadata", "status"), "FALSIFIED"), Edit(("falsification_tests", 0, "status"), "FALSIFIED", after="test")])
    assert new == 'metadata: {id: x,   status: FALSIFIED}  # keep\nfalsification_tests: [{"status": "FALSIFIED", id: F-1, test: t}]\n'
    contract, findings = load_contract_text(new, Path("c.yaml"), root=Path("."))
    assert contract is not None, findings
    assert (contract.id, contract.status) == ("x", "FALSIFIED")


def test_what_cannot_be_edited_surgically_is_refused_never_reformatted():
    text = "metadata:\n  status: &s DRAFT\n  other: *s\n"  # an anchored value: editing it would change 'other' too
    with pytest.raises(WriteError, match=r"not rewritten\. Set by hand: metadata\.status = FALSIFIED"):
        apply_edits(text, [Edit(("metadata", "status"), "FALSIFIED")])


def test_unparsable_contract_is_refused():
    with pytest.raises(WriteError):
        apply_edits("metadata: [\n", [Edit(("metadata", "status"), "DRAFT")])


def test_no_change_means_no_write(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("metadata:\n  status: DRAFT\n")
    before = path.stat().st_mtime_ns
    assert update_file(path, [Edit(("metadata", "status"), "DRAFT")]) is False
    assert path.stat().st_mtime_ns == before


def test_atomic_write_keeps_mode_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("metadata:\n  status: DRAFT\n")
    os.chmod(path, 0o640)
    assert update_file(path, [Edit(("metadata", "status"), "FALSIFIED")]) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text() == "metadata:\n  status: FALSIFIED\n"
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]


def test_new_files_get_normal_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "new.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_is_a_clear_error_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("metadata:\n  status: DRAFT\n")
    os.chmod(tmp_path, 0o500)
    try:
        with pytest.raises(WriteError, match="old file is unchanged"):
            update_file(path, [Edit(("metadata", "status"), "FALSIFIED")])
    finally:
        os.chmod(tmp_path, 0o700)
    assert path.read_text() == "metadata:\n  status: DRAFT\n"


def test_disk_full_is_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("metadata:\n  status: DRAFT\n")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match="No space left on device"):
        update_file(path, [Edit(("metadata", "status"), "FALSIFIED")])
    assert path.read_text() == "metadata:\n  status: DRAFT\n"
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]


def test_read_only_file_system_is_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    import tempfile

    path = tmp_path / "c.yaml"
    path.write_text("metadata:\n  status: DRAFT\n")

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(WriteError, match="Read-only file system"):
        update_file(path, [Edit(("metadata", "status"), "FALSIFIED")])
    assert path.read_text() == "metadata:\n  status: DRAFT\n"

"""`harness report` renders contracts + evidence into self-contained HTML and markdown."""

from __future__ import annotations

import re
from pathlib import Path

from harness.cli import main
from tests.conftest import snapshot_tree

REPO = Path(__file__).parent.parent


def test_report_of_the_shipped_contracts_is_self_contained(tmp_path, capsys):
    before = snapshot_tree(REPO / "contracts")
    assert main(["--root", str(REPO), "report", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "index.html").read_text()
    assert page.startswith("<!doctype html>")
    assert "apr-pretrain-init-finetune-v1" in page and "Status history" in page and "Hypotheses" in page
    assert page.count("<svg") >= 3  # measurements against their bands, and the per-epoch losses
    assert not re.search(r"""(src|href)=["']https?://""", page), "the page must not load anything from the network"
    markdown = (tmp_path / "README.md").read_text()
    assert "| FALSIFY-SHARD-ENTROPY-001 | DISCHARGED |" in markdown
    assert snapshot_tree(REPO / "contracts") == before

"""Every YAML example in the docs and the README, run: a complete contract validates clean, a
fragment validates inside a minimal contract, an example of a refused contract is refused with the
rule it names, and any other YAML (CI workflows) parses. A doc that shows what the harness refuses
as if it worked misleads the reader who copies it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.snapshot import load_contract

ROOT = Path(__file__).parent.parent
DOCS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md"])
EXAMPLES = [(doc, i, text) for doc in DOCS for i, text in enumerate(re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S))]
# findings about the reader's own files, which the example names but this test does not make
ABOUT_THEIR_FILES = {"missing-artifact", "missing-test", "unknown-subject", "path-escape"}

BASE = """\
metadata:
  id: example-v1
  version: 1.0.0
  status: DRAFT
  description: a minimal host for a documentation fragment, shaped as harness init writes one
{metadata}
falsification_tests:
{tests}
{rest}"""


def _indent(text: str, by: str) -> str:
    return "\n".join(by + line if line.strip() else line for line in text.splitlines())


def as_contract(text: str) -> str:
    """The example as a whole contract: itself when it is one, else wrapped where it belongs."""
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    if re.search(r"^metadata:", body, re.M):
        return text
    if body.lstrip().startswith("- id:"):
        return BASE.format(metadata="", tests=text, rest="")
    named = re.findall(r"^\s+([A-Z][A-Z0-9-]+):\w+:", body, re.M)  # promotion names its falsifiers
    tests = "\n".join(f"- id: {fid}\n  rule: r\n  prediction: p\n  test: LIVE\n  if_fails: f" for fid in [*dict.fromkeys(named)] or ["F-1"])
    if body.lstrip().startswith("promotion:"):
        return BASE.format(metadata=_indent(text, "  "), tests=tests, rest="")
    if re.search(r"^(falsification|falsifiers|gates):", body, re.M):  # pv's shapes: a pv pattern contract hosts them
        return BASE.format(metadata="  kind: pattern\n  references: [docs]", tests=tests, rest=text)
    return BASE.format(metadata="", tests=tests, rest=text)


@pytest.mark.parametrize(("doc", "index", "text"), EXAMPLES, ids=[f"{d.name}#{i}" for d, i, _ in EXAMPLES])
def test_every_yaml_example_in_the_docs_does_what_the_docs_say(tmp_path, doc, index, text):
    if re.search(r"^(name|on|repos):", text, re.M) and "metadata:" not in text:  # a CI workflow or pre-commit config
        from ruamel.yaml import YAML

        assert YAML(typ="safe").load(text) is not None
        return
    (tmp_path / "pyproject.toml").write_text("[project]\nname='p'\n")
    (tmp_path / "contracts").mkdir()
    path = tmp_path / "contracts" / "example-v1.yaml"
    path.write_text(as_contract(text))
    contract, findings = load_contract(path, root=tmp_path)
    refused = re.search(r"^# refused.*?\[([\w:.-]+)\]", text, re.M)
    if refused:
        assert any(f.rule == refused.group(1) and f.is_error for f in findings), [f.render() for f in findings]
        return
    if contract is not None:
        from harness.lint import lint_contract
        from harness.snapshot import read_snapshot

        snapshot = read_snapshot(tmp_path)
        findings = [*findings, *(f for f in lint_contract(contract, snapshot.with_sources([contract])) if f.rule in ("external-builtin",))]
    shown = [f.render() for f in findings if f.rule not in ABOUT_THEIR_FILES]
    assert contract is not None and not shown, f"{doc.name} example #{index} does not validate:\n" + "\n".join(shown)

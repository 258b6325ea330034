"""JSON Schema validation of a contract, with each error placed on its YAML node."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from harness.contract.positions import position_of
from harness.findings import Finding


@lru_cache(maxsize=1)
def contract_schema() -> dict:
    text = resources.files("harness.schema").joinpath("contract.schema.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    schema = contract_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _describe_path(path: list[Any]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "<document>"


def _rule_for(error) -> str:
    validator = error.validator
    last = error.absolute_path[-1] if error.absolute_path else None
    in_range = any(step in ("plausible", "measurements") for step in error.absolute_path)
    if validator == "type":
        return "wrong-type"
    if validator == "required":
        return "missing-key"
    if validator == "additionalProperties":
        return "unknown-key"
    if validator == "pattern" and last == "version":
        return "bad-semver"
    if validator == "pattern" and last in ("created", "updated", "date"):
        return "bad-date"
    if validator == "enum" and last == "status":
        return "unknown-status"
    if validator in ("minItems", "maxItems") and in_range:
        return "bad-range"
    if validator == "propertyNames" or "propertyNames" in error.relative_schema_path:
        return "bad-name"
    return "bad-value"


def schema_findings(doc: Any, plain: Any, display: str) -> list[Finding]:
    findings: list[Finding] = []
    for error in sorted(_validator().iter_errors(plain), key=lambda e: (list(map(str, e.absolute_path)), e.validator)):
        path = list(error.absolute_path)
        rule = _rule_for(error)
        where = _describe_path(path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for extra in sorted(k for k in error.instance if k not in allowed):
                line, col = position_of(doc, [*path, extra], key=True)
                hint = ", ".join(sorted(allowed))
                findings.append(Finding(display, line, col, rule, f"unknown key {extra!r} in {where} (allowed: {hint})"))
            continue
        if error.validator == "required":
            line, col = position_of(doc, path, key=bool(path))
            findings.append(Finding(display, line, col, rule, f"{where}: {error.message}"))
            continue
        if "propertyNames" in error.relative_schema_path:
            # the error instance is the offending key itself
            line, col = position_of(doc, [*path, error.instance], key=True)
            findings.append(Finding(display, line, col, "bad-name", f"{where}: key {error.instance!r} is not a valid name (letters, digits, underscores)"))
            continue
        line, col = position_of(doc, path, key=False)
        message = error.message
        if len(message) > 200:
            message = message[:197] + "..."
        findings.append(Finding(display, line, col, rule, f"{where}: {message}"))
    return findings

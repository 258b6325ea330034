"""What a falsifier test receives: its binding's params, a recorder for measurements, its subject."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness._api import REQUIRED
from harness.paths import BUILTIN_PREFIX, artifact_roots_from_env, check_artifact_path
from harness.plugin.binding import Binding


class ParamError(Exception):
    """A contract's params do not fit what the test accepts."""


class Params(Mapping):
    """Read-only params: the contract's values over the test's declared defaults."""

    def __init__(self, values: dict[str, Any], root: Path, owner: str) -> None:
        self._values = values
        self._root = root
        self._owner = owner

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise KeyError(f"{self._owner}: no param {key!r} (declare it in @accepts)") from None

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def path(self, key: str) -> Path | str:
        """An artifact path param, resolved inside the repository; ``builtin:`` names pass through."""
        value = self[key]
        if isinstance(value, str) and value.startswith(BUILTIN_PREFIX):
            return value
        why = check_artifact_path(str(value), self._root, artifact_roots_from_env())
        if why:
            raise ParamError(f"{self._owner}: params.{key} = {value!r} {why}")
        return (self._root / str(value)).resolve()

    def __repr__(self) -> str:
        return f"Params({self._values!r})"


def resolve_params(binding: Binding, declared: dict[str, Any] | None, root: Path) -> Params:
    given = dict(binding.falsifier.params)
    owner = binding.key
    if declared is None:
        return Params(given, root, owner)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParamError(f"{owner}: params {unknown} are not accepted by the test (accepts: {sorted(declared)})")
    missing = sorted(k for k, v in declared.items() if v is REQUIRED and k not in given)
    if missing:
        raise ParamError(f"{owner}: the test requires params {missing}")
    values = {k: v for k, v in declared.items() if v is not REQUIRED}
    values.update(given)
    return Params(values, root, owner)


class FalsifierRun:
    """The handle a falsifier test gets: who it is, its params, and ``record()`` for measurements.

    One per test item, made at collection (the plugin parametrizes ``falsifier`` with it directly:
    an indirect fixture costs pytest a request object per item). ``params_error`` is a param
    mismatch found then; the item fails at set-up with it. ``begin()`` starts each (re)run clean."""

    def __init__(self, binding: Binding, params: Params | None, item, params_error: str | None = None) -> None:
        self.binding = binding
        self.params = params
        self.params_error = params_error
        self.measurements: dict[str, float] = {}
        self.attachments: dict[str, object] = {}
        self.suspicions: list[str] = []
        self._item = item
        self.device = "cpu"

    def begin(self) -> None:
        """Forget what an earlier run of the same item recorded (reruns run the item again)."""
        self.measurements = {}
        self.attachments = {}
        self.suspicions = []
        self.device = "cpu"

    @property
    def id(self) -> str:
        return self.binding.falsifier.id

    def subject_named(self, name: str, kind: str | None = None):
        """Another subject by name (a declared one, else a fixture), as the ``subject`` fixture
        resolves its own: a falsifier that compares two subjects asks its handle, never the plugin."""
        from harness.plugin.provided import resolve_subject

        return resolve_subject(self._item._request, name, kind, self.binding)

    @property
    def contract(self) -> str:
        return self.binding.contract_id

    @property
    def root(self) -> Path:
        """The project root the contract's relative artifact paths resolve against."""
        return self.params._root if self.params is not None else Path.cwd()

    @property
    def plausible(self) -> dict[str, tuple[float, float]]:
        return dict(self.binding.falsifier.plausible)

    @property
    def requires_cuda(self) -> bool:
        return self.binding.falsifier.needs_cuda

    def record(self, name: str, value: float) -> float:
        """Record a named measurement (like ``record_property``); plausible bands judge it."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"measurement name must be an identifier, got {name!r}")
        number = float(value)
        self.measurements[name] = number
        self._item.user_properties.append((f"measurement:{name}", number if math.isfinite(number) else str(number)))
        return number

    def suspect(self, reason: str) -> None:
        """Say why a pass would claim more than this run saw (it read a sample, not everything):
        a passing item with a reason is METHODOLOGY_SUSPECT, never DISCHARGED; a failure still
        falsifies."""
        self.suspicions.append(str(reason))

    def attach(self, name: str, data: object) -> None:
        """Keep JSON-able detail (e.g. per-epoch losses) in the evidence, for the report's plots."""
        import json

        json.dumps(data)  # fail here, in the test, if it cannot be stored
        self.attachments[name] = data

    def __repr__(self) -> str:
        return f"FalsifierRun({self.binding.key})"

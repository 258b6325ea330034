"""The fixtures a falsifier test asks for: ``falsifier`` and ``subject``.

Kept apart from the session so that loading the plugin (every pytest run where the package is
installed, contracts or not) imports only pytest: what these fixtures need is imported when a
test first asks for them.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def falsifier():
    """The running falsifier: ``params``, ``record(name, value)``, ``attach``, ``plausible``.

    The plugin parametrizes bound tests with each item's own ``FalsifierRun`` directly, which
    overrides this fixture; it runs only for a test no selected contract binds.
    """
    pytest.fail("this falsifier test is not bound by any selected contract", pytrace=False)


def resolve_subject(request, name: str, kind: str | None = None, binding=None, builtin: str | None = None):
    """A subject by name (``binding``: the item's ``harness.plugin.binding.Binding``): one the contract declares under ``subjects:`` (built from its artifacts),
    else the fixture of that name. With ``kind``, it must satisfy that protocol: a missing member
    is an error naming it, never an AttributeError inside a falsifier."""
    from harness.builtins import TRAINING_RUN
    from harness.subjects.protocols import missing_members

    if name == TRAINING_RUN and binding is not None:
        pytest.skip(f"{binding.key}: judged inside a training run by a tripwire (docs/tripwires.md); pytest has no live run to judge")
    session = request.config.pluginmanager.get_plugin("harness-session")
    contract = None
    if session is not None and binding is not None:
        contract = next((c for c in session.contracts if c.key == binding.contract_key), None)
    declared = (contract.subjects if contract is not None else {}).get(name)
    if declared is not None:
        from harness.subjects.declarative import ArtifactSubject

        value = ArtifactSubject(name, Path(request.config.rootpath), dict(declared))
    else:
        try:
            value = request.getfixturevalue(name)
        except pytest.FixtureLookupError:
            where = f" or under subjects: in {contract.display_path}" if contract is not None else ""
            pytest.fail(f"subject {name!r} is neither a fixture{where}", pytrace=False)
    if kind is not None:
        missing = missing_members(value, kind, builtin)
        if missing:
            needs = f"builtin:{builtin}" if builtin else f"a {kind} subject"
            pytest.fail(
                f"subject {name!r} ({type(value).__name__}) does not serve {needs}: it lacks {', '.join(missing)} (see docs/subjects.md)", pytrace=False
            )
    return value


@pytest.fixture
def subject(request, falsifier):
    """The pipeline part the contract names (``subject: NAME``): a declared artifact subject or a
    fixture, checked against the protocol its built-in falsifier needs."""
    from harness.builtins import BUILTINS

    binding = falsifier.binding
    name = binding.falsifier.subject
    if not name:
        pytest.fail(f"{binding.key} names no subject, but its test asks for one", pytrace=False)
    kind = BUILTINS[binding.falsifier.builtin].subject_kind if binding.falsifier.builtin else None
    return resolve_subject(request, name, kind, binding, binding.falsifier.builtin)

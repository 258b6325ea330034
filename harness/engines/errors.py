"""The one error an engine raises for itself (the tasks' own errors are reported per task)."""


class EngineError(RuntimeError):
    """An engine that cannot run here: Ray not installed, a cluster not reachable, a name unknown."""

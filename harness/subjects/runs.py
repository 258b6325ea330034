"""Per-epoch losses of a finished training run, from the files real trainers write.

* pv-style evidence folders: ``epoch-NNN.metadata.json`` with ``train_loss`` and ``val_loss``
  (the incident's trainer);
* Hugging Face ``Trainer``: ``trainer_state.json`` (``log_history`` with ``loss`` and ``eval_loss``);
* PyTorch Lightning ``CSVLogger``: ``metrics.csv`` (``train_loss``/``train_loss_epoch`` and
  ``val_loss`` columns, one row per logging step).

Malformed input raises ``RunFormatError`` naming the file and what is wrong.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class RunFormatError(ValueError):
    """A run's files do not say what a run must say (named file, named problem)."""


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


_NUMBER = re.compile(r"(\d+)")


def natural_key(path: Path | str) -> tuple:
    """Order by the numbers a path holds, part by part: ``checkpoint-1000`` after ``checkpoint-500``,
    ``epoch-1000`` after ``epoch-999`` (string order judged a run on the wrong checkpoint)."""
    parts = Path(path).parts
    return tuple(tuple(int(t) if t.isdigit() else t for t in _NUMBER.split(part)) for part in parts)


def read_pv_epochs(folder: Path, root: Path | None = None) -> list[dict]:
    epochs = []
    for path in sorted(folder.glob("epoch-*.metadata.json"), key=natural_key):
        if root is not None:
            from harness.paths import artifact_roots_from_env, check_artifact_path

            why = check_artifact_path(str(path), Path(root), artifact_roots_from_env())
            if why:
                raise RunFormatError(f"{path}: {why}")
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise RunFormatError(f"{path}: unreadable run metadata ({exc})") from None
        if not isinstance(data, dict):
            raise RunFormatError(f"{path}: not a JSON object")
        for key in ("train_loss", "val_loss"):
            if not isinstance(data.get(key), (int, float)) or isinstance(data.get(key), bool):
                raise RunFormatError(f"{path}: {key} missing or not a number")
        epochs.append(data)
    return epochs


def read_hf_trainer_state(path: Path) -> list[dict]:
    """One entry per evaluation: its eval_loss and the last training loss logged before it."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFormatError(f"{path}: unreadable trainer state ({exc})") from None
    history = data.get("log_history") if isinstance(data, dict) else None
    if not isinstance(history, list):
        raise RunFormatError(f"{path}: no log_history list (is this a Hugging Face trainer_state.json?)")
    epochs, last_train = [], None
    for entry in history:
        if not isinstance(entry, dict):
            continue
        if _number(entry.get("loss")) is not None:
            last_train = _number(entry["loss"])
        if _number(entry.get("eval_loss")) is not None:
            if last_train is None:
                raise RunFormatError(f"{path}: an eval_loss at step {entry.get('step')} comes before any training loss")
            epochs.append({"epoch": entry.get("epoch"), "step": entry.get("step"), "train_loss": last_train, "val_loss": _number(entry["eval_loss"])})
    return epochs


def read_lightning_metrics(path: Path) -> list[dict]:
    """One entry per epoch that logged a val_loss, with that epoch's last training loss."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RunFormatError(f"{path}: unreadable metrics CSV ({exc})") from None
    if not rows:
        return []
    columns = rows[0].keys()
    train_keys = [k for k in ("train_loss_epoch", "train_loss", "train_loss_step", "loss") if k in columns]
    val_key = next((k for k in ("val_loss", "val_loss_epoch", "valid_loss") if k in columns), None)
    if not train_keys or val_key is None:
        raise RunFormatError(f"{path}: needs a train_loss and a val_loss column; has {', '.join(columns)}")
    by_epoch: dict[Any, dict] = {}
    for row in rows:
        epoch = row.get("epoch", "")
        entry = by_epoch.setdefault(epoch, {"epoch": _number(epoch), "step": None, "train_loss": None, "val_loss": None})
        for key in train_keys:
            if _number(row.get(key)) is not None:
                entry["train_loss"] = _number(row[key])
                break
        if _number(row.get(val_key)) is not None:
            entry["val_loss"] = _number(row[val_key])
            entry["step"] = row.get("step")
    epochs = [e for e in by_epoch.values() if e["val_loss"] is not None]
    for e in epochs:
        if e["train_loss"] is None:
            raise RunFormatError(f"{path}: epoch {e['epoch']} logged a val_loss but no training loss")
    return epochs


def _global_step(path: Path) -> float:
    """The step a ``trainer_state.json`` was written at (its ``global_step``, else its last log)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return -1.0
    if not isinstance(data, dict):
        return -1.0
    step = _number(data.get("global_step"))
    if step is None:
        steps = [_number(e.get("step")) for e in data.get("log_history") or () if isinstance(e, dict)]
        step = max((s for s in steps if s is not None), default=-1.0)
    return step


def latest_run_file(location: Path, root: Path | None = None) -> Path | None:
    """The file that holds the newest state of a run folder: of Hugging Face ``checkpoint-N/``
    folders (and the final ``trainer_state.json``) the one at the highest ``global_step``; of
    Lightning ``version_N/metrics.csv`` the highest version. Numbers decide, never string order."""
    from harness.globbing import expand_glob

    def found(pattern: str) -> list[Path]:
        if root is None:
            return sorted(location.glob(pattern), key=natural_key)
        from harness.paths import artifact_roots_from_env

        return sorted(expand_glob(location, pattern, (Path(root), *artifact_roots_from_env())), key=natural_key)

    states = found("**/trainer_state.json")
    if states:
        return max(states, key=lambda p: (_global_step(p), natural_key(p)))
    metrics = found("**/metrics.csv")
    return metrics[-1] if metrics else None


def read_run(location: Path, root: Path | None = None) -> list[dict]:
    """Per-epoch losses of the run at ``location`` (a folder, or one of the files above). With
    ``root``, every file read must resolve inside it (a declared subject's run)."""
    location = Path(location)
    if location.is_file():
        if location.name == "trainer_state.json" or (location.suffix == ".json" and "log_history" in location.read_text("utf-8", errors="replace")[:100000]):
            epochs = read_hf_trainer_state(location)
        elif location.suffix == ".csv":
            epochs = read_lightning_metrics(location)
        else:
            raise RunFormatError(f"{location}: not a run file the harness reads (trainer_state.json, metrics.csv, epoch-NNN.metadata.json folder)")
    elif location.is_dir():
        epochs = read_pv_epochs(location, root)
        if not epochs:
            nested = latest_run_file(location, root)
            if nested is not None:
                return read_run(nested, root)
    else:
        raise RunFormatError(f"{location}: no such run folder or file")
    if not epochs:
        raise RunFormatError(f"{location}: no epochs with both a train_loss and a val_loss")
    return epochs


def read_train_curve(location: Path, root: Path | None = None) -> list[tuple[float, float]]:
    """(step, training loss) at every logged step: a Hugging Face ``trainer_state.json``'s
    ``log_history`` ``loss`` entries, a Lightning ``metrics.csv``'s per-step training loss; else
    the per-epoch training losses ``read_run`` gives (a pv folder logs no finer)."""
    path = location
    if location.is_dir() and not any(location.glob("epoch-*.metadata.json")):
        path = latest_run_file(location, root) or location
    curve: list[tuple[float, float]] = []
    if path.is_file() and path.suffix == ".json":
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise RunFormatError(f"{path}: unreadable trainer state ({exc})") from None
        for entry in data.get("log_history") or [] if isinstance(data, dict) else []:
            if isinstance(entry, dict) and _number(entry.get("loss")) is not None and _number(entry.get("step")) is not None:
                curve.append((float(entry["step"]), float(entry["loss"])))
    elif path.is_file() and path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                loss = next((_number(row.get(k)) for k in ("train_loss_step", "train_loss", "loss") if _number(row.get(k)) is not None), None)
                if loss is not None and _number(row.get("step")) is not None:
                    curve.append((float(row["step"]), loss))
    if curve:
        return curve
    return [(float(e.get("step") if e.get("step") is not None else n), float(e["train_loss"])) for n, e in enumerate(read_run(location, root))]


@dataclass(frozen=True)
class RunFolder:
    """A finished run on disk, as a ``RunSubject``."""

    path: Path

    def epochs(self) -> list[dict]:
        return read_run(self.path)

    def train_curve(self) -> list[tuple[float, float]]:
        return read_train_curve(self.path)

    @property
    def vocab_size(self) -> int | None:
        """The model's vocab from the Hugging Face ``config.json`` a checkpoint keeps beside its
        state (the run's folder, or the newest checkpoint's), when there is one."""
        places = [self.path if self.path.is_dir() else self.path.parent]
        newest = latest_run_file(self.path) if self.path.is_dir() else None
        if newest is not None:
            places.insert(0, newest.parent)
        for place in places:
            try:
                size = json.loads((place / "config.json").read_text("utf-8")).get("vocab_size")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(size, int) and not isinstance(size, bool) and size > 1:
                return size
        return None

    def __str__(self) -> str:
        return str(self.path)

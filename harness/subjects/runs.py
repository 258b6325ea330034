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


def read_pv_epochs(folder: Path) -> list[dict]:
    epochs = []
    for path in sorted(folder.glob("epoch-*.metadata.json")):
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


def read_run(location: Path) -> list[dict]:
    """Per-epoch losses of the run at ``location`` (a folder, or one of the files above)."""
    location = Path(location)
    if location.is_file():
        if location.name == "trainer_state.json" or (location.suffix == ".json" and "log_history" in location.read_text("utf-8", errors="replace")[:100000]):
            epochs = read_hf_trainer_state(location)
        elif location.suffix == ".csv":
            epochs = read_lightning_metrics(location)
        else:
            raise RunFormatError(f"{location}: not a run file the harness reads (trainer_state.json, metrics.csv, epoch-NNN.metadata.json folder)")
    elif location.is_dir():
        epochs = read_pv_epochs(location)
        if not epochs:
            nested = sorted(location.glob("**/trainer_state.json")) or sorted(location.glob("**/metrics.csv"))
            if nested:
                return read_run(nested[-1])
    else:
        raise RunFormatError(f"{location}: no such run folder or file")
    if not epochs:
        raise RunFormatError(f"{location}: no epochs with both a train_loss and a val_loss")
    return epochs


@dataclass(frozen=True)
class RunFolder:
    """A finished run on disk, as a ``RunSubject``."""

    path: Path

    def epochs(self) -> list[dict]:
        return read_run(self.path)

    def __str__(self) -> str:
        return str(self.path)

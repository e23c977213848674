"""eqv2's own checkpoint format: reading it into `CheckpointParts`, writing it atomically.

The format is a ``torch.save`` of plain data, readable with ``torch.load(weights_only=True)``:

    {"format": "eqv2", "version": 1,
     "model_config": {...EquiformerV2Config fields...},
     "state_dict": {name: tensor},
     "statistics": {"energy": {"mean", "std"}, "forces": {...}, "stress_isotropic": {...},
                    "stress_anisotropic": {...}, "element_references": [...] | None,
                    "trained_elements": [...] | None},
     "metadata": {...}}

Files are written atomically: to a temporary file in the same folder, then renamed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from eqv2.checkpoints.parts import CheckpointParts
from eqv2.model_config import EquiformerV2Config
from eqv2.potential import Potential, TargetStatistics

FORMAT = "eqv2"
VERSION = 1


def is_native_checkpoint(checkpoint: dict[str, Any]) -> bool:
    return checkpoint.get("format") == FORMAT


def read_native_checkpoint(checkpoint: dict[str, Any], source: str = "") -> CheckpointParts:
    """Model config, state dict, statistics and metadata of a loaded eqv2-format dict."""
    if checkpoint.get("version") != VERSION:
        raise ValueError(f"{source}: eqv2 checkpoint version {checkpoint.get('version')!r} is not supported")
    return CheckpointParts(
        EquiformerV2Config.from_dict(with_stored_neighbor_mode(checkpoint["model_config"])),
        checkpoint["state_dict"],
        TargetStatistics.from_dict(checkpoint.get("statistics", {})),
        checkpoint.get("metadata") or {},
    )


def with_stored_neighbor_mode(model_config: dict[str, Any]) -> dict[str, Any]:
    """An eqv2 model config with its neighbour rule explicit. Files from before the rule was always
    stored mean by an unset rule "strict" when enforce_max_neighbors_strictly is true, else "shell"."""
    if model_config.get("max_neighbors_mode") is not None:
        return model_config
    strict = model_config.get("enforce_max_neighbors_strictly", True)
    return {**model_config, "max_neighbors_mode": "strict" if strict else "shell"}


def checkpoint_dict(potential: Potential, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The eqv2-format dict for ``potential``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_config": {**potential.model.config.to_dict(), "max_neighbors_mode": potential.neighbor_mode},
        "state_dict": {key: value.detach().cpu() for key, value in potential.model.state_dict().items()},
        "statistics": potential.statistics.to_dict(),
        "metadata": {**potential.metadata, **(metadata or {})},
    }


def save_atomically(data: dict[str, Any], path: str | os.PathLike) -> None:
    """torch.save to ``path`` so that a crash never leaves a half-written file there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(data, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(potential: Potential, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write ``potential`` in eqv2's format, atomically."""
    save_atomically(checkpoint_dict(potential, metadata), path)

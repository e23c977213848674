"""Loading and saving potentials.

eqv2's own format is a ``torch.save`` of plain data, readable with ``torch.load(weights_only=True)``:

    {"format": "eqv2", "version": 1,
     "model_config": {...EquiformerV2Config fields...},
     "state_dict": {name: tensor},
     "statistics": {"energy": {"mean", "std"}, "forces": {...}, "stress_isotropic": {...},
                    "stress_anisotropic": {...}, "element_references": [...] | None},
     "metadata": {...}}

`load` also reads fairchem-core 1.x EquiformerV2 checkpoints: the old format (`eqv2.compat.fairchem`)
and the hydra format (`eqv2.compat.hydra`).
Files are written atomically: to a temporary file in the same folder, then renamed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from eqv2.compat.fairchem import load_fairchem_checkpoint, load_strict
from eqv2.compat.hydra import is_hydra_config, load_hydra_checkpoint
from eqv2.model import EquiformerV2
from eqv2.potential import Potential, TargetStatistics

FORMAT = "eqv2"
VERSION = 1


def read_checkpoint_file(path: str | os.PathLike) -> dict[str, Any]:
    """torch.load a checkpoint without executing pickled code; clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or foreign files
        raise ValueError(f"{path}: not a readable checkpoint ({type(error).__name__}: {str(error)[:200]})") from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: not a checkpoint (expected a dict, got {type(checkpoint).__name__})")
    return checkpoint


def potential_from_checkpoint(checkpoint: dict[str, Any], source: str = "") -> Potential:
    """Build a `Potential` from a loaded checkpoint dict in eqv2 or fairchem format."""
    if checkpoint.get("format") == FORMAT:
        if checkpoint.get("version") != VERSION:
            raise ValueError(f"{source}: eqv2 checkpoint version {checkpoint.get('version')!r} is not supported")
        model = EquiformerV2.from_config(checkpoint["model_config"])
        load_strict(model, checkpoint["state_dict"], source)
        model.eval()
        statistics = TargetStatistics.from_dict(checkpoint.get("statistics", {}))
        return Potential(model, statistics, checkpoint.get("metadata"))
    if isinstance(checkpoint.get("config"), dict) and is_hydra_config(checkpoint["config"]):
        if "state_dict" not in checkpoint:
            raise ValueError(f"{source}: fairchem checkpoint without 'state_dict'")
        return load_hydra_checkpoint(checkpoint, source)
    if "config" in checkpoint and "state_dict" in checkpoint:
        return load_fairchem_checkpoint(checkpoint, source)
    raise ValueError(
        f"{source}: neither an eqv2 nor a fairchem EquiformerV2 checkpoint (keys: {sorted(checkpoint)[:8]})"
    )


def load(
    path: str | os.PathLike,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    neighbor_mode: str | None = None,
) -> Potential:
    """A ready potential (model, normalizers, element references, metadata) from a checkpoint file.

    Accepts eqv2 checkpoints and fairchem-core 1.x EquiformerV2 checkpoints. The model is in eval mode.
    ``dtype`` is a torch dtype or its name ("float32", "float64"); ``neighbor_mode`` replaces the
    checkpoint's rule for ties at max_neighbors (`eqv2.graph.NEIGHBOR_MODES`).
    """
    potential = potential_from_checkpoint(read_checkpoint_file(path), str(path))
    if neighbor_mode is not None:
        potential.neighbor_mode = neighbor_mode
    return potential.to(device=device, dtype=dtype) if (device or dtype) else potential


def checkpoint_dict(potential: Potential, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The eqv2-format dict for ``potential``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_config": potential.model.config.to_dict(),
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

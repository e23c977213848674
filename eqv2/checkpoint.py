"""Loading and saving potentials.

eqv2's own format is a ``torch.save`` of plain data, readable with ``torch.load(weights_only=True)``:

    {"format": "eqv2", "version": 1,
     "model_config": {...EquiformerV2Config fields...},
     "state_dict": {name: tensor},
     "statistics": {"energy": {"mean", "std"}, "forces": {...}, "stress_isotropic": {...},
                    "stress_anisotropic": {...}, "element_references": [...] | None},
     "metadata": {...}}

`load` also reads fairchem-core 1.x EquiformerV2 checkpoints: the old format (`eqv2.compat.fairchem`)
and the hydra format (`eqv2.compat.hydra`). Every format is first read into the same parts (model
config, state dict in eqv2's names, statistics, metadata); `build_potential` builds from those.
Files are written atomically: to a temporary file in the same folder, then renamed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eqv2.compat.fairchem import CheckpointParts, read_fairchem_checkpoint
from eqv2.compat.hydra import is_hydra_config, read_hydra_checkpoint
from eqv2.model import EquiformerV2
from eqv2.model_config import EquiformerV2Config
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


def checkpoint_parts(checkpoint: dict[str, Any], source: str = "") -> CheckpointParts:
    """Model config, state dict, statistics and metadata of a loaded checkpoint dict in any format."""
    if checkpoint.get("format") == FORMAT:
        if checkpoint.get("version") != VERSION:
            raise ValueError(f"{source}: eqv2 checkpoint version {checkpoint.get('version')!r} is not supported")
        return CheckpointParts(
            EquiformerV2Config.from_dict(with_stored_neighbor_mode(checkpoint["model_config"])),
            checkpoint["state_dict"],
            TargetStatistics.from_dict(checkpoint.get("statistics", {})),
            checkpoint.get("metadata") or {},
        )
    if isinstance(checkpoint.get("config"), dict) and is_hydra_config(checkpoint["config"]):
        if "state_dict" not in checkpoint:
            raise ValueError(f"{source}: fairchem checkpoint without 'state_dict'")
        return read_hydra_checkpoint(checkpoint, source)
    if "config" in checkpoint and "state_dict" in checkpoint:
        return read_fairchem_checkpoint(checkpoint, source)
    raise ValueError(
        f"{source}: neither an eqv2 nor a fairchem EquiformerV2 checkpoint (keys: {sorted(checkpoint)[:8]})"
    )


def with_stored_neighbor_mode(model_config: dict[str, Any]) -> dict[str, Any]:
    """An eqv2 model config with its neighbour rule explicit. Files from before the rule was always
    stored mean by an unset rule "strict" when enforce_max_neighbors_strictly is true, else "shell"."""
    if model_config.get("max_neighbors_mode") is not None:
        return model_config
    strict = model_config.get("enforce_max_neighbors_strictly", True)
    return {**model_config, "max_neighbors_mode": "strict" if strict else "shell"}


def build_potential(
    config: EquiformerV2Config,
    state_dict: dict[str, Tensor],
    statistics: TargetStatistics,
    metadata: dict[str, Any] | None = None,
    source: str = "",
) -> Potential:
    """The `Potential` of ``config`` with every weight of ``state_dict`` (in eval mode)."""
    model = EquiformerV2.from_config(config)
    load_strict(model, state_dict, source)
    return Potential(model.eval(), statistics, metadata)


def potential_from_checkpoint(checkpoint: dict[str, Any], source: str = "") -> Potential:
    """The `Potential` of a loaded checkpoint dict in any format eqv2 reads."""
    return build_potential(*checkpoint_parts(checkpoint, source), source=source)


def load_strict(model: torch.nn.Module, state_dict: dict[str, Tensor], source: str) -> None:
    """Load every parameter or fail naming the missing, unexpected or mis-shaped keys."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state_dict) if expected[k].shape != state_dict[k].shape)
    problems = []
    if missing:
        problems.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    if wrong_shape:
        shapes = [
            f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}" for k in wrong_shape[:5]
        ]
        problems.append("wrong shape " + "; ".join(shapes))
    if problems:
        raise ValueError(f"{source}: checkpoint does not match its model config: " + ", ".join(problems))
    model.load_state_dict(state_dict, strict=True)


def load(
    path: str | os.PathLike,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    neighbor_mode: str | None = None,
    compile: bool = False,
) -> Potential:
    """A ready potential (model, normalizers, element references, metadata) from a checkpoint file.

    Accepts eqv2 checkpoints and fairchem-core 1.x EquiformerV2 checkpoints. The model is in eval mode.
    ``dtype`` is a torch dtype or its name ("float32", "float64"); ``neighbor_mode`` replaces the
    checkpoint's rule for ties at max_neighbors (`eqv2.graph.NEIGHBOR_MODES`); ``compile`` compiles
    the network with torch.compile (`eqv2.compile`; the first call then takes longer).
    """
    potential = potential_from_checkpoint(read_checkpoint_file(path), str(path))
    if neighbor_mode is not None:
        potential.neighbor_mode = neighbor_mode
    if device or dtype:
        potential = potential.to(device=device, dtype=dtype)
    if compile:
        potential.compile_network()
    return potential


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

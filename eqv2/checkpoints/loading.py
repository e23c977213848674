"""Loading potentials from checkpoint files of every format eqv2 reads.

`load` reads eqv2's own format (`eqv2.checkpoints.native`) and fairchem-core 1.x EquiformerV2
checkpoints: the old format (`eqv2.checkpoints.fairchem`) and the hydra format
(`eqv2.checkpoints.hydra`). Every format is first read into the same parts
(`eqv2.checkpoints.parts.CheckpointParts`); `eqv2.checkpoints.parts.build_potential` builds from those.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from eqv2.checkpoints.fairchem import read_fairchem_checkpoint
from eqv2.checkpoints.hydra import is_hydra_config, read_hydra_checkpoint
from eqv2.checkpoints.native import is_native_checkpoint, read_native_checkpoint
from eqv2.checkpoints.parts import CheckpointParts, build_potential
from eqv2.potential import Potential


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
    if is_native_checkpoint(checkpoint):
        return read_native_checkpoint(checkpoint, source)
    if isinstance(checkpoint.get("config"), dict) and is_hydra_config(checkpoint["config"]):
        if "state_dict" not in checkpoint:
            raise ValueError(f"{source}: fairchem checkpoint without 'state_dict'")
        return read_hydra_checkpoint(checkpoint, source)
    if "config" in checkpoint and "state_dict" in checkpoint:
        return read_fairchem_checkpoint(checkpoint, source)
    raise ValueError(
        f"{source}: neither an eqv2 nor a fairchem EquiformerV2 checkpoint (keys: {sorted(checkpoint)[:8]})"
    )


def potential_from_checkpoint(checkpoint: dict[str, Any], source: str = "") -> Potential:
    """The `Potential` of a loaded checkpoint dict in any format eqv2 reads."""
    return build_potential(*checkpoint_parts(checkpoint, source), source=source)


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
    checkpoint's rule for ties at max_neighbors (`eqv2.graph.neighbors.NEIGHBOR_MODES`); ``compile`` compiles
    the network with torch.compile (`EquiformerV2.compile_dense_parts`; the first call then takes longer).
    """
    potential = potential_from_checkpoint(read_checkpoint_file(path), str(path))
    if neighbor_mode is not None:
        potential.neighbor_mode = neighbor_mode
    if device or dtype:
        potential = potential.to(device=device, dtype=dtype)
    if compile:
        potential.compile_network()
    return potential

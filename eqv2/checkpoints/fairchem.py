"""Translate EquiformerV2 checkpoints saved by fairchem-core 1.x (old ``equiformer_v2`` format).

The translation gives what `eqv2.checkpoints.parts.build_potential` builds a potential from: the model
config, a state dict in eqv2's names, the target statistics and metadata (`CheckpointParts`).

A fairchem checkpoint is a dict ``{"state_dict", "config", "normalizers", ...}``:
- ``config["model"] == "equiformer_v2"`` with kwargs in ``config["model_attributes"]``, or
  ``config["model"]`` a dict ``{"name": "equiformer_v2", **kwargs}``;
- state-dict keys carry any number of ``module.`` prefixes; fairchem's module names are renamed to
  eqv2's here (`rename_key`); its precomputed buffers (grids, index tables, Gaussian centres) are
  checked against eqv2's own and then dropped;
- ``normalizers`` hold ``target``/``energy`` and ``grad_target``/``forces`` (hydra checkpoints also
  ``stress_isotropic`` and ``stress_anisotropic``) with mean and std/rmsd.

Hydra checkpoints (backbone + heads) are mapped onto these names by `eqv2.checkpoints.hydra`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqv2.checkpoints.parts import CheckpointParts
from eqv2.model_config import EquiformerV2Config
from eqv2.potential import NORMALIZED_TARGETS, Normalizer, TargetStatistics
from eqv2.so3.grids import s2_grid_matrices

SUPPORTED_MODEL_NAMES = ("equiformer_v2", "equiformerv2")


# fairchem module name -> eqv2 module name, applied to each component of a dotted key
_RENAMES = {
    "sphere_embedding": "atom_embedding",
    "norm_1": "attention_norm",
    "norm_2": "ffn_norm",
    "ga": "attention",
    "energy_block": "energy_head",
    "force_block": "force_head",
    "so2_conv_1": "conv_in",
    "so2_conv_2": "conv_out",
    "fc_m0": "linear_m0",
    "so2_m_conv": "linear_m",
    "norm_l0": "scalar_norm",
    "so3_linear_1": "linear_in",
    "so3_linear_2": "linear_out",
    "gating_linear": "gating",
    "denoising_pos_block": "force_denoising_head",
}
# modules whose so2_conv_1.rad_func is eqv2's per-degree radial MLP
_ATTENTION_MODULES = ("ga", "force_block", "denoising_pos_block")

# Buffers fairchem stores that eqv2 recomputes.
_DERIVED_BUFFER_PARTS = frozenset(
    {"SO3_rotation", "mappingReduced", "SO3_grid", "expand_index", "balance_degree_weight", "distance_expansion"}
)


def strip_module_prefix(key: str) -> str:
    while key.startswith("module."):
        key = key[len("module.") :]
    return key


def rename_key(key: str) -> str:
    """A fairchem ``equiformer_v2`` state-dict key (without ``module.``) -> the eqv2 key."""
    parts = key.split(".")
    if parts[0] in ("source_embedding", "target_embedding"):
        return "shared_atom_edge_embedding." + key
    renamed: list[str] = []
    for i, part in enumerate(parts):
        parent = parts[i - 1] if i else ""
        if part == "fc" and parent.isdigit():
            continue  # so2_m_conv.<m>.fc -> linear_m.<m>
        if part == "rad_func":
            renamed.append("radial_per_degree" if parent in _ATTENTION_MODULES else "radial")
        elif part in ("source_embedding", "target_embedding"):
            renamed += ["atom_edge_embedding", part]
        elif part == "norm" and parent == "":
            renamed.append("final_norm")
        else:
            renamed.append(_RENAMES.get(part, part))
    return ".".join(renamed)


def is_derived_buffer(key: str) -> bool:
    return bool(_DERIVED_BUFFER_PARTS.intersection(key.split(".")))


def model_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    """The ``equiformer_v2`` keyword arguments of a fairchem config (either layout)."""
    model = config.get("model")
    if isinstance(model, str):
        name, kwargs = model, dict(config.get("model_attributes") or {})
    elif isinstance(model, dict):
        kwargs = dict(model)
        name = kwargs.pop("name", None)
    else:
        raise ValueError("checkpoint config has no 'model' entry")
    if str(name).lower() not in SUPPORTED_MODEL_NAMES:
        raise ValueError(f"config.model names {name!r}; eqv2 reads 'equiformer_v2' checkpoints")
    return kwargs


def check_derived_buffers(state_dict: dict[str, Tensor], config: EquiformerV2Config) -> None:
    """Compare fairchem's stored grids and Gaussian centres with those ``config`` implies; they reveal
    config mismatches."""
    lmax = config.lmax
    checks = {
        f"SO3_grid.{lmax}.{lmax}.to_grid_mat": lambda: s2_grid_matrices(
            lmax, lmax, *config.grid_sizes(lmax), dtype=torch.float64
        )[0],
        "distance_expansion.offset": lambda: torch.linspace(
            0.0, config.max_radius, config.distance_gaussians, dtype=torch.float64
        ),
    }
    for key, expected in checks.items():
        theirs = state_dict.get(key)
        if theirs is None:
            continue
        ours = expected()
        if theirs.shape != ours.shape or not torch.allclose(theirs.double(), ours, atol=1e-5):
            raise ValueError(f"checkpoint buffer {key!r} does not match the model its config describes")


def convert_state_dict(state_dict: dict[str, Tensor], config: EquiformerV2Config) -> dict[str, Tensor]:
    """fairchem state dict (old-format names, without ``module.``) -> eqv2 state dict for ``config``.

    Checks the stored grids and Gaussian centres against ``config``'s, then drops every derived buffer.
    """
    check_derived_buffers(state_dict, config)
    return {rename_key(key): value for key, value in state_dict.items() if not is_derived_buffer(key)}


def reference_graph_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Model kwargs with the reference's S2 grid rule and max_neighbors rule made explicit."""
    kwargs = dict(kwargs)
    if kwargs.get("grid_resolution") is None:
        kwargs["grid_rule"] = "reference"
    if "max_neighbors_mode" not in kwargs:
        strict = kwargs.get("enforce_max_neighbors_strictly", True)
        kwargs["max_neighbors_mode"] = "reference_strict" if strict else "reference_loose"
    return kwargs


def statistics_from_normalizers(normalizers: dict[str, Any] | None, element_references=None) -> TargetStatistics:
    """fairchem ``normalizers`` (legacy ``target``/``grad_target``, ``std`` or ``rmsd``) -> statistics.

    Normalizers of targets eqv2 does not predict are ignored: they scale nothing it outputs.
    """
    normalizers = dict(normalizers or {})
    legacy = {"target": "energy", "grad_target": "forces"}
    statistics = TargetStatistics()
    for key, values in normalizers.items():
        target = legacy.get(key, key)
        if target not in NORMALIZED_TARGETS:
            continue
        scale = values.get("rmsd", values.get("std"))
        if scale is None or "mean" not in values:
            raise ValueError(f"normalizers.{key}: needs 'mean' and 'std' or 'rmsd'")
        setattr(statistics, target, Normalizer(mean=float(values["mean"]), std=float(scale)))
    if element_references is not None:
        statistics.element_references = [float(v) for v in torch.as_tensor(element_references).flatten()]
    return statistics


def read_fairchem_checkpoint(checkpoint: dict[str, Any], source: str = "") -> CheckpointParts:
    """Translate a loaded fairchem-core 1.x ``equiformer_v2`` checkpoint dict."""
    config = checkpoint.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{source}: not a fairchem checkpoint (no 'config' dict)")
    if "state_dict" not in checkpoint:
        raise ValueError(f"{source}: fairchem checkpoint without 'state_dict'")
    state_dict = {strip_module_prefix(key): value for key, value in checkpoint["state_dict"].items()}
    return fairchem_parts(model_kwargs(config), state_dict, checkpoint, source, "fairchem")


def fairchem_parts(
    kwargs: dict[str, Any], state_dict: dict[str, Tensor], checkpoint: dict[str, Any], source: str, format_name: str
) -> CheckpointParts:
    """Model kwargs, fairchem weights (old-format names) and the checkpoint's statistics, translated."""
    config = EquiformerV2Config.from_dict(reference_graph_kwargs(kwargs))
    references = (checkpoint.get("elementrefs") or {}).get("energy", {}).get("element_references")
    statistics = statistics_from_normalizers(checkpoint.get("normalizers"), references)
    metadata = {
        "source": source,
        "format": format_name,
        "step": checkpoint.get("step"),
        "epoch": checkpoint.get("epoch"),
    }
    return CheckpointParts(config, convert_state_dict(state_dict, config), statistics, metadata)

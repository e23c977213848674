"""Read fairchem-core 1.x "hydra" checkpoints of EquiformerV2: one backbone plus output heads.

``config["model"] = {"name": "hydra", "backbone": {"model": ..., **kwargs}, "heads": {name: {"module":
..., **options}}, "pass_through_head_outputs": ..., "otf_graph": ...}``. State-dict keys are
``backbone.<old-format name>`` and ``output_heads.<head name>.<head module>.*``, with any number of
``module.`` prefixes. Each head is recognised by its module (registry name or dotted class path):

    energy: equiformer_v2_energy_head, equiformerV2_scalar_head, eqV2_DeNS_scalar_head  -> energy_head
    forces: equiformer_v2_force_head, equiformerV2_vector_head, eqV2_DeNS_vector_head   -> force_head
    stress: rank2_symmetric_head, dens_rank2_symmetric_head (decompose=True)            -> stress_head

Backbones: equiformer_v2_backbone and the DeNS backbone (equiformer_v2_dens_backbone). Anything
else, and every option eqv2 does not implement, raises `UnsupportedCheckpointError` naming it; a
checkpoint is never loaded in part. Like the reference, hydra models ignore ``use_energy_lin_ref``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from eqv2.checkpoints.fairchem import fairchem_parts, strip_module_prefix
from eqv2.checkpoints.parts import CheckpointParts

_PLAIN_BACKBONES = ("equiformer_v2_backbone", "EquiformerV2Backbone")
_DENS_BACKBONES = ("equiformer_v2_dens_backbone", "EqV2DeNSBackbone")
# head module (registry name or class name) -> (target, is the DeNS variant)
_HEAD_MODULES = {
    "equiformer_v2_energy_head": ("energy", False),
    "EquiformerV2EnergyHead": ("energy", False),
    "equiformerV2_scalar_head": ("energy", False),
    "EqV2ScalarHead": ("energy", False),
    "eqV2_DeNS_scalar_head": ("energy", True),
    "DeNSScalarHead": ("energy", True),
    "equiformer_v2_force_head": ("forces", False),
    "EquiformerV2ForceHead": ("forces", False),
    "equiformerV2_vector_head": ("forces", False),
    "EqV2VectorHead": ("forces", False),
    "eqV2_DeNS_vector_head": ("forces", True),
    "DeNSVectorHead": ("forces", True),
    "rank2_symmetric_head": ("stress", False),
    "Rank2SymmetricTensorHead": ("stress", False),
    "dens_rank2_symmetric_head": ("stress", True),
    "DeNSRank2Head": ("stress", True),
}
_HEAD_OPTIONS = {
    "energy": {"output_name", "reduce"},
    "forces": {"output_name"},
    "stress": {
        "output_name",
        "decompose",
        "edge_level_mlp",
        "num_mlp_layers",
        "use_source_target_embedding",
        "extensive",
        "avg_num_nodes",
        "default_norm_type",
    },
}
# stress-head options eqv2 implements at one value only: option -> (fairchem's default, required value)
_STRESS_FIXED = {"decompose": (False, True), "edge_level_mlp": (False, False), "extensive": (False, False)}
_HYDRA_OPTIONS = {"name", "backbone", "heads", "pass_through_head_outputs", "otf_graph", "freeze_backbone"}
_DENS_BACKBONE_OPTIONS = ("use_force_encoding", "use_noise_schedule_sigma_encoding")
# backbone options that change nothing at inference (use_force_encoding only zeroes a zero input)
_INFERENCE_IRRELEVANT = ("activation_checkpoint", "use_force_encoding")
# old-format module names of each head's blocks
_HEAD_BLOCKS = {
    "energy_block": "energy_block",
    "scalar_block": "energy_block",
    "force_block": "force_block",
    "vector_block": "force_block",
    "denoising_pos_block": "denoising_pos_block",
}
_RANK2_MODULES = {
    "sphharm_norm": "harmonics_norm",
    "xedge_layer_norm": "edge_norm",
    "block.scalar_MLP": "isotropic_mlp",
    "block.irrep2_MLP": "anisotropic_mlp",
}


class UnsupportedCheckpointError(ValueError):
    """A checkpoint uses a model, head or option eqv2 does not implement."""


@dataclass
class Head:
    """One output head of a hydra config."""

    name: str  # the key in config.model.heads (and in output_heads.<name>.*)
    target: str  # "energy", "forces" or "stress"
    dens: bool
    options: dict[str, Any]


def is_hydra_config(config: dict[str, Any]) -> bool:
    model = config.get("model")
    return isinstance(model, dict) and str(model.get("name", "")).lower() == "hydra"


def class_name(module: str) -> str:
    """'fairchem.core.models....EqV2DeNSBackbone' -> 'EqV2DeNSBackbone'; registry names unchanged."""
    return str(module).rsplit(".", 1)[-1]


def parse_heads(heads: dict[str, Any]) -> dict[str, Head]:
    """config.model.heads -> {target: Head}; unknown modules, options or duplicates raise."""
    parsed: dict[str, Head] = {}
    for name, head_config in heads.items():
        options = dict(head_config)
        module = options.pop("module", None)
        if class_name(module) not in _HEAD_MODULES:
            raise UnsupportedCheckpointError(f"head {name!r}: module {module!r} is not an EquiformerV2 head eqv2 reads")
        target, dens = _HEAD_MODULES[class_name(module)]
        allowed = _HEAD_OPTIONS[target] | ({"use_denoising"} if dens else set())
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise UnsupportedCheckpointError(f"head {name!r} ({module}): unsupported options {unknown}")
        if options.get("output_name", target) != target:
            raise UnsupportedCheckpointError(
                f"head {name!r}: output_name {options['output_name']!r}; eqv2 reads {target!r} heads of this module"
            )
        if target in parsed:
            raise UnsupportedCheckpointError(f"heads {parsed[target].name!r} and {name!r} both predict {target}")
        parsed[target] = Head(name, target, dens, options)
    if "energy" not in parsed:
        raise UnsupportedCheckpointError("hydra model without an energy head; eqv2 models always predict energy")
    return parsed


def stress_kwargs(head: Head) -> dict[str, Any]:
    """eqv2 model kwargs of a rank-2 stress head."""
    for option, (default, required) in _STRESS_FIXED.items():
        value = head.options.get(option, default)
        if value != required:
            raise UnsupportedCheckpointError(f"head {head.name!r}: {option}={value!r} is not supported")
    return {
        "stress_head": True,
        "stress_use_source_target_embedding": head.options.get("use_source_target_embedding", False),
        "stress_num_mlp_layers": head.options.get("num_mlp_layers", 2),
    }


def backbone_kwargs(backbone: dict[str, Any]) -> dict[str, Any]:
    """config.model.backbone -> eqv2 model kwargs (before the heads are added)."""
    kwargs = dict(backbone)
    name = class_name(kwargs.pop("model", None))
    if name not in _PLAIN_BACKBONES + _DENS_BACKBONES:
        raise UnsupportedCheckpointError(f"backbone {backbone.get('model')!r} is not an EquiformerV2 backbone")
    dens_options = sorted(set(_DENS_BACKBONE_OPTIONS) & set(kwargs))
    if name in _PLAIN_BACKBONES and dens_options:
        raise UnsupportedCheckpointError(f"backbone {name}: options {dens_options} belong to the DeNS backbone")
    for option in _INFERENCE_IRRELEVANT:
        kwargs.pop(option, None)
    kwargs["dens_force_encoding"] = name in _DENS_BACKBONES
    if kwargs.pop("use_energy_lin_ref", False):
        warnings.warn(
            "hydra backbone: use_energy_lin_ref is ignored, as fairchem's hydra models ignore it", stacklevel=3
        )
    return kwargs


def hydra_model_kwargs(model_config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Head]]:
    """eqv2 model kwargs and the parsed heads of a hydra ``config.model``."""
    unknown = sorted(set(model_config) - _HYDRA_OPTIONS)
    if unknown:
        raise UnsupportedCheckpointError(f"hydra model: unsupported options {unknown}")
    if not isinstance(model_config.get("backbone"), dict) or not isinstance(model_config.get("heads"), dict):
        raise UnsupportedCheckpointError("hydra model: needs a 'backbone' dict and a 'heads' dict")
    kwargs = backbone_kwargs(model_config["backbone"])
    heads = parse_heads(model_config["heads"])
    kwargs["energy_reduce"] = heads["energy"].options.get("reduce", "sum")
    kwargs["regress_forces"] = "forces" in heads
    kwargs["dens_denoising_block"] = "forces" in heads and heads["forces"].dens
    if "stress" in heads:
        kwargs.update(stress_kwargs(heads["stress"]))
    return kwargs, heads


def old_format_key(key: str, targets_by_head: dict[str, str]) -> str:
    """A hydra key (without ``module.``) -> the old-format name eqv2's renaming reads.

    Keys of unknown heads come back unchanged, so strict loading names them.
    """
    if key.startswith("backbone."):
        return key[len("backbone.") :]
    parts = key.split(".", 2)
    if parts[0] != "output_heads" or len(parts) < 3 or parts[1] not in targets_by_head:
        return key
    rest = parts[2]
    if targets_by_head[parts[1]] == "stress":
        for theirs, ours in _RANK2_MODULES.items():
            if rest.startswith(theirs + "."):
                return f"stress_head.{ours}{rest[len(theirs) :]}"
        return f"stress_head.{rest}"
    block, _, tail = rest.partition(".")
    return f"{_HEAD_BLOCKS.get(block, block)}.{tail}"


def read_hydra_checkpoint(checkpoint: dict[str, Any], source: str = "") -> CheckpointParts:
    """Translate a loaded fairchem-core 1.x hydra checkpoint dict."""
    kwargs, heads = hydra_model_kwargs(checkpoint["config"]["model"])
    targets_by_head = {head.name: head.target for head in heads.values()}
    state_dict: dict[str, Tensor] = {
        old_format_key(strip_module_prefix(key), targets_by_head): value
        for key, value in checkpoint["state_dict"].items()
    }
    return fairchem_parts(kwargs, state_dict, checkpoint, source, "fairchem-hydra")

"""The model's configuration: every switch of EquiformerV2 as a typed field.

Field names and defaults are those of the reference ``equiformer_v2`` model (fairchem-core 1.x), so
a fairchem ``model_attributes`` dict builds the same network. Fields eqv2 adds are marked.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eqv2.config_types import check_type
from eqv2.graph.neighbors import NEIGHBOR_MODES
from eqv2.nn.norms import NORM_TYPES

PRESET_DIRECTORY = Path(__file__).parent / "presets"

# Reference defaults for the energy reduction and the edge-degree rescale (OC20 S2EF statistics).
AVG_NUM_NODES = 77.81317
AVG_DEGREE = 23.395238876342773

# Keywords the reference accepts but never uses; accepted here and ignored for the same reason.
IGNORED_KEYWORDS = frozenset(
    {
        "num_atoms",
        "bond_feat_dim",
        "num_targets",
        "use_pbc",
        "use_pbc_single",
        "otf_graph",
        "num_sphere_samples",
        "num_distance_basis",
        "attn_activation",
        "ffn_activation",
        "name",
    }
)

GRID_RULES = ("fine", "reference")
ENERGY_REDUCTIONS = ("sum", "mean")


@dataclass
class EquiformerV2Config:
    """Hyper-parameters of `eqv2.EquiformerV2` (single resolution: one lmax, one mmax)."""

    regress_forces: bool = True  # build the direct force head
    max_neighbors: int = 500
    max_radius: float = 5.0  # cutoff, Å
    max_num_elements: int = 90  # atomic numbers 0..max_num_elements-1
    num_layers: int = 12
    sphere_channels: int = 128
    attn_hidden_channels: int = 128
    num_heads: int = 8
    attn_alpha_channels: int = 32
    attn_value_channels: int = 16
    ffn_hidden_channels: int = 512
    norm_type: str = "rms_norm_sh"
    lmax_list: list[int] = field(default_factory=lambda: [6])
    mmax_list: list[int] = field(default_factory=lambda: [2])
    grid_resolution: int | None = None
    edge_channels: int = 128
    use_atom_edge_embedding: bool = True
    share_atom_edge_embedding: bool = False
    use_m_share_rad: bool = False
    distance_function: str = "gaussian"
    use_s2_act_attn: bool = False
    use_attn_renorm: bool = True
    use_gate_act: bool = False
    use_grid_mlp: bool = False
    use_sep_s2_act: bool = True
    alpha_drop: float = 0.1
    drop_path_rate: float = 0.05
    proj_drop: float = 0.0
    weight_init: str = "normal"
    enforce_max_neighbors_strictly: bool = True
    avg_num_nodes: float | None = None
    avg_degree: float | None = None
    use_energy_lin_ref: bool = False
    load_energy_lin_ref: bool = False
    # eqv2: how ties at max_neighbors are resolved (see `eqv2.graph.neighbors.radius_graph`); None means "shell"
    # (whole shells: crystal symmetry kept). Loaded fairchem checkpoints get the reference's own rule
    # ("reference_strict", or "reference_loose" where enforce_max_neighbors_strictly is false), which
    # is all enforce_max_neighbors_strictly decides in eqv2.
    max_neighbors_mode: str | None = None
    # eqv2: S2 grid size when grid_resolution is None. "fine": res_beta = res_alpha =
    # max(18, 2 (lmax + 2)), the paper's 18 up to lmax 7; "reference": fairchem's coarse rule
    # (2 (lmax+1) x (2 mmax + 1)), kept only to reproduce checkpoints trained with it.
    grid_rule: str = "fine"
    # eqv2: Gaussians of the distance expansion on [0, max_radius] (width 2 spacings). EquiformerV2
    # fixes 600 and ignores num_distance_basis; fewer, wider Gaussians give a smoother radial
    # function when the training data are small.
    distance_gaussians: int = 600
    # eqv2: a smooth cutoff. EquiformerV2 has none: the energy jumps when an atom crosses max_radius
    # (softmax terms and messages appear at full size), which breaks energy conservation in MD.
    # With cutoff_envelope each edge's softmax term, message and edge-degree term are multiplied by
    # the polynomial envelope u(r / max_radius) (`eqv2.nn.embeddings.polynomial_envelope`), which
    # goes to 0 with two continuous derivatives at the cutoff.
    cutoff_envelope: bool = False
    # eqv2: an atom with no neighbour within max_radius adds no network energy: each node's energy is
    # taken relative to that of a lone atom of its element, so an isolated atom's energy is its element
    # reference, which training pins to the energy of the isolated atoms the training set holds
    # (`eqv2.data.statistics`). With cutoff_envelope, atoms drawn apart go smoothly to that limit.
    isolated_atom_reference: bool = False
    # eqv2: energy reduction over atoms: "sum" (divided by avg_num_nodes) or "mean" (per atom).
    energy_reduce: str = "sum"
    # eqv2: DeNS backbone (fairchem's EqV2DeNSBackbone). Its force-encoding layer and, with
    # use_noise_schedule_sigma_encoding, its sigma-encoding layer add their biases to degree 0
    # (their inputs, the denoising forces and noise level, are zero outside DeNS training).
    dens_force_encoding: bool = False
    use_noise_schedule_sigma_encoding: bool = False
    # eqv2: the DeNS force head's position-denoising block (weights kept; not used for predictions).
    dens_denoising_block: bool = False
    # eqv2: the rank-2 stress head (fairchem's rank2_symmetric_head with decompose=True): isotropic
    # and anisotropic stress from edge features; options as in fairchem.
    stress_head: bool = False
    stress_use_source_target_embedding: bool = False
    stress_num_mlp_layers: int = 2

    @property
    def lmax(self) -> int:
        return self.lmax_list[0]

    @property
    def mmax(self) -> int:
        return self.mmax_list[0]

    @property
    def neighbor_mode(self) -> str:
        return self.max_neighbors_mode or "shell"

    @property
    def energy_rescale(self) -> float:
        return AVG_NUM_NODES if self.avg_num_nodes is None else self.avg_num_nodes

    @property
    def degree_rescale(self) -> float:
        return AVG_DEGREE if self.avg_degree is None else self.avg_degree

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EquiformerV2Config:
        """Build from keyword arguments; unknown keys and wrong types raise, naming the key."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key in IGNORED_KEYWORDS:
                continue
            if key not in known:
                raise ValueError(f"unknown EquiformerV2 option {key!r}")
            kwargs[key] = value
        config = cls(**kwargs)
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field."""
        for f in dataclasses.fields(self):
            check_type(f.name, getattr(self, f.name), f.type)
        if len(self.lmax_list) != 1 or len(self.mmax_list) != 1:
            raise ValueError("lmax_list/mmax_list: eqv2 supports a single resolution (one lmax, one mmax)")
        if not 0 <= self.mmax <= self.lmax:
            raise ValueError(f"mmax_list: need 0 <= mmax <= lmax, got lmax={self.lmax}, mmax={self.mmax}")
        if self.lmax < 1:
            raise ValueError("lmax_list: lmax must be at least 1 (forces are read from degree 1)")
        if self.norm_type not in NORM_TYPES:
            raise ValueError(f"norm_type: must be one of {NORM_TYPES}, got {self.norm_type!r}")
        if self.distance_gaussians < 2:
            raise ValueError(f"distance_gaussians: must be at least 2, got {self.distance_gaussians}")
        if self.distance_function != "gaussian":
            raise ValueError(f"distance_function: only 'gaussian' is supported, got {self.distance_function!r}")
        if self.use_s2_act_attn:
            raise ValueError("use_s2_act_attn: True is not supported (the reference forbids it too)")
        if self.weight_init not in ("normal", "uniform"):
            raise ValueError(f"weight_init: must be 'normal' or 'uniform', got {self.weight_init!r}")
        if self.use_energy_lin_ref and not self.load_energy_lin_ref:
            raise ValueError("use_energy_lin_ref: requires load_energy_lin_ref=True")
        if self.max_neighbors_mode is not None and self.max_neighbors_mode not in NEIGHBOR_MODES:
            raise ValueError(f"max_neighbors_mode: must be one of {NEIGHBOR_MODES}")
        if self.energy_reduce not in ENERGY_REDUCTIONS:
            raise ValueError(f"energy_reduce: must be one of {ENERGY_REDUCTIONS}, got {self.energy_reduce!r}")
        if self.use_noise_schedule_sigma_encoding and not self.dens_force_encoding:
            raise ValueError("use_noise_schedule_sigma_encoding: only the DeNS backbone (dens_force_encoding) has it")
        if self.stress_num_mlp_layers < 1:
            raise ValueError("stress_num_mlp_layers: must be at least 1")
        if self.grid_rule not in GRID_RULES:
            raise ValueError(f"grid_rule: must be one of {GRID_RULES}")
        if self.grid_resolution is not None and (
            self.grid_resolution % 2 or self.grid_resolution < 2 * (self.lmax + 1)
        ):
            raise ValueError(f"grid_resolution: must be even and >= 2 (lmax + 1) = {2 * (self.lmax + 1)}")
        for name in ("alpha_drop", "drop_path_rate", "proj_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}: must be in [0, 1)")

    def grid_sizes(self, mmax: int) -> tuple[int, int]:
        """(res_beta, res_alpha) of the S2 grid for coefficients truncated at ``mmax``."""
        from eqv2.so3.grids import reference_resolution

        if self.grid_resolution is not None:
            return self.grid_resolution, self.grid_resolution
        if self.grid_rule == "reference":
            return reference_resolution(self.lmax, mmax)
        resolution = max(18, 2 * (self.lmax + 2))
        return resolution, resolution


def available_presets() -> list[str]:
    """Names accepted by `load_preset` and `eqv2.EquiformerV2.from_preset`."""
    return sorted(path.stem for path in PRESET_DIRECTORY.glob("*.yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The model keyword arguments of preset ``name`` (``eqv2/presets/<name>.yaml``)."""
    path = PRESET_DIRECTORY / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(available_presets())}")
    return yaml.safe_load(path.read_text())

"""A ready-to-use potential: the network plus the statistics that turn its outputs into eV.

    energy [G] (eV)      = std_E * network_energy + mean_E + sum_i element_reference[Z_i]
    forces [N, 3] (eV/Å) = std_F * network_forces + mean_F         ("direct": the force head)
                         = -dE/dr                                   ("conservative": autograd)
    stress [G, 3, 3]     = (1/V) dE/d(strain)   (ASE sign convention, eV/Å^3; needs a cell with volume)
                         = iso I/sqrt(3) + sum_k aniso_k B_k    ("direct", models with a stress head;
                           iso, aniso = std * network + mean, per part; see `eqv2.nn.rank2_head`)

Forces and stress by autograd share one function, `energy_and_derivatives`, used for training and
inference alike. They are taken on the graph of `Potential.derivative_graph`: a checkpoint's rule
whose energy jumps at ties (`eqv2.graph.neighbors.DISCONTINUOUS_NEIGHBOR_MODES`) is replaced there by
`DERIVATIVE_NEIGHBOR_MODE` (docs/checkpoints.md, *Energy derivatives and ties*).
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from eqv2.batch import Batch, Structure, collate
from eqv2.graph.neighbors import DISCONTINUOUS_NEIGHBOR_MODES, NEIGHBOR_MODES, radius_graph_batch
from eqv2.model import EquiformerV2
from eqv2.nn.graph_ops import sum_over_targets
from eqv2.nn.rank2_head import symmetric_tensor_from_irreps
from eqv2.runtime import resolve_dtype
from eqv2.validation import check_elements, validate_structure

FORCE_MODES = ("direct", "conservative")
NORMALIZED_TARGETS = ("energy", "forces", "stress_isotropic", "stress_anisotropic")
# the rule energy derivatives use in place of a checkpoint's discontinuous one: the same k nearest
# neighbours, ties broken by index and image, which small displacements do not change (docs/checkpoints.md)
DERIVATIVE_NEIGHBOR_MODE = "strict"


def denormalize(values: Tensor, normalizer: Normalizer) -> Tensor:
    return values * normalizer.std + normalizer.mean


@dataclass
class Normalizer:
    """y_physical = y_network * std + mean."""

    mean: float = 0.0
    std: float = 1.0


@dataclass
class TargetStatistics:
    """Normalizers and per-element reference energies that a network was trained with."""

    energy: Normalizer = field(default_factory=Normalizer)
    forces: Normalizer = field(default_factory=Normalizer)
    stress_isotropic: Normalizer = field(default_factory=Normalizer)  # one mean/std for the [G, 1] part
    stress_anisotropic: Normalizer = field(default_factory=Normalizer)  # one mean/std for all 5 components
    element_references: list[float] | None = None  # eV per atom, indexed by atomic number
    # the atomic numbers of the training set, ascending; None where unknown (fairchem checkpoints,
    # eqv2 checkpoints written before it was stored): `Potential.collate` refuses other elements
    trained_elements: list[int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TargetStatistics:
        normalizers = {name: Normalizer(**values.get(name, {})) for name in NORMALIZED_TARGETS}
        return cls(
            **normalizers,
            element_references=values.get("element_references"),
            trained_elements=values.get("trained_elements"),
        )


class Potential(nn.Module):
    """EquiformerV2 with its target statistics; maps structures to energy, forces and stress.

    ``compile=True`` (opt-in) compiles the network's dense parts with torch.compile
    (`EquiformerV2.compile_dense_parts`).
    ``bf16 = True`` (opt-in, off by default) runs the network under bf16 autocast on any device:
    matmuls in bfloat16, results in the potential's dtype. It is an approximation, faster on CPUs with
    AVX512-BF16 or AMX (errors and timings: benchmarks/RESULTS.md, section *Opt-in bf16 mode*).
    """

    def __init__(
        self,
        model: EquiformerV2,
        statistics: TargetStatistics | None = None,
        metadata: dict[str, Any] | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.neighbor_mode_chosen = False  # set by the user (`neighbor_mode` setter), not by the checkpoint
        self.bf16 = False
        self.compiled = False
        if compile:
            self.compile_network()
        self.statistics = statistics or TargetStatistics()
        self.metadata = dict(metadata or {})
        references = self.statistics.element_references
        self.register_buffer(
            "element_references",
            torch.tensor(references, dtype=torch.float64) if references is not None else None,
            persistent=False,
        )

    def compile_network(self) -> None:
        """Compile the network's dense parts with torch.compile (`EquiformerV2.compile_dense_parts`); once is
        enough."""
        if not self.compiled:
            self.model.compile_dense_parts()
            self.compiled = True

    def to(self, *args, **kwargs) -> Potential:
        """`nn.Module.to`, also accepting the dtype names of `eqv2.runtime.DTYPES` ("float32", "float64")."""
        args = tuple(resolve_dtype(arg) if _names_a_dtype(arg) else arg for arg in args)
        if "dtype" in kwargs:
            kwargs["dtype"] = resolve_dtype(kwargs["dtype"])
        return super().to(*args, **kwargs)

    @property
    def neighbor_mode(self) -> str:
        """How ties at ``max_neighbors`` are resolved (`eqv2.graph.neighbors.NEIGHBOR_MODES`); settable."""
        return self.model.config.neighbor_mode

    @neighbor_mode.setter
    def neighbor_mode(self, mode: str) -> None:
        if mode not in NEIGHBOR_MODES:
            raise ValueError(f"neighbor_mode must be one of {NEIGHBOR_MODES}, got {mode!r}")
        self.model.config.max_neighbors_mode = mode
        self.neighbor_mode_chosen = True

    @property
    def derivative_neighbor_mode(self) -> str:
        """The rule of the graph energy derivatives are taken on: `neighbor_mode`, unless it is a
        discontinuous rule that came with the checkpoint: then `DERIVATIVE_NEIGHBOR_MODE`."""
        if self.neighbor_mode in DISCONTINUOUS_NEIGHBOR_MODES and not self.neighbor_mode_chosen:
            return DERIVATIVE_NEIGHBOR_MODE
        return self.neighbor_mode

    def derivative_graph(self, batch: Batch) -> Batch:
        """``batch`` with the graph its energy may be differentiated on.

        A graph built with a discontinuous rule (`eqv2.graph.neighbors.DISCONTINUOUS_NEIGHBOR_MODES`) is rebuilt
        with `derivative_neighbor_mode`; where that is the same rule (the user chose it), a warning says
        that the derivatives need not match the energy.
        """
        if batch.neighbor_mode not in DISCONTINUOUS_NEIGHBOR_MODES:
            return batch
        mode = self.derivative_neighbor_mode
        if mode == batch.neighbor_mode:
            warnings.warn(
                f"neighbor_mode {mode!r} was chosen: its energy jumps where equidistant neighbours sit at "
                "max_neighbors, so forces and stress by autograd need not be its derivatives "
                "(docs/checkpoints.md, Energy derivatives and ties)",
                stacklevel=2,
            )
            return batch
        config = self.model.config
        edge_index, shifts = radius_graph_batch(
            batch.positions, batch.cell, batch.pbc, batch.num_atoms, config.max_radius, config.max_neighbors, mode
        )
        return dataclasses.replace(batch, edge_index=edge_index, shifts=shifts, neighbor_mode=mode)

    @property
    def cutoff(self) -> float:
        return self.model.config.max_radius

    @property
    def dtype(self) -> torch.dtype:
        return self.model.atom_embedding.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.model.atom_embedding.weight.device

    def collate(self, structures: list[Structure]) -> Batch:
        """One batch with this model's radius graph, on the model's device and dtype.

        Each structure is validated first (`eqv2.validation.validate_structure`, and
        `eqv2.validation.check_elements` against the statistics' ``trained_elements``): bad input
        raises `DataError` naming the structure instead of giving a silent wrong answer.
        """
        config = self.model.config
        trained = self.statistics.trained_elements
        for structure in structures:
            validate_structure(structure, max_atomic_number=config.max_num_elements - 1)
            if trained is not None:
                check_elements(structure, trained)
        batch = collate(structures, config.max_radius, config.max_neighbors, config.neighbor_mode, self.dtype)
        return batch.to(self.device)

    def physical_energy(self, network_energy: Tensor, batch: Batch) -> Tensor:
        """[G] network energies -> [G] eV."""
        energy = denormalize(network_energy, self.statistics.energy)
        if self.element_references is not None:
            per_atom = self.element_references.to(energy.dtype)[batch.atomic_numbers]
            energy = energy + sum_over_targets(per_atom, batch.graph_index, batch.num_graphs)
        return energy

    def physical_stress(self, outputs: dict[str, Tensor]) -> Tensor:
        """The stress head's isotropic [G, 1] and anisotropic [G, 5] parts -> [G, 3, 3] eV/Å^3."""
        isotropic = denormalize(outputs["stress_isotropic"], self.statistics.stress_isotropic)
        anisotropic = denormalize(outputs["stress_anisotropic"], self.statistics.stress_anisotropic)
        return symmetric_tensor_from_irreps(isotropic, anisotropic)

    @property
    def has_stress_head(self) -> bool:
        return self.model.stress_head is not None

    def energy_and_derivatives(
        self, batch: Batch, forces: bool = False, stress: bool = False, create_graph: bool = False
    ) -> dict[str, Tensor]:
        """Energy [G] in eV and, by autograd, forces -dE/dr [N, 3] and stress (1/V) dE/de [G, 3, 3].

        Also returns the network's direct forces (eV/Å) under "direct_forces" and direct stress
        (eV/Å^3) under "direct_stress" when it has those heads.
        """
        positions = batch.positions.detach().requires_grad_(forces)
        cell = batch.cell
        strain = None
        if stress:
            strain = torch.zeros_like(batch.cell).requires_grad_(True)
            symmetric = 0.5 * (strain + strain.transpose(1, 2))
            positions_strained = positions + torch.einsum("ni,nij->nj", positions, symmetric[batch.graph_index])
            cell = cell + torch.bmm(cell, symmetric)
        else:
            positions_strained = positions
        # bf16 off leaves the caller's autocast state alone (the trainer sets its own)
        bf16 = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with bf16:
            outputs = self.model(dataclasses.replace(batch, positions=positions_strained, cell=cell))
        outputs = {key: value.to(positions.dtype) for key, value in outputs.items()}
        energy = self.physical_energy(outputs["energy"], batch)
        results = {"energy": energy}
        if "forces" in outputs:
            results["direct_forces"] = denormalize(outputs["forces"], self.statistics.forces)
        if "stress_isotropic" in outputs:
            results["direct_stress"] = self.physical_stress(outputs)
        inputs = [t for t, wanted in ((positions, forces), (strain, stress)) if wanted]
        if inputs:
            if energy.requires_grad:  # unused inputs (a batch without edges) get zero gradients
                gradients = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, materialize_grads=True)
            else:  # nothing to differentiate: no edges and no trainable parameters
                gradients = [torch.zeros_like(t) for t in inputs]
            if forces:
                results["forces"] = -gradients[0]
            if stress:
                volume = torch.linalg.det(batch.cell).abs()[:, None, None]  # [G, 1, 1]
                # NaN for a structure without a cell volume; the division stays finite so that
                # gradients through the other structures' stress do not turn into NaN
                has_volume = volume > 0
                stress_values = gradients[-1] / torch.where(has_volume, volume, 1.0)
                results["stress"] = torch.where(has_volume, stress_values, torch.nan)
        return results

    def check_force_mode(self, forces: str) -> None:
        """Raise `ValueError` unless ``forces`` is one of `FORCE_MODES` that this model can give: "direct"
        needs a force head."""
        if forces not in FORCE_MODES:
            raise ValueError(f"forces must be one of {FORCE_MODES}, got {forces!r}")
        if forces == "direct" and self.model.force_head is None:
            raise ValueError("this model has no direct force head (regress_forces=False); use forces='conservative'")

    def forward(self, batch: Batch, forces: str = "direct", stress: bool = False) -> dict[str, Tensor]:
        """Energy [G], forces [N, 3] and (if ``stress``) stress [G, 3, 3] in eV, eV/Å, eV/Å^3.

        ``forces="direct"`` takes forces from the force head and stress from the stress head when the
        model has one (else from the strain derivative); ``"conservative"`` takes both from autograd.
        Derivatives are taken on `derivative_graph`: with conservative forces the energy comes from that
        graph too; with direct forces, energy and forces come from ``batch``'s own graph.
        """
        self.check_force_mode(forces)
        conservative = forces == "conservative"
        strain_stress = stress and (conservative or not self.has_stress_head)
        graph = self.derivative_graph(batch) if conservative or strain_stress else batch
        if not conservative and not strain_stress:
            with torch.no_grad():
                results = self.energy_and_derivatives(batch)
        elif conservative or graph is batch:
            with torch.enable_grad():
                results = self.energy_and_derivatives(graph, forces=conservative, stress=strain_stress)
        else:  # direct outputs from the batch's graph, the strain derivative from the derivative graph
            with torch.no_grad():
                results = self.energy_and_derivatives(batch)
            with torch.enable_grad():
                results["stress"] = self.energy_and_derivatives(graph, stress=True)["stress"]
        if not conservative:
            results["forces"] = results["direct_forces"]
        if stress and not strain_stress:
            results["stress"] = results["direct_stress"]
        results.pop("direct_forces", None)
        results.pop("direct_stress", None)
        return {key: value.detach() for key, value in results.items()}


def _names_a_dtype(value: Any) -> bool:
    """True for a string naming a torch dtype ("float32", "bfloat16", ...), not a device."""
    return isinstance(value, str) and isinstance(getattr(torch, value, None), torch.dtype)

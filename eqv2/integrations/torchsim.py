"""A torch-sim model for eqv2 potentials: many systems in one batched state, any torch-sim engine.

    import torch_sim as ts
    from eqv2.integrations.torchsim import EquiformerV2Model

    model = EquiformerV2Model("model.pt", dtype="float64", compute_stress=False)
    state = ts.io.atoms_to_state(atoms_list, model.device, model.dtype)
    relaxed = ts.optimize(state, model, optimizer=ts.optimizers.fire,
                          convergence_fn=ts.generate_force_convergence_fn(0.05, include_cell_forces=False))

Each call builds eqv2's `Batch` of all systems of the state with the potential's own graph rules
(`Potential.collate`: validation, radius graph, dtype), so the numbers are those `eqv2.Calculator`
gives structure by structure. Conventions bridged here:

- torch-sim stores cells as column vectors (``state.cell[g, :, i]`` is lattice vector i); eqv2 as
  rows, so the model reads ``state.row_vector_cell``.
- Stress is returned in torch-sim's convention, which is ASE's and eqv2's: (1/V) dE/d(strain),
  positive = tensile, eV/Å^3, [n_systems, 3, 3]. It is NaN for a system without a cell periodic in
  all three directions (no volume, no stress).
- torch-sim 0.3.0 keeps one ``pbc`` flag for the whole state (``atoms_to_state`` takes
  ``all(atoms.pbc)``): a slab with ``pbc=[True, True, False]`` becomes a molecule. Give slabs
  ``pbc=True`` with vacuum wider than the cutoff. Newer torch-sim stores pbc per direction.

Needs the optional extra: ``pip install "eqv2[torchsim]"``.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from eqv2.batch import Structure
from eqv2.integrations.loading import ready_potential
from eqv2.potential import Potential

try:
    from torch_sim.models.interface import ModelInterface
    from torch_sim.state import SimState
except ImportError as error:  # the optional extra is missing
    raise ImportError('eqv2.integrations.torchsim needs torch-sim: pip install "eqv2[torchsim]"') from error


class EquiformerV2Model(ModelInterface):
    """torch-sim `ModelInterface` around an eqv2 `Potential`.

    Args:
        potential: a `Potential` or the path of a checkpoint `eqv2.load` accepts (eqv2 or fairchem).
        forces: "direct" (the force head, and the stress head when the model has one) or
            "conservative" (-dE/dr and (1/V) dE/de by autograd).
        compute_stress: also return the stress (needed by torch-sim's cell filters and NPT
            integrators); settable later. Without a stress head it costs a backward pass.
        device, dtype, neighbor_mode, bf16, compile, keep_freed_memory: as
            `eqv2.integrations.loading.ready_potential`, which every engine front end shares. States
            must match the model's device and dtype.

    ``forward(state)`` returns energy [n_systems] (eV), forces [n_atoms, 3] (eV/Å) and, with
    ``compute_stress``, stress [n_systems, 3, 3] (eV/Å^3), all detached.
    """

    def __init__(
        self,
        potential: Potential | str | os.PathLike,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        forces: str = "direct",
        compute_stress: bool = True,
        neighbor_mode: str | None = None,
        *,
        bf16: bool | None = None,
        compile: bool = False,
        keep_freed_memory: bool = False,
    ) -> None:
        super().__init__()
        self.potential = ready_potential(
            potential,
            forces=forces,
            device=device,
            dtype=dtype,
            neighbor_mode=neighbor_mode,
            bf16=bf16,
            compile=compile,
            keep_freed_memory=keep_freed_memory,
        )
        self.force_mode = forces
        self._device = self.potential.device
        self._dtype = self.potential.dtype
        self._compute_forces = True
        self._compute_stress = bool(compute_stress)
        self._memory_scales_with = "n_atoms_x_density"  # a radius graph: edges grow with density

    @property
    def compute_stress(self) -> bool:
        return self._compute_stress

    @compute_stress.setter
    def compute_stress(self, compute_stress: bool) -> None:
        self._compute_stress = bool(compute_stress)

    def forward(self, state: SimState, **kwargs) -> dict[str, Tensor]:
        """Energy [n_systems], forces [n_atoms, 3] and (with ``compute_stress``) stress [n_systems, 3, 3]."""
        structures = self.structures(state)
        batch = self.potential.collate(structures)
        results = self.potential(batch, forces=self.force_mode, stress=self.compute_stress)
        if self.compute_stress:
            no_volume = torch.tensor([not s.stress_is_defined for s in structures], device=self.device)
            results["stress"] = results["stress"].masked_fill(no_volume[:, None, None], float("nan"))
        return results

    def structures(self, state: SimState) -> list[Structure]:
        """The systems of ``state`` as eqv2 `Structure`s named "system <i>", after checking device and dtype."""
        if not isinstance(state, SimState):
            raise TypeError(f"expected a torch_sim SimState, got {type(state).__name__}")
        positions = state.positions  # [N, 3]
        if positions.device != self.device or positions.dtype != self.dtype:
            raise ValueError(
                f"the state is {positions.dtype} on {positions.device} but the model is {self.dtype} on "
                f"{self.device}: build the state with the model's device and dtype "
                "(ts.io.atoms_to_state(atoms, model.device, model.dtype)) or move it with state.to(...)"
            )
        cells = state.row_vector_cell.detach().cpu().numpy().astype(np.float64)  # [G, 3, 3], rows = lattice vectors
        pbc = state.pbc.cpu().numpy() if isinstance(state.pbc, Tensor) else np.asarray(state.pbc)  # (), [3]
        pbc = np.broadcast_to(pbc, (len(cells), 3))
        splits = np.cumsum(np.bincount(state.system_idx.cpu().numpy(), minlength=len(cells)))[:-1]
        positions_per_system = np.split(positions.detach().cpu().numpy().astype(np.float64), splits)
        numbers_per_system = np.split(state.atomic_numbers.cpu().numpy().astype(np.int64), splits)
        return [
            Structure(positions=p, atomic_numbers=z, cell=cell, pbc=periodic.astype(bool), name=f"system {index}")
            for index, (p, z, cell, periodic) in enumerate(zip(positions_per_system, numbers_per_system, cells, pbc))
        ]

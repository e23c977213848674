"""ASE calculator for eqv2 potentials."""

from __future__ import annotations

import os

import torch
from ase.calculators.calculator import Calculator as AseCalculator
from ase.calculators.calculator import PropertyNotImplementedError, all_changes

from eqv2.batch import Structure, stress_to_voigt
from eqv2.integrations.loading import ready_potential
from eqv2.potential import Potential
from eqv2.validation import has_element_symbols


class Calculator(AseCalculator):
    """Energy, free energy, forces and (for cells with volume) stress from an eqv2 potential.

    Args:
        potential: a `Potential` or the path of a checkpoint `eqv2.load` accepts.
        forces: "direct" (the network's force and stress heads, as the paper; stress from the strain
            derivative when there is no stress head) or "conservative" (-dE/dr and (1/V) dE/de).
        device, dtype, bf16, neighbor_mode, keep_freed_memory, compile: as
            `eqv2.integrations.loading.ready_potential`, which every engine front end shares.
            ``results["neighbor_mode"]`` names the rule of the graph that energy and forces came from.

    With a stress head and direct forces, every calculation on a cell with volume also stores the
    stress, which costs nothing extra.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        potential: Potential | str | os.PathLike,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        forces: str = "direct",
        bf16: bool | None = None,
        neighbor_mode: str | None = None,
        keep_freed_memory: bool = False,
        compile: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
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

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        name = self.atoms.get_chemical_formula() if has_element_symbols(self.atoms.numbers) else "atoms"
        structure = Structure.from_atoms(self.atoms, name=name)
        if "stress" in properties and not structure.stress_is_defined:
            raise PropertyNotImplementedError("stress needs a cell periodic in x, y and z with nonzero volume")
        free_stress = self.force_mode == "direct" and self.potential.has_stress_head and structure.stress_is_defined
        want_stress = "stress" in properties or free_stress
        batch = self.potential.collate([structure])
        results = self.potential(batch, forces=self.force_mode, stress=want_stress)
        energy = float(results["energy"][0])
        conservative = self.force_mode == "conservative"
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": results["forces"].cpu().double().numpy(),
            "neighbor_mode": self.potential.derivative_neighbor_mode if conservative else self.potential.neighbor_mode,
        }
        if want_stress:
            self.results["stress"] = stress_to_voigt(results["stress"][0].cpu().double().numpy())

"""ASE calculator for eqv2 potentials."""

from __future__ import annotations

import os

import torch
from ase.calculators.calculator import Calculator as AseCalculator
from ase.calculators.calculator import PropertyNotImplementedError, all_changes

from eqv2 import cpu_memory
from eqv2.batch import Structure, stress_to_voigt
from eqv2.checkpoints.loading import load
from eqv2.potential import FORCE_MODES, Potential
from eqv2.validation import has_element_symbols


class Calculator(AseCalculator):
    """Energy, free energy, forces and (for cells with volume) stress from an eqv2 potential.

    Args:
        potential: a `Potential` or the path of a checkpoint `eqv2.load` accepts.
        device, dtype: where and in which precision to run (default: CPU, the checkpoint's dtype);
            ``dtype`` is a torch dtype or its name ("float32", "float64").
        forces: "direct" (the network's force and stress heads, as the paper; stress from the strain
            derivative when there is no stress head) or "conservative" (-dE/dr and (1/V) dE/de).
        bf16: run the network under bf16 autocast (opt-in approximation, see `Potential`); None
            keeps the potential's setting.
        neighbor_mode: replaces the potential's rule for ties at max_neighbors
            (`eqv2.graph.neighbors.NEIGHBOR_MODES`); None keeps it. Energy derivatives (conservative forces,
            stress without a stress head) replace a checkpoint's ``reference_strict`` by ``strict``
            (`Potential.derivative_graph`); ``results["neighbor_mode"]`` names the rule of the graph
            that energy and forces came from.
        keep_freed_memory: apply `eqv2.cpu_memory.keep_freed_memory` (process-wide glibc malloc
            settings that make repeated calls on a CPU faster; benchmarks/RESULTS.md, section
            *glibc malloc settings*).
        compile: compile the network with torch.compile (`eqv2.compile`); the first call compiles.

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
        if keep_freed_memory:
            cpu_memory.keep_freed_memory()
        if forces not in FORCE_MODES:
            raise ValueError(f"forces must be one of {FORCE_MODES}, got {forces!r}")
        if not isinstance(potential, Potential):
            potential = load(potential)
        if device is not None or dtype is not None:
            potential = potential.to(device=device, dtype=dtype)
        self.potential = potential.eval()
        if bf16 is not None:
            self.potential.bf16 = bf16
        if neighbor_mode is not None:
            self.potential.neighbor_mode = neighbor_mode
        if compile:
            self.potential.compile_network()
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

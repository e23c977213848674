"""Batched prediction: many structures through the model, a batch at a time."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from eqv2.batch import Structure
from eqv2.potential import Potential
from eqv2.progress import Progress


def has_stress(structure: Structure) -> bool:
    """Stress is defined for cells periodic in all three directions."""
    return bool(np.all(structure.pbc)) and abs(np.linalg.det(structure.cell)) > 1e-12


def batches(items: Sequence, batch_size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def predict(
    potential: Potential,
    structures: Sequence[Atoms | Structure],
    batch_size: int = 8,
    forces: str = "direct",
    stress: bool = True,
    progress: bool = False,
) -> list[dict[str, np.ndarray | float]]:
    """Energy (eV), forces [N, 3] (eV/Å) and, for 3D-periodic cells when ``stress``, stress [3, 3] (eV/Å^3).

    Returns one dict per structure, in input order. ``forces`` is "direct" or "conservative".
    """
    items = [
        s if isinstance(s, Structure) else Structure.from_atoms(s, name=f"structure {i}")
        for i, s in enumerate(structures)
    ]
    bar = Progress(len(items), "predict") if progress else None
    results = []
    for group in batches(items, batch_size):
        want_stress = stress and any(has_stress(s) for s in group)
        outputs = potential(potential.collate(list(group)), forces=forces, stress=want_stress)
        forces_per_structure = np.split(
            outputs["forces"].double().cpu().numpy(), np.cumsum([s.num_atoms for s in group])[:-1]
        )
        for index, structure in enumerate(group):
            result = {"energy": float(outputs["energy"][index]), "forces": forces_per_structure[index]}
            if want_stress and has_stress(structure):
                result["stress"] = outputs["stress"][index].double().cpu().numpy()
            results.append(result)
        if bar:
            bar.advance(len(group))
    return results


def attach_results(atoms: Atoms, result: dict) -> Atoms:
    """A copy of ``atoms`` carrying ``result`` as a SinglePointCalculator (what extxyz writes)."""
    labelled = atoms.copy()
    properties = {"energy": result["energy"], "free_energy": result["energy"], "forces": result["forces"]}
    if "stress" in result:
        s = result["stress"]
        properties["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
    labelled.calc = SinglePointCalculator(labelled, **properties)
    return labelled


def timed_predict(potential: Potential, atoms_list: Sequence[Atoms], **kwargs) -> tuple[list[dict], float]:
    """`predict` and the wall time it took in seconds."""
    start = time.perf_counter()
    results = predict(potential, atoms_list, **kwargs)
    return results, time.perf_counter() - start

"""Batched prediction: many structures through the model, a batch at a time."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm import tqdm

from eqv2.batch import Batch, Structure, batches, stress_to_voigt
from eqv2.potential import Potential
from eqv2.simulate.packing import Budget, Cost, pack, structure_cost
from eqv2.validation import DataError

ERROR_MODES = ("raise", "flag")


def named_structure(atoms: Atoms, key: Hashable) -> Structure:
    """``atoms`` as a `Structure` named ``atoms.info["name"]`` or else ``structure <key>``, for error messages."""
    return Structure.from_atoms(atoms, name=str(atoms.info.get("name", f"structure {key}")))


def as_structures(structures: Sequence[Atoms | Structure]) -> list[Structure]:
    """`Structure`s named ``structure <i>`` (or by ``atoms.info["name"]``) for error messages."""
    return [s if isinstance(s, Structure) else named_structure(s, i) for i, s in enumerate(structures)]


def collate_valid(potential: Potential, group: Sequence[Structure]) -> tuple[Batch | None, dict[int, str]]:
    """The batch of the structures in ``group`` that pass validation, and {position in group: error}."""
    try:
        return potential.collate(list(group)), {}
    except DataError:
        pass
    errors = {}
    for index, structure in enumerate(group):  # the slow path: find the bad ones
        try:
            potential.collate([structure])
        except DataError as error:
            errors[index] = str(error)
    valid = [s for i, s in enumerate(group) if i not in errors]
    return (potential.collate(valid) if valid else None), errors


def predict_group(
    potential: Potential, group: Sequence[Structure], forces: str, stress: bool, on_error: str
) -> list[dict]:
    """One model call for ``group``; see `predict` for the result dicts."""
    if on_error == "raise":
        batch, errors = potential.collate(list(group)), {}
    else:
        batch, errors = collate_valid(potential, group)
    valid = [s for i, s in enumerate(group) if i not in errors]
    want_stress = stress and any(s.stress_is_defined for s in valid)
    outputs = potential(batch, forces=forces, stress=want_stress) if batch is not None else {}
    forces_per_structure = (
        np.split(outputs["forces"].double().cpu().numpy(), np.cumsum([s.num_atoms for s in valid])[:-1])
        if valid
        else []
    )
    results, position = [], 0
    for index, structure in enumerate(group):
        if index in errors:
            results.append({"error": errors[index]})
            continue
        result = {"energy": float(outputs["energy"][position]), "forces": forces_per_structure[position]}
        if want_stress and structure.stress_is_defined:
            result["stress"] = outputs["stress"][position].double().cpu().numpy()
        if on_error == "flag" and not all(np.isfinite(value).all() for value in result.values()):
            result = {"error": f"{structure.name}: the model returned non-finite values"}
        results.append(result)
        position += 1
    return results


def predict(
    potential: Potential,
    structures: Sequence[Atoms | Structure],
    batch_size: int = 8,
    forces: str = "direct",
    stress: bool = True,
    progress: bool = False,
    on_error: str = "raise",
) -> list[dict[str, np.ndarray | float | str]]:
    """Energy (eV), forces [N, 3] (eV/Å) and, for 3D-periodic cells when ``stress``, stress [3, 3] (eV/Å^3).

    Returns one dict per structure, in input order. ``forces`` is "direct" or "conservative".
    A structure that fails validation (`eqv2.DataError`) stops everything when ``on_error`` is
    "raise"; with "flag" its dict is ``{"error": message}`` (also for non-finite model outputs) and
    the rest of its batch goes on.
    """
    if on_error not in ERROR_MODES:
        raise ValueError(f"on_error must be one of {ERROR_MODES}, got {on_error!r}")
    items = as_structures(structures)
    results = []
    with tqdm(total=len(items), desc="predict", unit="structure", disable=not progress) as bar:
        for group in batches(items, batch_size):
            results.extend(predict_group(potential, group, forces, stress, on_error))
            bar.update(len(group))
    return results


def predict_stream(
    potential: Potential,
    items: Iterable[tuple[Hashable, Atoms]],
    budget: Budget,
    forces: str = "direct",
    stress: bool = True,
    on_error: str = "raise",
    skip: Callable[[Hashable], bool] | None = None,
) -> Iterator[tuple[Hashable, Atoms, dict]]:
    """`predict` for a stream of (key, atoms) ``items`` in batches packed within ``budget``
    (`eqv2.simulate.packing.pack`); yields (key, atoms, result dict) in input order, a batch at a time.

    A batch whose keys are all ``skip``-ped (results a resumed run already has) is packed but not
    computed, so the other batches are the same as without skipping."""
    if on_error not in ERROR_MODES:
        raise ValueError(f"on_error must be one of {ERROR_MODES}, got {on_error!r}")

    def sized(item: tuple[Hashable, Atoms]) -> tuple[Hashable, Atoms, Structure]:
        key, atoms = item
        return key, atoms, named_structure(atoms, key)

    def cost(entry: tuple[Hashable, Atoms, Structure]) -> Cost:
        return structure_cost(potential, entry[2], raise_invalid=on_error == "raise")

    for group in pack(map(sized, items), cost, budget):
        if skip is not None and all(skip(key) for key, _, _ in group):
            continue
        results = predict_group(potential, [structure for _, _, structure in group], forces, stress, on_error)
        yield from ((key, atoms, result) for (key, atoms, _), result in zip(group, results))


def attach_results(atoms: Atoms, result: dict) -> Atoms:
    """A copy of ``atoms`` carrying ``result`` as a SinglePointCalculator (what extxyz writes).

    A flagged result (``{"error": ...}``) gives a copy without a calculator and ``info["error"]``.
    """
    labelled = atoms.copy()
    if "error" in result:
        labelled.info["error"] = result["error"]
        return labelled
    properties = {"energy": result["energy"], "free_energy": result["energy"], "forces": result["forces"]}
    if "stress" in result:
        properties["stress"] = stress_to_voigt(result["stress"])
    labelled.calc = SinglePointCalculator(labelled, **properties)
    return labelled

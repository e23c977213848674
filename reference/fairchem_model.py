"""Drive the reference EquiformerV2 (fairchem-core 1.10.0) for cross-checks and benchmarks.

Run with the reference environment's python (`reference/install.sh` makes it), from the
repository root, to compare OCPCalculator with every fixture:

    .refenv/bin/python -m reference.fairchem_model tests/fixtures/reference

The reference is the deprecated `equiformer_v2` class, which OCPCalculator builds from an
old-format (OC20) checkpoint. Its `forward` re-enables autograd whenever `regress_forces` is set
(the forces are still direct); `grad_mode="none"` sets the `direct_forces` flag its decorator
checks, so the same computation runs without autograd.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms

REFERENCE_VERSION = "1.10.0"
OC20_ENERGY_MEAN = -0.7554450631141663
OC20_ENERGY_STD = 2.887317180633545
GRAD_MODES = ("reference", "none")


def reference_available() -> bool:
    """True when fairchem-core 1.10.0 and its EquiformerV2 import in this interpreter."""
    try:
        import fairchem.core
        from fairchem.core.models.equiformer_v2.equiformer_v2_deprecated import EquiformerV2  # noqa: F401
    except ImportError:
        return False
    return fairchem.core.__version__ == REFERENCE_VERSION


def build_reference_model(model_attributes: dict[str, Any], seed: int | None = 0) -> torch.nn.Module:
    """The reference `EquiformerV2` in eval mode, built as OCPCalculator would (otf_graph on).

    `model_attributes` is a checkpoint's `config.model_attributes` (a "name" key is ignored);
    `seed` fixes the random initial weights.
    """
    from fairchem.core.models.equiformer_v2.equiformer_v2_deprecated import EquiformerV2

    kwargs = {key: value for key, value in model_attributes.items() if key != "name"}
    kwargs["otf_graph"] = True
    if seed is not None:
        torch.manual_seed(seed)
    return EquiformerV2(**kwargs).eval()


def _normalizer(mean: float, std: float) -> dict[str, torch.Tensor]:
    """A legacy {mean, std} normalizer entry (the reference requires tensors)."""
    return {"mean": torch.tensor(mean), "std": torch.tensor(std)}


def reference_checkpoint(
    model: torch.nn.Module,
    model_attributes: dict[str, Any],
    energy_mean: float = 0.0,
    energy_std: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """An old-format (OC20) checkpoint dict holding `model`'s weights.

    The defaults (mean 0, std 1) make the de-normalized outputs equal the raw model outputs; pass
    `OC20_ENERGY_MEAN` / `OC20_ENERGY_STD` for the OC20 S2EF normalization. The forces share
    `energy_std` (mean 0), as in OC20.
    """
    attributes = {key: value for key, value in model_attributes.items() if key != "name"}
    dataset = {
        "src": "none",
        "normalize_labels": True,
        "target_mean": energy_mean,
        "target_std": energy_std,
        "grad_target_mean": 0.0,
        "grad_target_std": energy_std,
    }
    config = {
        "trainer": "forces",
        "model": "equiformer_v2",
        "model_attributes": attributes,
        "task": {"dataset": "trajectory_lmdb_v2", "train_on_free_atoms": True, "eval_on_free_atoms": True},
        "dataset": dataset,
        "optim": {"batch_size": 1, "eval_batch_size": 1},
        "cmd": {"seed": seed},
        "slurm": {},
        "logger": "tensorboard",
        "amp": False,
    }
    return {
        "state_dict": {f"module.{key}": value for key, value in model.state_dict().items()},
        "config": config,
        "normalizers": {"target": _normalizer(energy_mean, energy_std), "grad_target": _normalizer(0.0, energy_std)},
    }


def save_reference_checkpoint(
    model: torch.nn.Module, path: str | Path, model_attributes: dict[str, Any], **normalization: float
) -> None:
    """Write `reference_checkpoint(model, model_attributes, **normalization)` to `path`."""
    torch.save(reference_checkpoint(model, model_attributes, **normalization), path)


def reference_calculator(checkpoint_path: str | Path, seed: int = 0):
    """fairchem's `OCPCalculator` on the CPU for a checkpoint file."""
    from fairchem.core.common.relaxation.ase_utils import OCPCalculator

    return OCPCalculator(checkpoint_path=str(checkpoint_path), cpu=True, seed=seed)


def atoms_to_batch(atoms_list: list[Atoms]):
    """A torch_geometric Batch built exactly as OCPCalculator builds it (graph made in the model)."""
    from fairchem.core.datasets import data_list_collater
    from fairchem.core.preprocessing import AtomsToGraphs

    converter = AtomsToGraphs(r_energy=False, r_forces=False, r_distances=False, r_pbc=True, r_edges=False)
    return data_list_collater([converter.convert(atoms) for atoms in atoms_list], otf_graph=True)


@contextlib.contextmanager
def _grad_mode(model: torch.nn.Module, grad_mode: str):
    """Run `model` under no_grad; `grad_mode` "reference" keeps fairchem's autograd-on forward, "none" turns it off."""
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"grad_mode must be one of {GRAD_MODES}, got {grad_mode!r}")
    model.direct_forces = grad_mode == "none"
    try:
        with torch.no_grad():
            yield
    finally:
        del model.direct_forces


def reference_forward(
    model: torch.nn.Module, atoms_list: list[Atoms], seed: int | None = 0, grad_mode: str = "reference"
) -> dict[str, torch.Tensor]:
    """Raw (normalized) model outputs: energy [G] and forces [N, 3], detached.

    `seed` seeds the global RNG that draws the per-edge roll angles, so repeated calls agree.
    Multiply by the checkpoint's std (and add the energy mean once per system) to get eV, eV/Å.
    """
    batch = atoms_to_batch(atoms_list)
    if seed is not None:
        torch.manual_seed(seed)
    with _grad_mode(model, grad_mode):
        out = model(batch)
    return {"energy": out["energy"].detach().reshape(-1), "forces": out["forces"].detach()}


def check_fixtures(root: str | Path) -> list[dict[str, Any]]:
    """Max deviations of OCPCalculator from each fixture's expected.json under `root`."""
    from ase.io import read

    rows = []
    for expected_path in sorted(Path(root).glob("*/expected.json")):
        expected = json.loads(expected_path.read_text())
        calculator = reference_calculator(expected_path.parent / expected["checkpoint"])
        for case in expected["cases"]:
            atoms = read(expected_path.parent / case["file"])
            atoms.calc = calculator
            row = {
                "case": f"{expected_path.parent.name}/{case['file']}",
                "dE": abs(atoms.get_potential_energy() - case["energy"]),
                "dF": float(np.abs(atoms.get_forces() - np.array(case["forces"])).max()),
                "spread_F": case["ref_spread_forces"],
            }
            if "stress" in case:
                row["dS"] = float(np.abs(atoms.get_stress(voigt=False) - np.array(case["stress"])).max())
            rows.append(row)
    return rows


def main() -> None:
    """CLI: the deviations of OCPCalculator from every fixture's expected.json under a root folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a folder of fixture cases (each with expected.json)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    for row in check_fixtures(args.root):
        print(json.dumps(row))


if __name__ == "__main__":
    main()

"""Hydra-format golden fixtures, predicted by fairchem-core 1.10.0's OCPCalculator.

    PYTHONPATH=. .refenv/bin/python -W ignore reference/make_hydra_fixtures.py tests/fixtures/reference

Two kinds of case, written under ``<root>/hydra/<name>/``:

- ``<old-format case>``: the old-format fixture's weights moved into a fairchem ``HydraModel``
  (``equiformer_v2_backbone`` with the energy and force heads), saved as a hydra checkpoint with a
  varying number of ``module.`` prefixes and ``pass_through_head_outputs`` on or off. The structures
  are the old-format case's own; ``expected.json`` holds the hydra model's predictions (the hydra
  backbone never applies ``energy_lin_ref``, so the OC22-style case differs from its old format).
- ``dens_sigma_tiny``: a DeNS backbone with the noise-schedule sigma encoding, a "mean" scalar
  energy head, the plain vector head and a rank-2 stress head without source/target embeddings and
  with 3 MLP layers; energy, forces and stress normalizers with nonzero means and element
  references. Structures: the omat_dens_tiny fixture's bulk cells.

Weights are random with every parameter perturbed; predictions use seed 0, spreads seeds 0-3.
"""

import copy
import json
import sys
from pathlib import Path

import ase.io
import numpy as np
import torch

from reference import fairchem_model as rm

OLD_CASES = {  # name -> (number of "module." prefixes, pass_through_head_outputs)
    "tiny_L4M2": (1, True),
    "tiny_gate_L2M1": (0, False),
    "tiny_variants_L3M1": (2, True),
    "tiny_plain_s2_L3M3": (1, False),
}
OMAT_FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "reference" / "omat_dens_tiny"
DENS_MODULE = "fairchem.core.models.equiformer_v2.equiformer_v2_dens"

SIGMA_BACKBONE = dict(
    model=f"{DENS_MODULE}.EqV2DeNSBackbone",
    use_pbc=True,
    use_pbc_single=True,
    otf_graph=True,
    max_neighbors=500,
    max_radius=5.0,
    max_num_elements=96,
    num_layers=2,
    sphere_channels=16,
    attn_hidden_channels=16,
    num_heads=2,
    attn_alpha_channels=8,
    attn_value_channels=8,
    ffn_hidden_channels=32,
    norm_type="rms_norm_sh",
    lmax_list=[3],
    mmax_list=[2],
    grid_resolution=14,
    edge_channels=16,
    use_atom_edge_embedding=True,
    share_atom_edge_embedding=False,
    use_m_share_rad=False,
    distance_function="gaussian",
    use_attn_renorm=True,
    use_gate_act=False,
    use_grid_mlp=True,
    use_sep_s2_act=True,
    alpha_drop=0.0,
    drop_path_rate=0.0,
    proj_drop=0.0,
    weight_init="uniform",
    enforce_max_neighbors_strictly=True,
    avg_num_nodes=20.5,
    avg_degree=35.25,
    use_force_encoding=False,
    use_noise_schedule_sigma_encoding=True,
)
SIGMA_HEADS = {
    "energy": {"module": "equiformerV2_scalar_head", "reduce": "mean"},
    "forces": {"module": "equiformerV2_vector_head"},
    "stress": {
        "module": "rank2_symmetric_head",
        "output_name": "stress",
        "decompose": True,
        "use_source_target_embedding": False,
        "num_mlp_layers": 3,
    },
}


def hydra_model(backbone: dict, heads: dict, pass_through: bool, seed: int) -> torch.nn.Module:
    """A fairchem HydraModel in eval mode with seeded random weights."""
    from fairchem.core.common.registry import registry
    from fairchem.core.common.utils import setup_imports

    setup_imports()
    torch.manual_seed(seed)
    hydra = registry.get_model_class("hydra")
    return hydra(backbone=backbone, heads=heads, pass_through_head_outputs=pass_through, otf_graph=True).eval()


def perturb(model: torch.nn.Module, seed: int) -> None:
    """Move every parameter off its initial value so that each one matters to the outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator) * (parameter.abs().mean() + 0.05))


def hydra_key(old_key: str) -> str:
    """Old-format key (no "module.") -> the hydra key of the same tensor."""
    for block, head in (("energy_block", "energy"), ("force_block", "forces")):
        if old_key.startswith(block + "."):
            return f"output_heads.{head}.{old_key}"
    return f"backbone.{old_key}"


def strip_prefixes(key: str) -> str:
    while key.startswith("module."):
        key = key[len("module.") :]
    return key


def omat_config() -> dict:
    """The shared OMat-style fixture's config (trainer, outputs, losses) to build others from."""
    return torch.load(OMAT_FIXTURE / "eqv2_dens_omat_style.pt", map_location="cpu", weights_only=False)["config"]


def checkpoint_dict(model, model_config: dict, outputs: dict, prefixes: int, normalizers, elementrefs=None) -> dict:
    """A hydra checkpoint of ``model`` as fairchem saves it."""
    config = copy.deepcopy(omat_config())
    config["model"] = model_config
    config["outputs"] = outputs
    config["loss_functions"] = [{name: {"fn": "mae", "coefficient": 1}} for name in outputs if name != "stress"]
    prefix = "module." * prefixes
    checkpoint = {
        "state_dict": {prefix + key: value for key, value in model.state_dict().items()},
        "config": config,
        "normalizers": normalizers,
    }
    if elementrefs is not None:
        checkpoint["elementrefs"] = {"energy": {"element_references": elementrefs}}
    return checkpoint


def predict(checkpoint_path: Path, structures: list, with_stress: bool) -> list[dict]:
    """OCPCalculator's predictions (seed 0) and their spread over seeds 0-3."""
    cases = []
    for index, atoms in enumerate(structures):
        energies, forces, stresses = [], [], []
        for seed in range(4):
            atoms.calc = rm.reference_calculator(checkpoint_path, seed=seed)
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
            if with_stress:
                stresses.append(atoms.get_stress(voigt=False))
        case = {
            "file": f"struct{index}.json",
            "energy": energies[0],
            "forces": forces[0].tolist(),
            "ref_spread_energy": float(np.ptp(energies)),
            "ref_spread_forces": float(np.abs(np.array(forces) - forces[0]).max()),
        }
        if with_stress:
            case["stress"] = stresses[0].tolist()
            case["ref_spread_stress"] = float(np.abs(np.array(stresses) - stresses[0]).max())
        cases.append(case)
        print(checkpoint_path.parent.name, index, case["energy"], case["ref_spread_forces"])
    return cases


def make_old_format_case(root: Path, name: str, prefixes: int, pass_through: bool) -> None:
    source = root / name
    expected_old = json.loads((source / "expected.json").read_text())
    old = torch.load(source / expected_old["checkpoint"], map_location="cpu", weights_only=False)
    attributes = dict(old["config"]["model_attributes"])
    backbone = {"model": "equiformer_v2_backbone", **attributes}
    heads = {"energy": {"module": "equiformer_v2_energy_head"}, "forces": {"module": "equiformer_v2_force_head"}}
    model = hydra_model(backbone, heads, pass_through, seed=0)
    model.load_state_dict({hydra_key(strip_prefixes(k)): v for k, v in old["state_dict"].items()}, strict=True)
    model_config = {
        "name": "hydra",
        "backbone": backbone,
        "heads": heads,
        "pass_through_head_outputs": pass_through,
        "otf_graph": True,
    }
    outputs = {"energy": {"level": "system", "property": "energy"}, "forces": {"level": "atom", "property": "forces"}}
    folder = root / "hydra" / name
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint_name = f"eqv2_{name}_hydra.pt"
    torch.save(checkpoint_dict(model, model_config, outputs, prefixes, old["normalizers"]), folder / checkpoint_name)
    structures = [ase.io.read(source / case["file"]) for case in expected_old["cases"]]
    cases = predict(folder / checkpoint_name, structures, with_stress=False)
    for case, old_case in zip(cases, expected_old["cases"], strict=True):
        case["file"] = old_case["file"]
    (folder / "expected.json").write_text(json.dumps({"checkpoint": checkpoint_name, "source": name, "cases": cases}))


def make_sigma_case(root: Path) -> None:
    model_config = {
        "name": "hydra",
        "backbone": SIGMA_BACKBONE,
        "heads": SIGMA_HEADS,
        "pass_through_head_outputs": True,
        "otf_graph": True,
    }
    model = hydra_model(SIGMA_BACKBONE, SIGMA_HEADS, True, seed=3)
    perturb(model, seed=4)
    generator = torch.Generator().manual_seed(5)
    elementrefs = -3.0 + torch.rand(119, generator=generator)
    normalizers = {
        "energy": {"mean": torch.tensor(0.25), "rmsd": torch.tensor(1.5)},
        "forces": {"mean": torch.tensor(0.0), "rmsd": torch.tensor(0.8)},
        "stress_isotropic": {"mean": torch.tensor(0.01), "rmsd": torch.tensor(0.05)},
        "stress_anisotropic": {"mean": torch.tensor(0.002), "rmsd": torch.tensor(0.02)},
    }
    folder = root / "hydra" / "dens_sigma_tiny"
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint_name = "eqv2_dens_sigma_tiny.pt"
    outputs = omat_config()["outputs"]
    checkpoint = checkpoint_dict(model, model_config, outputs, 2, normalizers, elementrefs)
    torch.save(checkpoint, folder / checkpoint_name)
    structures = [ase.io.read(OMAT_FIXTURE / f"struct{i}.json") for i in range(3)]
    for index, atoms in enumerate(structures):
        ase.io.write(folder / f"struct{index}.json", atoms)
    cases = predict(folder / checkpoint_name, structures, with_stress=True)
    (folder / "expected.json").write_text(json.dumps({"checkpoint": checkpoint_name, "cases": cases}))


if __name__ == "__main__":
    out_root = Path(sys.argv[1])
    for case_name, (prefix_count, through) in OLD_CASES.items():
        make_old_format_case(out_root, case_name, prefix_count, through)
    make_sigma_case(out_root)

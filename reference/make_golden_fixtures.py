"""Golden fixtures for switches the shared fixtures do not cover, predicted by fairchem-core 1.10.0.

    PYTHONPATH=. .refenv/bin/python -W ignore reference/make_golden_fixtures.py tests/fixtures/reference

Each case: random weights (every parameter perturbed), an old-format checkpoint with the OC20
normalizers, four structures from the tiny_L4M2 fixture, and OCPCalculator's energy and forces
(seed 0) with their spread over seeds 0-3 (the reference draws random per-edge roll angles).
"""

import json
import sys
from pathlib import Path

import ase.io
import numpy as np
import torch

from reference import fairchem_model as rm

BASE = dict(
    num_layers=2,
    sphere_channels=16,
    attn_hidden_channels=16,
    num_heads=2,
    attn_alpha_channels=8,
    attn_value_channels=8,
    ffn_hidden_channels=32,
    edge_channels=16,
    max_neighbors=16,
    max_radius=5.0,
    max_num_elements=90,
    alpha_drop=0.0,
    drop_path_rate=0.0,
    proj_drop=0.0,
    weight_init="normal",
    distance_function="gaussian",
    use_pbc=True,
    regress_forces=True,
    otf_graph=True,
)
CASES = {
    "tiny_variants_L3M1": dict(
        BASE,
        lmax_list=[3],
        mmax_list=[1],
        grid_resolution=16,
        norm_type="layer_norm",
        use_m_share_rad=True,
        use_sep_s2_act=True,
        use_grid_mlp=False,
        use_gate_act=False,
        use_attn_renorm=False,
        use_atom_edge_embedding=True,
        share_atom_edge_embedding=False,
    ),
    "tiny_plain_s2_L3M3": dict(
        BASE,
        lmax_list=[3],
        mmax_list=[3],
        grid_resolution=14,
        norm_type="rms_norm_sh",
        use_m_share_rad=False,
        use_sep_s2_act=False,
        use_grid_mlp=False,
        use_gate_act=False,
        use_attn_renorm=True,
        use_atom_edge_embedding=False,
        load_energy_lin_ref=True,
        use_energy_lin_ref=True,
    ),
}
out_root = Path(sys.argv[1])
source = Path("tests/fixtures/reference/tiny_L4M2")
structures = [ase.io.read(source / f"struct{i}.json") for i in (1, 2, 3, 4)]
for name, attributes in CASES.items():
    model = rm.build_reference_model(attributes, seed=1)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator) * (parameter.abs().mean() + 0.05))
    folder = out_root / name
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint_name = f"eqv2_{name}_oc20.pt"
    rm.save_reference_checkpoint(
        model, folder / checkpoint_name, attributes, energy_mean=rm.OC20_ENERGY_MEAN, energy_std=rm.OC20_ENERGY_STD
    )
    cases = []
    for index, atoms in enumerate(structures):
        ase.io.write(folder / f"struct{index}.json", atoms)
        energies, forces = [], []
        for seed in range(4):
            atoms.calc = rm.reference_calculator(folder / checkpoint_name, seed=seed)
            energies.append(atoms.get_potential_energy())
            forces.append(atoms.get_forces())
        cases.append(
            {
                "file": f"struct{index}.json",
                "energy": energies[0],
                "forces": forces[0].tolist(),
                "ref_spread_energy": float(np.ptp(energies)),
                "ref_spread_forces": float(np.abs(np.array(forces) - forces[0]).max()),
            }
        )
        print(name, index, cases[-1]["energy"], cases[-1]["ref_spread_forces"])
    (folder / "expected.json").write_text(json.dumps({"checkpoint": checkpoint_name, "config": name, "cases": cases}))

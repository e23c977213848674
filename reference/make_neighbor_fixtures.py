"""Edge lists that fairchem-core 1.10.0 builds with strict max_neighbors on symmetric crystals.

    PYTHONPATH=. .refenv/bin/python -W ignore reference/make_neighbor_fixtures.py \
        tests/fixtures/reference/neighbors_strict.json

Each case is an unrattled crystal (as built, translated, or rotated and translated), a cutoff and a
neighbour cap k. The structure goes through the reference's `AtomsToGraphs` (as its ASE calculator
does) and `radius_graph_pbc` with ``enforce_max_neighbors_strictly=True``, one structure at a time.
Edges are recorded as (source j, target i, edge vector r_j + n @ cell - r_i in Å, rounded to 1e-4),
which does not depend on how the reference wrapped the positions.

The reference's pick among equidistant neighbours follows the rounding of its float32 ``bmm``, which
differs between CPUs; the tests assume the fixture's CPU rounds it like the plain sum of products
(`plain_bmm` in tests/graph/test_reference_strict.py). On a CPU that does not (with fused
multiply-adds), record with ``torch.bmm`` replaced by that function.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from ase.cluster import Octahedron

from reference import fairchem_model as rm

SETTINGS = ((6.0, 16), (12.0, 20))  # (cutoff Å, max_neighbors)


def crystals() -> dict[str, Atoms]:
    """Symmetric structures whose k-th neighbour shells are degenerate."""
    slab = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    slab.center(vacuum=5.0, axis=2)
    slab.pbc = (True, True, False)
    cluster = Octahedron("Cu", 4, latticeconstant=3.6)
    cluster.cell = np.eye(3) * 20.0
    cluster.pbc = False
    return {
        "fcc_Cu": bulk("Cu", "fcc", a=3.6),
        "bcc_Fe": bulk("Fe", "bcc", a=2.87),
        "rocksalt_NaCl": bulk("NaCl", "rocksalt", a=5.64),
        "hcp_Mg": bulk("Mg", "hcp", a=3.21, c=5.21),
        "diamond_Si": bulk("Si", "diamond", a=5.43),
        "cscl_CsCl": bulk("CsCl", "cesiumchloride", a=4.12),
        "fcc_Cu_conventional": bulk("Cu", "fcc", a=3.6, cubic=True),
        "fcc_Ni_2x1x1": bulk("Ni", "fcc", a=3.52, cubic=True).repeat((2, 1, 1)),
        "bcc_W_2x2x2": bulk("W", "bcc", a=3.16, cubic=True).repeat((2, 2, 2)),
        "fcc_Cu_slab": slab,
        "cu_cluster_no_pbc": cluster,
    }


def variants(atoms: Atoms) -> dict[str, Atoms]:
    """The structure as built, translated (atoms leave the cell), and rotated then translated."""
    translated = atoms.copy()
    translated.translate([0.7, -1.3, 0.45])
    rotated = atoms.copy()
    rotated.rotate(30, "z", rotate_cell=True)
    rotated.rotate(12, "x", rotate_cell=True)
    rotated.translate([-0.4, 0.9, 2.1])
    return {"built": atoms, "translated": translated, "rotated": rotated}


def reference_edges(atoms: Atoms, cutoff: float, max_neighbors: int) -> list[list[float]]:
    """[[j, i, vx, vy, vz], ...] as the reference's strict radius graph makes them."""
    from fairchem.core.common.utils import radius_graph_pbc

    batch = rm.atoms_to_batch([atoms])
    edge_index, offsets, _ = radius_graph_pbc(batch, cutoff, max_neighbors, enforce_max_neighbors_strictly=True)
    positions = torch.as_tensor(batch.pos, dtype=torch.float64)
    cell = torch.as_tensor(batch.cell[0], dtype=torch.float64)
    vectors = positions[edge_index[0]] + offsets.double() @ cell - positions[edge_index[1]]
    return [[int(j), int(i), *np.round(v, 4).tolist()] for j, i, v in zip(*edge_index.tolist(), vectors.numpy())]


def main() -> None:
    cases = []
    for name, crystal in crystals().items():
        for variant, atoms in variants(crystal).items():
            for cutoff, max_neighbors in SETTINGS:
                cases.append(
                    {
                        "name": f"{name}/{variant}/{cutoff:g}A/k{max_neighbors}",
                        "numbers": atoms.numbers.tolist(),
                        "positions": atoms.positions.tolist(),
                        "cell": atoms.cell[:].tolist(),
                        "pbc": atoms.pbc.tolist(),
                        "cutoff": cutoff,
                        "max_neighbors": max_neighbors,
                        "edges": reference_edges(atoms, cutoff, max_neighbors),
                    }
                )
                print(cases[-1]["name"], len(cases[-1]["edges"]))
    fixture = {
        "reference": f"fairchem-core {rm.REFERENCE_VERSION}",
        "torch": torch.__version__.split("+")[0],
        "cases": cases,
    }
    Path(sys.argv[1]).write_text(json.dumps(fixture))


if __name__ == "__main__":
    main()

"""eqv2: EquiformerV2 for atomistic systems, in modern PyTorch.

Public API:
    EquiformerV2          the network (fairchem ``equiformer_v2`` keyword arguments)
    EquiformerV2Config    its typed configuration
    Potential             network + normalizers + element references; energy, forces, stress
    load, save            checkpoints (eqv2 format; fairchem-core 1.x EquiformerV2 checkpoints)
    Calculator            the ASE calculator
    radius_graph          periodic neighbour lists
    Structure, Batch, collate   the data contract
    DataError             raised for bad input, naming the structure
    predict               batched energies, forces and stress for many structures
    relax, run_md, screen batched relaxation, molecular dynamics, AdsorbML-style screening
    keep_freed_memory     glibc malloc settings that make repeated CPU calls faster (opt-in; the
                          `eqv2` command applies them)
"""

from eqv2.batch import Batch, Structure, collate
from eqv2.checkpoints.loading import load
from eqv2.checkpoints.native import save
from eqv2.cpu_memory import keep_freed_memory
from eqv2.graph.neighbors import radius_graph
from eqv2.integrations.ase import Calculator
from eqv2.model import EquiformerV2
from eqv2.model_config import EquiformerV2Config
from eqv2.potential import Potential
from eqv2.simulate import RelaxResult, relax
from eqv2.simulate.adsorbml import Screening, screen
from eqv2.simulate.md import MDResult, run_md
from eqv2.simulate.prediction import predict
from eqv2.validation import DataError

__all__ = [
    "Batch",
    "Calculator",
    "DataError",
    "EquiformerV2",
    "EquiformerV2Config",
    "MDResult",
    "keep_freed_memory",
    "Potential",
    "RelaxResult",
    "Screening",
    "Structure",
    "collate",
    "load",
    "predict",
    "radius_graph",
    "relax",
    "run_md",
    "save",
    "screen",
]
__version__ = "0.1.0"

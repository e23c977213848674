"""eqv2: EquiformerV2 for atomistic systems, in modern PyTorch.

Public API:
    EquiformerV2          the network (fairchem ``equiformer_v2`` keyword arguments)
    EquiformerV2Config    its typed configuration
    Potential             network + normalizers + element references; energy, forces, stress
    load, save            checkpoints (eqv2 format; fairchem-core 1.x EquiformerV2 checkpoints)
    Calculator            the ASE calculator
    radius_graph          periodic neighbour lists
    Structure, Batch, collate   the data contract
"""

from eqv2.batch import Batch, Structure, collate
from eqv2.calculator import Calculator
from eqv2.checkpoint import load, save
from eqv2.graph import radius_graph
from eqv2.model import EquiformerV2
from eqv2.model_config import EquiformerV2Config
from eqv2.potential import Potential

__all__ = [
    "Batch",
    "Calculator",
    "EquiformerV2",
    "EquiformerV2Config",
    "Potential",
    "Structure",
    "collate",
    "load",
    "radius_graph",
    "save",
]
__version__ = "0.1.0"

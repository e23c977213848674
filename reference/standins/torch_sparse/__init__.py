"""Import-only stand-in for `torch_sparse`.

The reference imports `SparseTensor` in model files (GemNet, DimeNet++) that the
registry loads eagerly but EquiformerV2 never runs. Using it raises. There is no
`SparseStorage`, so torch_geometric keeps its own sparse fallback.
"""


class SparseTensor:
    """Placeholder that fails loudly when constructed."""

    def __init__(self, *args, **kwargs) -> None:
        raise NotImplementedError("torch_sparse is a stand-in; SparseTensor is unavailable")

"""Pure-torch stand-in for the few `torch_scatter` functions the reference imports.

Semantics follow torch_scatter 2.x: empty output slots are 0 for every reduction,
`mean` divides by max(count, 1), `scatter_max/min` return (values, argindex) with
argindex = src.size(dim) for empty slots. Segment functions reduce along dim 0
(the layout the reference uses: 1-D `index` / `indptr`).
"""

from __future__ import annotations

import torch

from .utils import broadcast

__all__ = [
    "scatter",
    "scatter_sum",
    "scatter_add",
    "scatter_mean",
    "scatter_max",
    "scatter_min",
    "scatter_mul",
    "segment_coo",
    "segment_csr",
    "broadcast",
]

_TORCH_REDUCE = {"max": "amax", "min": "amin", "mul": "prod"}


def _out_size(src: torch.Tensor, index: torch.Tensor, dim: int, dim_size: int | None) -> list[int]:
    """Output shape: src's shape with `dim` replaced by dim_size (default index.max()+1)."""
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
    size = list(src.size())
    size[dim] = dim_size
    return size


def _count(index: torch.Tensor, src: torch.Tensor, dim: int, size: list[int]) -> torch.Tensor:
    """Number of entries scattered into each output slot, broadcast to `size`."""
    ones = torch.ones_like(index, dtype=src.dtype)
    return torch.zeros(size, dtype=src.dtype, device=src.device).scatter_add_(dim, index, ones)


def scatter(
    src: torch.Tensor,
    index: torch.Tensor,
    dim: int = -1,
    out: torch.Tensor | None = None,
    dim_size: int | None = None,
    reduce: str = "sum",
) -> torch.Tensor:
    """Reduce `src` into slots given by `index` along `dim` (sum, add, mean, max, min, mul)."""
    dim = src.dim() + dim if dim < 0 else dim
    index = broadcast(index, src, dim)
    size = _out_size(src, index, dim, dim_size) if out is None else list(out.size())
    if reduce in ("sum", "add"):
        base = torch.zeros(size, dtype=src.dtype, device=src.device) if out is None else out
        return base.scatter_add_(dim, index, src)
    if reduce == "mean":
        total = torch.zeros(size, dtype=src.dtype, device=src.device).scatter_add_(dim, index, src)
        total = total / _count(index, src, dim, size).clamp(min=1)
        return total if out is None else out.copy_(total)
    if reduce in _TORCH_REDUCE:
        result = torch.zeros(size, dtype=src.dtype, device=src.device).scatter_reduce_(
            dim, index, src, reduce=_TORCH_REDUCE[reduce], include_self=False
        )
        return result if out is None else out.copy_(result)
    raise ValueError(f"unsupported reduce {reduce!r}")


def scatter_sum(
    src: torch.Tensor, index: torch.Tensor, dim: int = -1, out: torch.Tensor | None = None, dim_size: int | None = None
) -> torch.Tensor:
    """`scatter(..., reduce="sum")`."""
    return scatter(src, index, dim, out, dim_size, "sum")


scatter_add = scatter_sum


def scatter_mean(
    src: torch.Tensor, index: torch.Tensor, dim: int = -1, out: torch.Tensor | None = None, dim_size: int | None = None
) -> torch.Tensor:
    """`scatter(..., reduce="mean")`."""
    return scatter(src, index, dim, out, dim_size, "mean")


def scatter_mul(
    src: torch.Tensor, index: torch.Tensor, dim: int = -1, out: torch.Tensor | None = None, dim_size: int | None = None
) -> torch.Tensor:
    """`scatter(..., reduce="mul")`."""
    return scatter(src, index, dim, out, dim_size, "mul")


def _scatter_arg(
    src: torch.Tensor, index: torch.Tensor, dim: int, dim_size: int | None, reduce: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Values and first source position of the max/min per slot (empty: 0, src.size(dim))."""
    dim = src.dim() + dim if dim < 0 else dim
    values = scatter(src, index, dim, None, dim_size, reduce)
    full_index = broadcast(index, src, dim)
    hit = src == values.gather(dim, full_index)
    shape = [1] * src.dim()
    shape[dim] = -1
    position = torch.arange(src.size(dim), device=src.device).view(shape).expand_as(src)
    sentinel = torch.full_like(position, src.size(dim))
    candidates = torch.where(hit, position, sentinel)
    arg = torch.full(values.size(), src.size(dim), dtype=torch.long, device=src.device)
    arg.scatter_reduce_(dim, full_index, candidates, reduce="amin", include_self=True)
    return values, arg


def scatter_max(
    src: torch.Tensor, index: torch.Tensor, dim: int = -1, dim_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-slot maximum and its argument index."""
    return _scatter_arg(src, index, dim, dim_size, "max")


def scatter_min(
    src: torch.Tensor, index: torch.Tensor, dim: int = -1, dim_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-slot minimum and its argument index."""
    return _scatter_arg(src, index, dim, dim_size, "min")


def segment_coo(
    src: torch.Tensor,
    index: torch.Tensor,
    out: torch.Tensor | None = None,
    dim_size: int | None = None,
    reduce: str = "sum",
) -> torch.Tensor:
    """Reduce rows of `src` by a sorted 1-D `index` (dim 0)."""
    if index.dim() != 1:
        raise NotImplementedError("stand-in segment_coo supports 1-D index only")
    if out is not None:
        dim_size = out.size(0)
    result = scatter(src, index, 0, None, dim_size, reduce)
    return result if out is None else out.copy_(result)


def segment_csr(
    src: torch.Tensor, indptr: torch.Tensor, out: torch.Tensor | None = None, reduce: str = "sum"
) -> torch.Tensor:
    """Reduce rows of `src` between consecutive 1-D `indptr` pointers (dim 0)."""
    if indptr.dim() != 1:
        raise NotImplementedError("stand-in segment_csr supports 1-D indptr only")
    counts = (indptr[1:] - indptr[:-1]).to(torch.long)
    index = torch.repeat_interleave(torch.arange(counts.numel(), device=src.device), counts)
    rows = src.narrow(0, int(indptr[0]), int(indptr[-1] - indptr[0]))
    return segment_coo(rows, index, out, counts.numel(), reduce)

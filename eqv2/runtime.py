"""Where and how this process computes: its device, the dtypes a potential runs in, and the process
group under torchrun (NCCL on GPUs, gloo on CPU; the group helpers are no-ops in one process).

It imports nothing of eqv2, so every layer may use it.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

DTYPES = {"float32": torch.float32, "float64": torch.float64}  # the precisions a potential runs in, by name


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """A torch dtype from a name in `DTYPES` ("float32", "float64") or a torch dtype; None stays None."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)} or a torch dtype, got {dtype!r}")
    return DTYPES[dtype]


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; any other name as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def rank_device(device: str | None) -> str | None:
    """Under torchrun, ``cuda`` means this rank's GPU, ``cuda:<LOCAL_RANK>``; other devices stay as given."""
    if device == "cuda" and launched_by_torchrun():
        return f"cuda:{local_rank()}"
    return device


def start_process(device: str) -> tuple[torch.device, int, int]:
    """The device this process computes on, its rank and the world size, after joining the process group
    when launched by torchrun (`setup`). A CUDA device becomes this rank's GPU, ``cuda:<LOCAL_RANK>``, and
    the current one; ``device`` is a name `resolve_device` reads."""
    resolved = resolve_device(device)
    rank, world_size = setup(resolved.type)
    if resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank())
        torch.cuda.set_device(resolved)
    return resolved, rank, world_size


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device_type: str, timeout: timedelta | None = None) -> tuple[int, int]:
    """Join the process group when launched by torchrun; returns (rank, world_size). ``timeout``:
    how long collectives wait for the slowest rank (torch's default when None)."""
    if not launched_by_torchrun():
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo", timeout=timeout)
    return dist.get_rank(), dist.get_world_size()


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world_size() -> int:
    """Processes torchrun started on this machine (1 outside torchrun)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The elementwise sum of ``values`` over all ranks (a copy; ``values`` itself in one process)."""
    if not dist.is_initialized():
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values


def gather_objects(value: Any) -> list[Any]:
    """[value of rank 0, value of rank 1, ...] on every rank."""
    if not dist.is_initialized():
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()

"""glibc malloc settings for the many large, short-lived tensors of a forward pass on CPUs.

PyTorch's CPU tensors are plain malloc'ed blocks. With glibc's defaults, freed memory at the top of
the heap goes back to the OS (trimming) and large blocks come from fresh mmap'ed pages, so the big
temporaries of every forward pass (per-edge messages, S2 grid values) are served by new pages, each
paid with a page fault. The settings below keep those pages with the process, which makes repeated
calls faster (benchmarks/RESULTS.md, section *glibc malloc settings*).

`keep_freed_memory` serves blocks up to 32 MB from the heap (glibc's largest M_MMAP_THRESHOLD on
64-bit systems) and keeps up to 1 GiB of freed heap for reuse (M_TRIM_THRESHOLD). Peak memory is
unchanged; memory freed after a peak stays with the process for reuse. The settings hold for the
whole process, other libraries included, so eqv2 applies them only where it owns the process (the
``eqv2`` command) or where the user asks: ``eqv2.keep_freed_memory()`` or
``eqv2.Calculator(..., keep_freed_memory=True)``. The environment variable ``EQV2_DEFAULT_MALLOC=1``
turns them off everywhere. Other C libraries (macOS, musl) are left alone.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20
TRIM_THRESHOLD_BYTES = 2**30
OPT_OUT_VARIABLE = "EQV2_DEFAULT_MALLOC"


def keep_freed_memory() -> bool:
    """Apply the settings of the module docstring; True when applied (glibc on Linux, no opt-out)."""
    if os.environ.get(OPT_OUT_VARIABLE) or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    heap_for_large_blocks = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    return bool(heap_for_large_blocks and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))

import os
import platform
import subprocess
import sys

import pytest

# 20 calls of eqv2.Calculator on a 29-atom slab (a small random model, one thread); prints the page
# faults of those calls. With glibc's defaults the large temporaries of every call come from fresh
# pages; with eqv2's settings (Calculator(keep_freed_memory=True)), from memory freed by the previous call.
CALLS = """
import resource, numpy as np, torch, eqv2
from eqv2.data.emt import SlabSpec, build_system
from eqv2.testing import tiny_potential
torch.set_num_threads(1)
potential = tiny_potential(dtype=torch.float32, sphere_channels=32, attn_hidden_channels=32, lmax_list=[2],
                           mmax_list=[2], max_radius=5.0)
atoms = build_system(SlabSpec("Cu", "fcc111", "CO"), np.random.default_rng(0))
atoms.calc = eqv2.Calculator(potential, keep_freed_memory=KEEP)
def call():
    atoms.positions += 0.001
    atoms.get_forces()
for _ in range(3):
    call()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    call()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(keep_freed_memory: bool, opt_out: bool = False) -> int:
    environment = {k: v for k, v in os.environ.items() if k != "EQV2_DEFAULT_MALLOC"}
    if opt_out:
        environment["EQV2_DEFAULT_MALLOC"] = "1"
    script = f"KEEP = {keep_freed_memory}\n{CALLS}"
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True)
    return int(result.stdout.split()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_calculator_calls_reuse_freed_memory_only_when_asked():
    defaults = page_faults(keep_freed_memory=False)  # importing eqv2 leaves malloc alone
    kept = page_faults(keep_freed_memory=True)
    opted_out = page_faults(keep_freed_memory=True, opt_out=True)
    assert defaults > 20_000  # measured about 130,000 (26 MB of fresh pages per call)
    assert kept < defaults / 20  # measured about 150
    assert opted_out > 20_000

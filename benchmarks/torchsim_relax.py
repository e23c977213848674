"""Structures per second of a torch-sim batched FIRE relaxation against `eqv2.relax` and ASE.

Usage: ``python -m benchmarks.torchsim_relax [--checkpoint runs/demo/best.pt] [--count 32]
[--device cpu] [--threads 2]``

Relaxes the same ``count`` adsorbate-on-slab systems of the built-in EMT dataset (24-30 atoms) three
ways with one potential and FIRE at the same fmax: torch-sim's batched FIRE through
`eqv2.integrations.torchsim.EquiformerV2Model` (``ts.optimize``: converged systems leave the batch every 5
steps), `eqv2.relax` (all structures together, ASE's FIRE per structure) and ASE's FIRE with
`eqv2.Calculator`, one structure after the other. torch-sim 0.3.0 has no FixAtoms and one pbc flag
per state, so every run relaxes all atoms of slabs made periodic in z (14 Å of vacuum against a
5 Å cutoff). Prints a table of wall time, structures per second, converged structures and model
calls, and each method's largest final-energy difference from `eqv2.relax`. All three run in one
process, so the ratios hold on a busy machine.
"""

from __future__ import annotations

import argparse
import platform
import time
from importlib.metadata import version

import numpy as np
import torch
import torch_sim as ts

import eqv2
from benchmarks.relax import benchmark_slabs, one_at_a_time
from eqv2.integrations.torchsim import EquiformerV2Model


def free_periodic(slabs):
    """Copies without FixAtoms and periodic in all three directions (what torch-sim 0.3.0 supports)."""
    copies = []
    for slab in slabs:
        atoms = slab.copy()
        atoms.set_constraint()
        atoms.pbc = True
        copies.append(atoms)
    return copies


class CountingModel(EquiformerV2Model):
    """The torch-sim model, counting its calls."""

    calls = 0

    def forward(self, state, **kwargs):
        self.calls += 1
        return super().forward(state, **kwargs)


def torch_sim_relax(potential, slabs, fmax: float, steps: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Final energies [S], converged flags [S] and the number of model calls of ``ts.optimize`` with FIRE."""
    model = CountingModel(potential, compute_stress=False)
    state = ts.io.atoms_to_state(slabs, model.device, model.dtype)
    converged = ts.generate_force_convergence_fn(fmax, include_cell_forces=False)
    fire = ts.Optimizer.fire if hasattr(ts, "Optimizer") else ts.optimizers.fire  # torch-sim >= 0.4, 0.3
    final = ts.optimize(state, model, optimizer=fire, convergence_fn=converged, max_steps=steps)
    largest_force = np.zeros(final.n_systems)
    np.maximum.at(largest_force, final.system_idx.cpu().numpy(), final.forces.norm(dim=1).cpu().numpy())
    return final.energy.cpu().numpy(), largest_force < fmax, model.calls


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/demo/best.pt")
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    potential = eqv2.load(args.checkpoint, device=args.device)
    slabs = free_periodic(benchmark_slabs(args.count))
    print(f"{args.count} slabs ({sum(map(len, slabs))} atoms, all free), FIRE, fmax {args.fmax} eV/Å, "
          f"at most {args.steps} steps; {potential.dtype}, {args.device}, {args.threads} threads, "
          f"torch {torch.__version__}, torch-sim {version('torch-sim-atomistic')}, {platform.machine()}")  # fmt: skip

    (ts_energies, ts_converged, ts_calls), ts_seconds = timed(torch_sim_relax, potential, slabs, args.fmax, args.steps)
    batched, eqv2_seconds = timed(eqv2.relax, potential, slabs, args.fmax, args.steps)
    single, ase_seconds = timed(one_at_a_time, potential, slabs, "fire", args.fmax, args.steps)

    reference = np.array([r.energy for r in batched])
    reference_converged = np.array([r.converged for r in batched])
    rows = [
        ("torch-sim batched FIRE", ts_seconds, ts_converged, ts_energies),
        ("eqv2.relax (batched)", eqv2_seconds, reference_converged, reference),
        ("ASE FIRE, one at a time", ase_seconds, np.array([c for _, c in single]), np.array([e for e, _ in single])),
    ]
    print("| method | wall s | structures/s | vs ASE | converged | max abs dE vs eqv2.relax (meV) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, seconds, converged, energies in rows:
        both = converged & reference_converged
        difference = 1000 * np.abs(energies[both] - reference[both]).max(initial=0.0)
        print(f"| {name} | {seconds:.1f} | {args.count / seconds:.3f} | {ase_seconds / seconds:.2f}x | "
              f"{converged.sum()}/{args.count} | {difference:.2f} |")  # fmt: skip
    print(f"batched model calls: torch-sim {ts_calls}, eqv2.relax {max(r.steps for r in batched) + 1}; "
          f"optimizer steps of eqv2.relax: {sum(r.steps for r in batched)} in all")  # fmt: skip


if __name__ == "__main__":
    main()

"""The error and speed of the opt-in bf16 autocast mode against float32 on labelled data.

    python benchmarks/bf16_error.py [--checkpoint runs/demo/best.pt] [--data data/emt/test.extxyz]
                                    [--batch-size 16] [--threads 2]

Predicts every structure twice with the same potential (float32, then `potential.bf16 = True`),
times both after a warm-up batch, and prints the bf16-minus-float32 differences and each mode's
errors against the labels.
"""

from __future__ import annotations

import argparse
import time

import ase.io
import numpy as np
import torch

import eqv2


def predictions(potential: eqv2.Potential, frames: list, batch_size: int) -> tuple[list[dict], float]:
    eqv2.predict(potential, frames[:batch_size], batch_size=batch_size, stress=False)  # warm-up
    start = time.perf_counter()
    results = eqv2.predict(potential, frames, batch_size=batch_size, stress=False)
    return results, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/demo/best.pt")
    parser.add_argument("--data", default="data/emt/test.extxyz")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frames = ase.io.read(args.data, index=":")
    potential = eqv2.load(args.checkpoint)
    exact, exact_seconds = predictions(potential, frames, args.batch_size)
    potential.bf16 = True
    low, low_seconds = predictions(potential, frames, args.batch_size)

    atoms = np.array([len(a) for a in frames])
    energy = {
        name: np.array([r["energy"] for r in results]) / atoms for name, results in (("fp32", exact), ("bf16", low))
    }
    forces = {
        name: np.concatenate([r["forces"] for r in results]) for name, results in (("fp32", exact), ("bf16", low))
    }
    label_energy = np.array([a.get_potential_energy() for a in frames]) / atoms
    label_forces = np.concatenate([a.get_forces(apply_constraint=False) for a in frames])
    print(
        f"{args.checkpoint} on {args.data}: {len(frames)} structures, batch {args.batch_size}, {args.threads} threads"
    )
    print(f"time: float32 {exact_seconds:.2f} s, bf16 {low_seconds:.2f} s ({exact_seconds / low_seconds:.2f}x)")
    energy_difference = np.abs(energy["bf16"] - energy["fp32"]) * 1000
    forces_difference = np.abs(forces["bf16"] - forces["fp32"])
    print(f"bf16 - float32: energy per atom mean {energy_difference.mean():.3f} meV, max {energy_difference.max():.3f}")
    print(f"                forces mean {forces_difference.mean():.4f} eV/Å, max {forces_difference.max():.4f}")
    for name in ("fp32", "bf16"):
        energy_error = np.abs(energy[name] - label_energy).mean() * 1000
        forces_error = np.abs(forces[name] - label_forces).mean()
        print(
            f"{name} against the labels: energy per atom MAE {energy_error:.2f} meV, forces MAE {forces_error:.4f} eV/Å"
        )


if __name__ == "__main__":
    main()

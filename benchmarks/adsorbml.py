"""AdsorbML success rate: how often the model's top-k placements, checked with EMT, find the lowest energy.

Usage: ``python benchmarks/adsorbml.py [--checkpoint runs/demo/best.pt] [--systems 8] [--placements 8]``

For each of ``systems`` adsorbate/slab pairs of the built-in EMT systems (seeded draw), the
ground truth is the lowest EMT energy over EMT relaxations of every placement (no anomaly). The
model relaxes all placements in one batch and ranks them; the top k are then relaxed with EMT
("relax" mode) or only evaluated by EMT ("single-point" mode). A system is a success at k when the
lowest of those k EMT energies is within 0.1 eV of the ground truth (or below it). Prints success
rates at k = 1, 2, 5 with the EMT calls spent, against the calls of relaxing every placement.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from ase import Atoms
from ase.calculators.emt import EMT

import eqv2
from eqv2.adsorbates import ADSORBATES
from eqv2.data.emt import FACETS, METALS, SlabSpec, build_system
from eqv2.simulate.adsorbml import anomaly, reference_relax, reference_single_point, screen

SUCCESS_MARGIN = 0.1  # eV
TOP_K = (1, 2, 5)


def clean_slab(spec: SlabSpec, rng: np.random.Generator) -> Atoms:
    """The built-in system's slab (FixAtoms on its lower half) without the adsorbate."""
    system = build_system(spec, rng)
    del system[system.get_tags() == 2]
    return system


def lowest_valid(energies: list[float], anomalies: list[str | None]) -> float:
    valid = [e for e, a in zip(energies, anomalies) if a is None]
    return min(valid) if valid else np.nan


def evaluate_system(potential, spec: SlabSpec, args, rng: np.random.Generator) -> dict:
    """Ground truth, and per k the best reference energy and calls in relax and single-point mode."""
    slab = clean_slab(spec, rng)
    num_adsorbate = len(ADSORBATES[spec.adsorbate])
    screening = screen(potential, slab, spec.adsorbate, args.placements, max(TOP_K), optimizer=args.optimizer,
                       steps=args.steps, seed=args.seed)  # fmt: skip
    truth = [reference_relax(p, EMT, args.optimizer, steps=args.steps) for p in screening.placements]
    truth_anomalies = [anomaly(t.atoms, num_adsorbate, p) for t, p in zip(truth, screening.placements)]
    ranked = screening.ranking[: max(TOP_K)]
    single_points = [reference_single_point(screening.model[i].atoms, EMT) for i in ranked]
    row = {"truth": lowest_valid([t.energy for t in truth], truth_anomalies), "all_calls": sum(t.calls for t in truth)}
    for k in TOP_K:
        chosen = ranked[:k]
        relaxed = [screening.reference[i].energy for i in chosen]
        row[f"relax_{k}"] = lowest_valid(relaxed, [screening.reference_anomalies[i] for i in chosen])
        row[f"relax_calls_{k}"] = sum(screening.reference[i].calls for i in chosen)
        row[f"sp_{k}"] = lowest_valid([s.energy for s in single_points[:k]], [None] * len(chosen))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/demo/best.pt")
    parser.add_argument("--systems", type=int, default=8)
    parser.add_argument("--placements", type=int, default=8)
    parser.add_argument("--optimizer", default="fire")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    potential = eqv2.load(args.checkpoint)
    rng = np.random.default_rng(args.seed)
    every = [SlabSpec(m, f, a) for m in METALS for f in FACETS for a in sorted(ADSORBATES)]
    specs = [every[i] for i in rng.choice(len(every), size=args.systems, replace=False)]
    rows = []
    for spec in specs:
        row = evaluate_system(potential, spec, args, rng)
        rows.append(row)
        print(f"{spec.metal} {spec.facet} {spec.adsorbate}: truth {row['truth']:.3f} eV, "
              f"top-1 relax {row['relax_1']:.3f}, top-5 relax {row['relax_5']:.3f} eV", flush=True)  # fmt: skip
    rows = [r for r in rows if np.isfinite(r["truth"])]
    print(f"\n{len(rows)} systems, {args.placements} placements each; EMT relaxation of every placement: "
          f"{np.mean([r['all_calls'] for r in rows]):.0f} EMT calls per system")  # fmt: skip
    print(f"{'k':>3} {'success (relax)':>16} {'EMT calls':>10} {'success (single point)':>23} {'EMT calls':>10}")
    for k in TOP_K:
        relax_success = np.mean([r[f"relax_{k}"] <= r["truth"] + SUCCESS_MARGIN for r in rows])
        sp_success = np.mean([r[f"sp_{k}"] <= r["truth"] + SUCCESS_MARGIN for r in rows])
        calls = np.mean([r[f"relax_calls_{k}"] for r in rows])
        print(f"{k:>3} {100 * relax_success:>15.0f}% {calls:>10.0f} {100 * sp_success:>22.0f}% {k:>10}")


if __name__ == "__main__":
    main()

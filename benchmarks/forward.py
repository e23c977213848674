"""Time per forward and per forward+backward of the oc20-31M preset, eqv2 against the reference.

    python -m benchmarks.forward                  # eqv2 only
    .refenv/bin/python -m benchmarks.forward      # side by side with fairchem-core 1.10.0 (same weights)

(`bash reference/install.sh` makes `.refenv`.) Both sides build their graph inside the
timed call. "forward" is inference (eval mode, no autograd, direct forces); "forward+backward" is
one training-style step: forward with autograd, loss = sum |E| + sum |F|, backward to the weights.
Prints a Markdown table with the ratio reference / eqv2 and the largest output differences.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from functools import partial

import torch
from ase import Atoms

from benchmarks import structures
from eqv2.checkpoints.loading import potential_from_checkpoint
from eqv2.model import EquiformerV2
from eqv2.model_config import load_preset
from eqv2.potential import Potential
from reference import fairchem_model as reference_model

CASES = {"slab_38": lambda: [structures.slab_38()], "slab_batch_8": structures.slab_batch_8}


def median_time(function: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def eqv2_forward(potential: Potential, atoms_list: list[Atoms]) -> dict[str, torch.Tensor]:
    from eqv2.batch import Structure

    batch = potential.collate([Structure.from_atoms(a) for a in atoms_list])
    with torch.no_grad():
        return potential.model(batch)


def eqv2_train_step(potential: Potential, atoms_list: list[Atoms]) -> None:
    from eqv2.batch import Structure

    potential.model.zero_grad(set_to_none=True)
    outputs = potential.model(potential.collate([Structure.from_atoms(a) for a in atoms_list]))
    (outputs["energy"].abs().sum() + outputs["forces"].abs().sum()).backward()


def reference_train_step(model: torch.nn.Module, atoms_list: list[Atoms]) -> None:
    model.zero_grad(set_to_none=True)
    batch = reference_model.atoms_to_batch(atoms_list)
    outputs = model(batch)
    (outputs["energy"].abs().sum() + outputs["forces"].abs().sum()).backward()


def build_models(with_reference: bool) -> tuple[Potential, torch.nn.Module | None]:
    """eqv2's oc20-31M potential and, when available, the reference model with the same weights."""
    attributes = load_preset("oc20-31M")
    if not with_reference:
        torch.manual_seed(0)
        return Potential(EquiformerV2.from_preset("oc20-31M").eval()), None
    reference = reference_model.build_reference_model(attributes, seed=0)
    checkpoint = reference_model.reference_checkpoint(reference, attributes)
    return potential_from_checkpoint(checkpoint, "oc20-31M (reference weights)"), reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with_reference = reference_model.reference_available()
    potential, reference = build_models(with_reference)
    print(
        f"oc20-31M, {date.today()}, {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, median of {args.repeats}"
    )
    print(
        "\n| case | atoms | eqv2 forward (s) | reference forward (s) | ratio | eqv2 fwd+bwd (s) | "
        "reference fwd+bwd (s) | ratio | max dE | max dF |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, make in CASES.items():
        atoms_list = make()
        forward = median_time(partial(eqv2_forward, potential, atoms_list), args.repeats)
        train = median_time(partial(eqv2_train_step, potential, atoms_list), args.repeats)
        row = [name, str(sum(map(len, atoms_list))), f"{forward:.3f}"]
        if reference is None:
            print("| " + " | ".join(row + ["-", "-", f"{train:.3f}", "-", "-", "-", "-"]) + " |")
            continue
        reference_forward = median_time(
            partial(reference_model.reference_forward, reference, atoms_list, grad_mode="none"), args.repeats
        )
        reference_train = median_time(partial(reference_train_step, reference, atoms_list), args.repeats)
        ours = eqv2_forward(potential, atoms_list)
        theirs = reference_model.reference_forward(reference, atoms_list, grad_mode="none")
        energy_error = (ours["energy"] - theirs["energy"]).abs().max().item()
        force_error = (ours["forces"] - theirs["forces"]).abs().max().item()
        row += [f"{reference_forward:.3f}", f"{reference_forward / forward:.2f}x", f"{train:.3f}"]
        row += [
            f"{reference_train:.3f}",
            f"{reference_train / train:.2f}x",
            f"{energy_error:.1e}",
            f"{force_error:.1e}",
        ]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

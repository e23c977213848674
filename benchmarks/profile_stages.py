"""Where the time of an oc20-31M forward goes, by stage (eqv2, CPU, one thread, CPU seconds).

    python -m benchmarks.profile_stages [--case slab_38|batch_8] [--repeats 2] [--roofline]

Each stage's methods are wrapped with a CPU-time counter (process time on one thread, which other
processes on the machine disturb less than wall time). Stages nest: "attention" contains the
rotations, SO(2) maps, S2 activations on edges, softmax and scatter; "SO(2) maps" contains the
radial MLPs of the convolutions; "S2 grids" counts every grid projection (attention activations on
edges and the grid MLP of the feed-forward networks on nodes).

With --roofline each stage's floating-point operations are counted too (`FlopCounterMode`, in a
pass of their own: matmuls only, as PyTorch counts them), and its rate is compared with a dense
2048^3 float32 matmul on the same thread: the fraction of the matmul rate that the stage reaches.
"""

from __future__ import annotations

import argparse
import collections
import functools
import time

import torch

STAGES = [
    ("graph (collate)", "eqv2.potential", "Potential", "collate"),
    ("Wigner matrices and frames", "eqv2.so3.rotation", "EdgeRotation", "__init__"),
    ("rotations into edge frames", "eqv2.so3.rotation", "EdgeRotation", "rotate"),
    ("rotations back", "eqv2.so3.rotation", "EdgeRotation", "rotate_back"),
    ("SO(2) maps (with radial MLPs)", "eqv2.nn.so2_convolution", "SO2Convolution", "forward"),
    ("radial MLPs", "eqv2.nn.linear", "RadialMLP", "forward"),
    ("S2 grids (edges and nodes)", "eqv2.nn.activations", "S2Grid", "apply"),
    ("S2 activations on edges (before chunking)", "eqv2.nn.activations", "S2Activation", "forward"),
    ("norms", "eqv2.nn.norms", "SeparableLayerNorm", "forward"),
    ("SO(3) linears", "eqv2.nn.linear", "SO3Linear", "forward"),
    ("attention softmax", "eqv2.nn.graph_ops", None, "softmax_over_targets"),
    ("scatter sums", "eqv2.nn.graph_ops", None, "sum_over_targets"),
    ("attention (all)", "eqv2.nn.attention", "SO2GraphAttention", "forward"),
    ("feed-forward networks (all)", "eqv2.nn.feed_forward", "FeedForward", "forward"),
    ("model forward", "eqv2.model", "EquiformerV2", "forward"),
]
SECONDS: dict[str, float] = collections.defaultdict(float)
FLOPS: dict[str, int] = collections.defaultdict(int)
COUNTING = {"flops": False}


def timed(label: str, function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if COUNTING["flops"]:
            from torch.utils.flop_counter import FlopCounterMode

            counter = FlopCounterMode(display=False)
            with counter:
                result = function(*args, **kwargs)
            FLOPS[label] += counter.get_total_flops()
            return result
        start = time.process_time()
        result = function(*args, **kwargs)
        SECONDS[label] += time.process_time() - start
        return result

    return wrapper


def instrument() -> list[str]:
    """Wrap every stage that exists in this version of eqv2; returns their labels."""
    import importlib

    labels = []
    for label, module_name, class_name, attribute in STAGES:
        module = importlib.import_module(module_name)
        owner = getattr(module, class_name, None) if class_name else module
        if owner is None or not hasattr(owner, attribute):
            continue
        setattr(owner, attribute, timed(label, getattr(owner, attribute)))
        if class_name is None:  # module functions imported by name elsewhere
            for user in ("eqv2.nn.attention", "eqv2.nn.embeddings", "eqv2.model"):
                user_module = importlib.import_module(user)
                if hasattr(user_module, attribute):
                    setattr(user_module, attribute, getattr(owner, attribute))
        labels.append(label)
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", default="slab_38")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--roofline", action="store_true", help="count FLOPs per stage, compare with a matmul")
    args = parser.parse_args()
    torch.set_num_threads(1)
    labels = instrument()
    from benchmarks import speed
    from eqv2.batch import Structure
    from eqv2.model import EquiformerV2
    from eqv2.potential import Potential

    torch.manual_seed(0)
    potential = Potential(EquiformerV2.from_preset("oc20-31M").eval())
    structures = [Structure.from_atoms(a) for a in speed.atoms_for(args.case)]
    with torch.no_grad():
        potential.model(potential.collate(structures))
        SECONDS.clear()
        for _ in range(args.repeats):
            potential.model(potential.collate(structures))
        if args.roofline:
            COUNTING["flops"] = True
            potential.model(potential.collate(structures))
            COUNTING["flops"] = False
    columns = ["CPU s per forward"]
    if args.roofline:
        speed.OPTIONS["clock"] = "process"  # as the stages are timed
        _, matmul_rate = speed.dense_matmul_rate()
        print(f"Dense float32 matmul (2048^3, one thread): {matmul_rate / 1e9:.1f} GFLOP/s\n")
        columns += ["GFLOP", "GFLOP/s", "fraction of matmul rate"]
    print(f"| stage ({args.case}, one thread) | " + " | ".join(columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    for label in labels:
        if label not in SECONDS:
            continue
        seconds = SECONDS[label] / args.repeats
        cells = [f"{seconds:.3f}"]
        if args.roofline:
            rate = FLOPS[label] / seconds
            cells += [f"{FLOPS[label] / 1e9:.2f}", f"{rate / 1e9:.1f}", f"{rate / matmul_rate:.2f}"]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

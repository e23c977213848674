"""This tree against an earlier commit: CPU time of a demo training step and of an oc20-31M forward.

    python benchmarks/commit_ab.py --base 715ef47 --repeats 5 --rounds 3 [--threads 2]

Checks the base commit out into a temporary git worktree and times, in separate processes alternating
between the two trees (``--rounds`` times), one thread each and process time (so other work on the machine
disturbs it less), or with ``--threads N`` above 1 N threads and wall time (on an idle machine):

- ``demo_train``: the configs/demo.yaml model (random weights, with the paper's separable layer norm, which
  every commit has) on `benchmarks.structures.slab_batch_8`,
  forward and backward of |E| + |F| (direct forces), as in a training step;
- ``oc20_forward``: the oc20-31M preset on the 38-atom slab, inference.

Prints the median milliseconds of each tree per case and the ratio base / this tree (above 1: faster now).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("demo_train", "oc20_forward")

MEASURE = """
import json, statistics, sys, time
import torch
torch.set_num_threads({threads})
clock = time.process_time if {threads} == 1 else time.perf_counter
from eqv2.cpu_memory import keep_freed_memory
keep_freed_memory()
from eqv2.batch import Structure
from eqv2.model import EquiformerV2
from eqv2.potential import Potential
from eqv2.train.config import parse_yaml
sys.path.insert(0, {benchmarks!r})
import structures
case, repeats = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
if case == "demo_train":
    options = parse_yaml(open({demo!r}).read())["model"]
    model = EquiformerV2(**dict(options, norm_type="layer_norm_sh"))  # a norm every commit has, at the same cost
    atoms = structures.slab_batch_8()
else:
    model = EquiformerV2.from_preset("oc20-31M")
    atoms = [structures.slab_38()]
potential = Potential(model.eval())
batch = potential.collate([Structure.from_atoms(a) for a in atoms])
def step():
    if case == "demo_train":
        model.zero_grad(set_to_none=True)
        out = model(batch)
        (out["energy"].abs().sum() + out["forces"].abs().sum()).backward()
    else:
        with torch.inference_mode():
            model(batch)
step()
times = []
for _ in range(repeats):
    start = clock(); step(); times.append(clock() - start)
print(json.dumps(statistics.median(times)))
"""


def measure(tree: Path, case: str, repeats: int, threads: int) -> float:
    """Median seconds of ``case`` with the eqv2 of ``tree`` (its own benchmarks/structures.py) on ``threads``
    threads: process time for one thread, wall time for more."""
    code = MEASURE.format(
        benchmarks=str(tree / "benchmarks"), demo=str(ROOT / "configs" / "demo.yaml"), threads=threads
    )
    finished = subprocess.run(
        [sys.executable, "-c", code, case, str(repeats)],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the earlier commit")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--threads", type=int, default=1, help="1: process time; more: wall time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base],
            check=True,
            capture_output=True,
        )
        try:
            print(f"| case | {args.base} ms | this tree ms | ratio |")
            print("| --- | --- | --- | --- |")
            for case in args.cases:
                times: dict[str, list[float]] = {"base": [], "this": []}
                for _ in range(args.rounds):
                    times["base"].append(measure(base, case, args.repeats, args.threads))
                    times["this"].append(measure(ROOT, case, args.repeats, args.threads))
                before, after = statistics.median(times["base"]), statistics.median(times["this"])
                print(f"| {case} | {1e3 * before:.0f} | {1e3 * after:.0f} | {before / after:.2f}x |", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=True)


if __name__ == "__main__":
    main()

"""Speed and memory of eqv2 against the reference (fairchem-core 1.10.0), side by side in one run.

    python -m benchmarks.speed                       # every section; the reference where .refenv exists
    python -m benchmarks.speed --sections inference,training --repeats 3
    python -m benchmarks.speed --sections compile --cases slab_38,training   # some cases only

Sections:
- inference: oc20-31M, eval, no autograd, on a 38-atom slab, a batch of 8 slabs and a ~600-atom slab;
- training: forward, loss sum |E| + sum |F|, backward; batch of 8; oc20-31M;
- lmax: time per forward against lmax = 2, 4, 6, 8, 10 (mmax 2, other sizes of oc20-31M), fitted exponent;
- atoms: time per forward against the number of atoms (40 to 2,000), fitted exponent;
- sizes: per call, eqv2 against the reference on Cu(111) slabs with CO from 14 to 602 atoms (not in the
  default set; the reference's standard path up to 152 atoms, its no-grad path at every size);
- flops: achieved FLOP/s of a 31M forward (torch.utils.flop_counter) against a dense float32 matmul;
- ceiling: per call at 20, 29 and 38 atoms, the fastest an exact implementation of the same arithmetic can run
  here (useful matmul FLOPs at the dense matmul rate plus SiLU evaluations at SiLU's rate), against eqv2 and
  the reference's no-grad path (not in the default set);
- demo_training: a training step of the demo-sized model (configs/demo.yaml's sizes with the paper's options)
  on a batch of 8 slabs, eqv2 against the reference on the same weights (not in the default set);
- determinism: whether two identical eqv2 calls give bitwise the same energies and forces;
- bf16: eqv2's opt-in bf16 mode (bf16 autocast) against the reference in float32, as users run it,
  and under bf16 autocast too; the inference cases and the training step (not in the default set);
- compile: eqv2 with `compile=True` (torch.compile) against eager eqv2 and the reference's no-grad
  path, in float32 and bf16, with the first call's time (compilation); not in the default set.

Both sides run with eqv2's malloc settings (`eqv2.keep_freed_memory`), as the `eqv2` command does.

Every measurement runs in its own process (`one` sub-command) so that peak RSS is its own. Both
sides load the same weights: the reference's random initial weights, saved once as a fairchem
checkpoint that eqv2 loads. The reference runs with `.refenv/bin/python` (reference/install.sh);
"reference" is its standard prediction path (autograd on inside forward, as OCPCalculator runs it),
"reference no-grad" its true no-grad path. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_PYTHON = ROOT / ".refenv" / "bin" / "python"
SECTIONS = ("inference", "training", "lmax", "atoms", "flops", "determinism")  # default; also "bf16", "compile"
# Set once from the command line and used by every measurement.
OPTIONS: dict = {"device": "cpu", "precision": "fp32", "reference_python": None, "clock": "wall", "threads": 0}
INFERENCE_CASES = ("slab_38", "batch_8", "slab_600")
CASES = (*INFERENCE_CASES, "training")  # --cases: the inference cases and the training step
# The reference's standard path needs > 24 GB at ~600 atoms; it is not run there.
REFERENCE_STANDARD_SKIPS = {"slab_600"}
# section "sizes": (surface repeats x, y, layers) of Cu(111) slabs with CO on top, 14 to 602 atoms
SIZE_SWEEP = ((2, 2, 3), (3, 2, 3), (3, 3, 3), (3, 3, 4), (4, 3, 4), (4, 4, 6), (5, 5, 6), (7, 7, 6), (10, 10, 6))
REFERENCE_STANDARD_MAX_ATOMS = 152  # larger sizes: the reference's no-grad path only (memory)
CEILING_SIZES = ((3, 2, 3), (3, 3, 3), (3, 3, 4))  # section "ceiling": 20, 29 and 38 atoms


def atoms_for(case: str):
    from benchmarks import structures

    if case == "slab_38":
        return [structures.slab_38()]
    if case == "batch_8":
        return structures.slab_batch_8()
    if case.startswith("slab_"):
        return [structures.big_slab(n_atoms=int(case.split("_")[1]))]
    if case.startswith("co_slab_"):  # co_slab_3x3x4
        size = tuple(int(n) for n in case.removeprefix("co_slab_").split("x"))
        return [structures.adsorbate_slab("Cu", size, "CO", "ontop", seed=sum(size))]
    raise ValueError(case)


def peak_memory_gib(device: str) -> float:
    """Peak resident memory of this process (CPU) or peak allocated GPU memory (CUDA), GiB."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_seconds(function, repeats: int, device: str = "cpu") -> float:
    """Median time of ``function`` after one warm-up: wall time, or this process's CPU time when
    OPTIONS["clock"] is "process" (with one thread that equals wall time on an idle machine and is
    less disturbed by other processes)."""
    clock = time.process_time if OPTIONS["clock"] == "process" else time.perf_counter
    function()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = clock()
        function()
        synchronize(device)
        times.append(clock() - start)
    return float(np.median(times))


def autocast(device: str, precision: str):
    """bf16 autocast when asked, else a no-op context."""
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")


def reference_python() -> str | None:
    """The interpreter that runs the reference: .refenv's, or this one when fairchem imports here."""
    if REFERENCE_PYTHON.exists():
        return str(REFERENCE_PYTHON)
    from reference import fairchem_model as reference_model

    return sys.executable if reference_model.reference_available() else None


def eqv2_step(
    checkpoint: str | None,
    case: str,
    mode: str,
    overrides: dict,
    device: str = "cpu",
    precision: str = "fp32",
    compile: bool = False,
):
    """A zero-argument function running one eqv2 inference or training step (graph included)."""
    import eqv2
    from eqv2.batch import Structure
    from eqv2.model import EquiformerV2
    from eqv2.potential import Potential

    if checkpoint:
        potential = eqv2.load(checkpoint)
    else:
        torch.manual_seed(0)
        potential = Potential(EquiformerV2.from_preset("oc20-31M", **overrides).eval())
    potential = potential.to(device)
    if compile:
        potential.compile_network()
    structures = [Structure.from_atoms(a) for a in atoms_for(case)]

    def infer():
        with torch.inference_mode(), autocast(device, precision):
            potential.model(potential.collate(structures))

    def train():
        potential.model.zero_grad(set_to_none=True)
        with autocast(device, precision):
            outputs = potential.model(potential.collate(structures))
        (outputs["energy"].float().abs().sum() + outputs["forces"].float().abs().sum()).backward()

    return infer if mode == "inference" else train


def reference_step(checkpoint: str, case: str, mode: str, device: str = "cpu", precision: str = "fp32"):
    from reference import fairchem_model as reference_model

    state = torch.load(checkpoint, weights_only=True)
    attributes = state["config"]["model_attributes"]
    model = reference_model.build_reference_model(attributes, seed=None)
    model.load_state_dict({k[len("module.") :]: v for k, v in state["state_dict"].items()})
    model = model.to(device)
    atoms = atoms_for(case)
    if mode == "training":

        def train():
            model.zero_grad(set_to_none=True)
            with autocast(device, precision):
                outputs = model(reference_model.atoms_to_batch(atoms).to(device))
            (outputs["energy"].float().abs().sum() + outputs["forces"].float().abs().sum()).backward()

        return train
    model.direct_forces = mode == "inference-nograd"  # the flag its grad-enabling decorator checks

    def infer():
        with torch.no_grad(), autocast(device, precision):
            model(reference_model.atoms_to_batch(atoms).to(device))

    return infer


def run_one(args: argparse.Namespace) -> None:
    """Sub-command `one`: a single measurement, printed as one JSON line."""
    from eqv2.cpu_memory import keep_freed_memory

    keep_freed_memory()
    overrides = json.loads(args.overrides)
    if args.implementation == "eqv2":
        step = eqv2_step(args.checkpoint, args.case, args.mode, overrides, args.device, args.precision, args.compile)
    else:
        step = reference_step(args.checkpoint, args.case, args.mode, args.device, args.precision)
    start = time.perf_counter()
    step()
    synchronize(args.device)
    first_call = time.perf_counter() - start
    seconds = median_seconds(step, args.repeats, args.device)
    print(json.dumps({"seconds": seconds, "first_call_s": first_call, "peak_rss_gib": peak_memory_gib(args.device)}))


def measure(
    python: Path | str | None,
    implementation: str,
    case: str,
    mode: str,
    repeats: int,
    checkpoint: str | None,
    overrides: dict | None = None,
    precision: str | None = None,
    compile: bool = False,
) -> dict:
    """Runs `one` in its own process; ``precision`` overrides the command line's --precision."""
    command = [
        str(python),
        "-W",
        "ignore",
        "-m",
        "benchmarks.speed",
        "one",
        "--implementation",
        implementation,
        "--case",
        case,
        "--mode",
        mode,
        "--repeats",
        str(repeats),
        "--overrides",
        json.dumps(overrides or {}),
        "--device",
        OPTIONS["device"],
        "--precision",
        precision or OPTIONS["precision"],
        "--clock",
        OPTIONS["clock"],
        "--threads",
        str(OPTIONS["threads"]),
    ]
    if checkpoint:
        command += ["--checkpoint", checkpoint]
    if compile:
        command.append("--compile")
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment_with_root())
    if result.returncode != 0:
        error = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
        print(f"<!-- {implementation} {case} {mode}: {error} -->")
        return {"error": error}
    return json.loads(result.stdout.strip().splitlines()[-1])


def shared_checkpoint(directory: str, overrides: dict | None = None, name: str = "oc20-31M") -> str | None:
    """The reference's initial weights of oc20-31M (with ``overrides`` of its attributes) as a fairchem
    checkpoint ``name``.pt in ``directory``, or None without the reference."""
    python = OPTIONS["reference_python"]
    if python is None:
        return None
    path = Path(directory) / f"{name}-reference.pt"
    code = (
        "import json, sys; from reference import fairchem_model as r; from eqv2.model_config import load_preset; "
        "a = {**load_preset('oc20-31M'), **json.loads(sys.argv[2])}; m = r.build_reference_model(a, seed=0); "
        "r.save_reference_checkpoint(m, sys.argv[1], a)"
    )
    result = subprocess.run(
        [python, "-W", "ignore", "-c", code, str(path), json.dumps(overrides or {})],
        cwd=ROOT,
        env=environment_with_root(),
        capture_output=True,
        text=True,
    )
    return str(path) if result.returncode == 0 else None


def environment_with_root() -> dict[str, str]:
    """This environment with the repository root first on PYTHONPATH."""
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def cell(result: dict, key: str, digits: int = 2) -> str:
    return "-" if key not in result else f"{result[key]:.{digits}f}"


def ratio(numerator: dict, denominator: dict, key: str) -> str:
    if key not in numerator or key not in denominator:
        return "-"
    return f"{numerator[key] / denominator[key]:.2f}x"


def inference_side_by_side(
    case: str, repeats: int, checkpoint: str | None, reference_standard: bool
) -> tuple[dict, dict, dict]:
    """(eqv2, reference standard path, reference no-grad path) inference results for ``case``; the reference's
    are empty without ``checkpoint``, its standard path's also when not ``reference_standard``."""
    ours = measure(sys.executable, "eqv2", case, "inference", repeats, checkpoint)
    theirs = theirs_nograd = {}
    if checkpoint:
        if reference_standard:
            theirs = measure(OPTIONS["reference_python"], "reference", case, "inference", repeats, checkpoint)
        theirs_nograd = measure(OPTIONS["reference_python"], "reference", case, "inference-nograd", repeats, checkpoint)
    return ours, theirs, theirs_nograd


def section_inference(repeats: int, checkpoint: str | None) -> None:
    print("\n### Inference (oc20-31M, eval, no autograd)\n")
    print(
        "| case | atoms | eqv2 s | ref s | ref no-grad s | speed-up vs ref | vs no-grad | eqv2 RSS GiB | ref RSS GiB "
        "| ref no-grad RSS GiB | memory vs ref | vs no-grad |"
    )
    print("| --- " * 12 + "|")
    for case in selected(INFERENCE_CASES):
        atoms = sum(map(len, atoms_for(case)))
        ours, theirs, theirs_nograd = inference_side_by_side(
            case, repeats, checkpoint, case not in REFERENCE_STANDARD_SKIPS
        )
        memory = ratio(ours, theirs, "peak_rss_gib")
        memory_nograd = ratio(ours, theirs_nograd, "peak_rss_gib")
        print(
            f"| {case} | {atoms} | {cell(ours, 'seconds', 3)} | {cell(theirs, 'seconds', 3)} | "
            f"{cell(theirs_nograd, 'seconds', 3)} | {ratio(theirs, ours, 'seconds')} | "
            f"{ratio(theirs_nograd, ours, 'seconds')} | {cell(ours, 'peak_rss_gib')} | "
            f"{cell(theirs, 'peak_rss_gib')} | {cell(theirs_nograd, 'peak_rss_gib')} | {memory} | {memory_nograd} |"
        )


def section_training(repeats: int, checkpoint: str | None) -> None:
    print("\n### Training step (oc20-31M, batch of 8 slabs, 284 atoms)\n")
    ours = measure(sys.executable, "eqv2", "batch_8", "training", repeats, checkpoint)
    theirs = (
        measure(OPTIONS["reference_python"], "reference", "batch_8", "training", repeats, checkpoint)
        if checkpoint
        else {}
    )
    print("| eqv2 s | ref s | speed-up | eqv2 RSS GiB | ref RSS GiB | memory ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| {cell(ours, 'seconds', 3)} | {cell(theirs, 'seconds', 3)} | {ratio(theirs, ours, 'seconds')} | "
        f"{cell(ours, 'peak_rss_gib')} | {cell(theirs, 'peak_rss_gib')} | {ratio(ours, theirs, 'peak_rss_gib')} |"
    )


# configs/demo.yaml's sizes with the paper's options, as the reference can build them (it fixes 600
# distance Gaussians and has no cutoff envelope nor floored norm): the "demo-sized model" of section demo_training
DEMO_SIZED_ATTRIBUTES = {
    "num_layers": 3,
    "sphere_channels": 32,
    "attn_hidden_channels": 32,
    "num_heads": 4,
    "attn_alpha_channels": 8,
    "attn_value_channels": 8,
    "ffn_hidden_channels": 64,
    "edge_channels": 32,
    "lmax_list": [2],
    "mmax_list": [2],
    "grid_resolution": 10,
    "max_radius": 5.0,
    "max_neighbors": 500,
    "use_grid_mlp": False,
    "alpha_drop": 0.0,
    "drop_path_rate": 0.0,
    "avg_num_nodes": 1.0,
    "avg_degree": 28.0,
}


def section_demo_training(repeats: int, directory: str) -> None:
    print("\n### Training step, demo-sized model (configs/demo.yaml sizes, paper options; batch of 8 slabs)\n")
    checkpoint = shared_checkpoint(directory, DEMO_SIZED_ATTRIBUTES, "demo-sized")
    if checkpoint is None:
        print("(the reference is not installed: `bash reference/install.sh`)")
        return
    ours = measure(sys.executable, "eqv2", "batch_8", "training", repeats, checkpoint)
    theirs = measure(OPTIONS["reference_python"], "reference", "batch_8", "training", repeats, checkpoint)
    step = eqv2_step(checkpoint, "batch_8", "training", {}, OPTIONS["device"])
    lmax, mmax = DEMO_SIZED_ATTRIBUTES["lmax_list"][0], DEMO_SIZED_ATTRIBUTES["mmax_list"][0]
    bound = work_bound(*count_work(step, lmax, mmax))
    print("| eqv2 s | ref s | speed-up | eqv2 RSS GiB | ref RSS GiB | bound s | ceiling vs ref | eqv2 / bound |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {cell(ours, 'seconds', 3)} | {cell(theirs, 'seconds', 3)} | {ratio(theirs, ours, 'seconds')} | "
        f"{cell(ours, 'peak_rss_gib')} | {cell(theirs, 'peak_rss_gib')} | {bound:.3f} | "
        f"{ratio(theirs, {'seconds': bound}, 'seconds')} | {ratio(ours, {'seconds': bound}, 'seconds')} |"
    )


def count_work(step, lmax: int, mmax: int) -> tuple[float, float]:
    """(useful matmul FLOPs, SiLU evaluations and derivatives) of one call of ``step``.

    FLOPs as `torch.utils.flop_counter` counts them (2 m n k per matrix product). The per-edge rotations run
    as dense [E, R, K] products whose Wigner matrices are block-diagonal in the degree; only their non-zero
    blocks count (the model's ``lmax`` and ``mmax``), so the figure is the arithmetic that any exact
    implementation of the function must do.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    totals = {"zero_block_flops": 0.0, "silu": 0.0}
    aten = torch.ops.aten
    rotation_shapes = rotation_useful_fractions(lmax, mmax)

    class Counter(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            packet = func.overloadpacket
            if packet is aten.bmm and (args[0].shape[-1], args[0].shape[-2]) in rotation_shapes:
                useful = rotation_shapes[(args[0].shape[-1], args[0].shape[-2])]
                totals["zero_block_flops"] += 2.0 * args[0].numel() * args[1].shape[-1] * (1 - useful)
            elif packet in (aten.silu, aten.silu_, aten.silu_backward):
                totals["silu"] += out.numel()
            return out

    with Counter():
        step()
    return counter.get_total_flops() - totals["zero_block_flops"], totals["silu"]


def rotation_useful_fractions(lmax: int, mmax: int) -> dict[tuple[int, int], float]:
    """{(inner, rows) of a dense rotation product: fraction of its entries in non-zero blocks}."""
    from eqv2.so3.layout import CoefficientLayout

    layout = CoefficientLayout(lmax, mmax)
    useful = sum((2 * min(l, mmax) + 1) * (2 * l + 1) for l in range(lmax + 1))
    fraction = useful / (layout.num_reduced * layout.num_full)
    return {(layout.num_full, layout.num_reduced): fraction, (layout.num_reduced, layout.num_full): fraction}


def silu_rate(device: str = "cpu") -> float:
    """SiLU evaluations per second, in place on 2^22 float32 values (median of 5)."""
    values = torch.randn(2**22, device=device)
    return values.numel() / median_seconds(lambda: torch.nn.functional.silu(values, inplace=True), 5, device)


def section_ceiling(repeats: int, checkpoint: str | None) -> None:
    """The fastest any exact float32 implementation of the oc20-31M forward can run here, against the reference."""
    from eqv2.model_config import load_preset

    print(f"\n### Ceiling per call (oc20-31M, eval, no autograd), {torch.get_num_threads()} threads\n")
    measured_rates()
    preset = load_preset("oc20-31M")
    lmax, mmax = preset["lmax_list"][0], preset["mmax_list"][0]
    print("| atoms | GFLOP | SiLU M | bound s | eqv2 s | ref no-grad s | eqv2 vs ref | ceiling vs ref | eqv2 / bound |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in CEILING_SIZES:
        case = "co_slab_" + "x".join(map(str, size))
        atoms = sum(map(len, atoms_for(case)))
        flops, silu = count_work(eqv2_step(checkpoint, case, "inference", {}, OPTIONS["device"]), lmax, mmax)
        bound = work_bound(flops, silu)
        ours, _, theirs = inference_side_by_side(case, repeats, checkpoint, reference_standard=False)
        bounded = {"seconds": bound}
        print(
            f"| {atoms} | {flops / 1e9:.1f} | {silu / 1e6:.0f} | {bound:.3f} | {cell(ours, 'seconds', 3)} | "
            f"{cell(theirs, 'seconds', 3)} | {ratio(theirs, ours, 'seconds')} | {ratio(theirs, bounded, 'seconds')} | "
            f"{ratio(ours, bounded, 'seconds')} |",
            flush=True,
        )


RATES: dict[str, float] = {}


def measured_rates() -> dict[str, float]:
    """The dense float32 matmul rate (FLOP/s) and SiLU's rate (evaluations/s) here; measured and printed once."""
    from eqv2.cpu_memory import keep_freed_memory

    if not RATES:
        keep_freed_memory()
        RATES["matmul"] = dense_matmul_rate(OPTIONS["device"])[1]
        RATES["silu"] = silu_rate(OPTIONS["device"])
        print(
            f"Bound = useful matmul FLOPs at the dense float32 matmul rate ({RATES['matmul'] / 1e9:.1f} GFLOP/s) "
            f"plus SiLU evaluations at SiLU's rate ({RATES['silu'] / 1e9:.2f} G/s), {torch.get_num_threads()} "
            "threads: no exact implementation of the same arithmetic runs faster here.\n"
        )
    return RATES


def work_bound(flops: float, silu: float) -> float:
    """Seconds below which no exact implementation doing ``flops`` matmul FLOPs and ``silu`` SiLU evaluations
    runs here (`measured_rates`)."""
    rates = measured_rates()
    return flops / rates["matmul"] + silu / rates["silu"]


def selected(cases: tuple[str, ...]) -> list[str]:
    """The ``cases`` that ``--cases`` asks for."""
    return [case for case in cases if case in OPTIONS["cases"]]


def inference_and_training_cases() -> list[tuple[str, str]]:
    """(case, mode) of the selected inference cases and, if selected, the training step on batch_8."""
    training = [("batch_8", "training")] if "training" in OPTIONS["cases"] else []
    return [(case, "inference") for case in selected(INFERENCE_CASES)] + training


def section_bf16(repeats: int, checkpoint: str | None) -> None:
    print("\n### Opt-in bf16 mode: eqv2 under bf16 autocast against the reference in float32 and in bf16\n")
    print(
        "| case | eqv2 bf16 s | ref fp32 s | ref bf16 s | speed-up vs ref fp32 | vs ref bf16 | eqv2 RSS GiB "
        "| ref fp32 RSS GiB | memory vs ref fp32 |"
    )
    print("| --- " * 9 + "|")
    for case, mode in inference_and_training_cases():
        ours = measure(sys.executable, "eqv2", case, mode, repeats, checkpoint, precision="bf16")
        theirs = theirs_bf16 = {}
        if checkpoint:
            reference_mode = "inference-nograd" if case in REFERENCE_STANDARD_SKIPS else mode
            reference = OPTIONS["reference_python"]
            theirs = measure(reference, "reference", case, reference_mode, repeats, checkpoint, precision="fp32")
            theirs_bf16 = measure(reference, "reference", case, reference_mode, repeats, checkpoint, precision="bf16")
        label = f"{case} {mode}" + (" (ref no-grad)" if case in REFERENCE_STANDARD_SKIPS else "")
        print(
            f"| {label} | {cell(ours, 'seconds', 3)} | {cell(theirs, 'seconds', 3)} | "
            f"{cell(theirs_bf16, 'seconds', 3)} | {ratio(theirs, ours, 'seconds')} | "
            f"{ratio(theirs_bf16, ours, 'seconds')} | "
            f"{cell(ours, 'peak_rss_gib')} | {cell(theirs, 'peak_rss_gib')} | {ratio(ours, theirs, 'peak_rss_gib')} |"
        )


def section_compile(repeats: int, checkpoint: str | None) -> None:
    print("\n### torch.compile: eqv2 compiled against eager eqv2 and the reference's no-grad path\n")
    print(
        "| case | precision | eager s | compiled s | first compiled call s | compiled vs eager | ref no-grad fp32 s "
        "| compiled vs ref no-grad fp32 | compiled RSS GiB |"
    )
    print("| --- " * 9 + "|")
    for precision in ("fp32", "bf16"):
        for case, mode in inference_and_training_cases():
            eager = measure(sys.executable, "eqv2", case, mode, repeats, checkpoint, precision=precision)
            compiled = measure(
                sys.executable, "eqv2", case, mode, repeats, checkpoint, precision=precision, compile=True
            )
            reference_mode = "inference-nograd" if mode == "inference" else mode
            reference = OPTIONS["reference_python"]
            theirs = {}
            if checkpoint:
                theirs = measure(reference, "reference", case, reference_mode, repeats, checkpoint, precision="fp32")
            print(
                f"| {case} {mode} | {precision} | {cell(eager, 'seconds', 3)} | {cell(compiled, 'seconds', 3)} | "
                f"{cell(compiled, 'first_call_s', 1)} | {ratio(eager, compiled, 'seconds')} | "
                f"{cell(theirs, 'seconds', 3)} | {ratio(theirs, compiled, 'seconds')} | "
                f"{cell(compiled, 'peak_rss_gib')} |"
            )


def fitted_exponent(sizes: list[float], seconds: list[float]) -> float:
    """Slope of log(time) against log(size), least squares."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def section_lmax(repeats: int) -> None:
    print("\n### Time per forward against lmax (mmax 2, other sizes of oc20-31M; eqv2; 38-atom slab)\n")
    print("| lmax | seconds | peak RSS GiB |")
    print("| --- | --- | --- |")
    values, times = [], []
    for lmax in (2, 4, 6, 8, 10):
        result = measure(
            sys.executable,
            "eqv2",
            "slab_38",
            "inference",
            repeats,
            None,
            {"lmax_list": [lmax], "mmax_list": [2], "grid_resolution": None},
        )
        print(f"| {lmax} | {cell(result, 'seconds', 3)} | {cell(result, 'peak_rss_gib')} |")
        if "seconds" in result:
            values.append(lmax + 1)
            times.append(result["seconds"])
    print(f"\nFitted exponent of time against (lmax + 1), lmax 4 to 10: {fitted_exponent(values[1:], times[1:]):.2f}")


def section_atoms(repeats: int) -> None:
    print("\n### Time per forward against the number of atoms (oc20-31M, eqv2)\n")
    print("| atoms | seconds | ms per atom | peak RSS GiB |")
    print("| --- | --- | --- | --- |")
    sizes, times = [], []
    for requested in (40, 100, 250, 500, 1000, 2000):
        atoms = sum(map(len, atoms_for(f"slab_{requested}")))
        result = measure(sys.executable, "eqv2", f"slab_{requested}", "inference", max(1, repeats // 2), None)
        per_atom = f"{1000 * result['seconds'] / atoms:.1f}" if "seconds" in result else "-"
        print(f"| {atoms} | {cell(result, 'seconds', 3)} | {per_atom} | {cell(result, 'peak_rss_gib')} |")
        if "seconds" in result:
            sizes.append(atoms)
            times.append(result["seconds"])
    exponent = fitted_exponent(sizes[1:], times[1:])
    print(f"\nFitted exponent of time against atoms (from the second size on): {exponent:.2f}")


def section_sizes(repeats: int, checkpoint: str | None) -> None:
    print("\n### Per call against the number of atoms (oc20-31M, eval, no autograd; Cu(111) + CO)\n")
    print("| atoms | eqv2 s | ref s | ref no-grad s | speed-up vs ref | vs no-grad |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in SIZE_SWEEP:
        case = "co_slab_" + "x".join(map(str, size))
        atoms = sum(map(len, atoms_for(case)))
        ours, theirs, theirs_nograd = inference_side_by_side(
            case, repeats, checkpoint, atoms <= REFERENCE_STANDARD_MAX_ATOMS
        )
        print(
            f"| {atoms} | {cell(ours, 'seconds', 3)} | {cell(theirs, 'seconds', 3)} | "
            f"{cell(theirs_nograd, 'seconds', 3)} | {ratio(theirs, ours, 'seconds')} | "
            f"{ratio(theirs_nograd, ours, 'seconds')} |",
            flush=True,
        )


def dense_matmul_rate(device: str = "cpu") -> tuple[int, float]:
    """(size, FLOP/s) of a dense float32 [size, size] @ [size, size] matmul, size 2048 on CPUs and 8192
    on GPUs (median of 5 by `median_seconds`, so on OPTIONS["clock"])."""
    size = 2048 if device == "cpu" else 8192
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return size, 2 * size**3 / median_seconds(lambda: a @ b, 5, device)


def section_flops(repeats: int) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from eqv2.cpu_memory import keep_freed_memory

    keep_freed_memory()  # as in the other sections' measurement processes
    device = OPTIONS["device"]
    step = eqv2_step(None, "slab_38", "inference", {}, device)
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    flops = counter.get_total_flops()
    seconds = median_seconds(step, repeats, device)
    size, matmul_flops = dense_matmul_rate(device)
    achieved = flops / seconds
    print("\n### Achieved FLOP/s (oc20-31M forward, 38-atom slab, eqv2)\n")
    print(
        f"{flops / 1e9:.1f} GFLOP in {seconds:.3f} s = {achieved / 1e9:.1f} GFLOP/s; dense float32 matmul: "
        f"{matmul_flops / 1e9:.1f} GFLOP/s ({size}^3); fraction {achieved / matmul_flops:.2f}"
    )


def section_determinism() -> None:
    import eqv2
    from eqv2.batch import Structure
    from eqv2.model import EquiformerV2

    device = OPTIONS["device"]
    torch.manual_seed(0)
    potential = eqv2.Potential(EquiformerV2.from_preset("oc20-31M").eval()).to(device)
    batch = potential.collate([Structure.from_atoms(a) for a in atoms_for("batch_8")])
    print("\n### Determinism (oc20-31M, batch of 8, eqv2)\n")
    for deterministic in (False, True):
        torch.use_deterministic_algorithms(deterministic)
        for mode in ("direct", "conservative"):
            first, second = potential(batch, forces=mode), potential(batch, forces=mode)
            same = all(torch.equal(first[key], second[key]) for key in first)
            difference = max((first[key] - second[key]).abs().max().item() for key in first)
            print(
                f"- torch.use_deterministic_algorithms({deterministic}), {mode} forces: bitwise identical: {same} "
                f"(max difference {difference:.1e})"
            )
    torch.use_deterministic_algorithms(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command")
    one = subparsers.add_parser("one")
    one.add_argument("--implementation", choices=("eqv2", "reference"), required=True)
    one.add_argument("--case", required=True)
    one.add_argument("--mode", choices=("inference", "inference-nograd", "training"), required=True)
    one.add_argument("--repeats", type=int, default=3)
    one.add_argument("--checkpoint", default=None)
    one.add_argument("--overrides", default="{}")
    one.add_argument("--compile", action="store_true", help="eqv2 with compile=True")
    for subparser in (parser, one):
        subparser.add_argument("--device", default="cpu")
        subparser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
        subparser.add_argument("--clock", choices=("wall", "process"), default="wall")
        subparser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"of the inference, training, bf16 and compile sections: {CASES}"
    )
    args = parser.parse_args()
    OPTIONS.update(clock=args.clock, threads=args.threads)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "one":
        run_one(args)
        return
    sections = args.sections.split(",")
    OPTIONS.update(
        device=args.device, precision=args.precision, reference_python=reference_python(), cases=args.cases.split(",")
    )
    print(
        f"{date.today()}, {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {args.device}, {args.precision}, median of {args.repeats}; "
        f"reference: {'yes' if OPTIONS['reference_python'] else 'not importable'}; command: python -m benchmarks.speed "
        f"--sections {args.sections} --repeats {args.repeats} --device {args.device} --precision {args.precision} "
        f"--clock {args.clock} --threads {args.threads} --cases {args.cases}"
    )
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = (
            shared_checkpoint(directory)
            if {"inference", "training", "bf16", "compile", "sizes", "ceiling"} & set(sections)
            else None
        )
        if "inference" in sections:
            section_inference(args.repeats, checkpoint)
        if "training" in sections and "training" in OPTIONS["cases"]:
            section_training(args.repeats, checkpoint)
        if "bf16" in sections:
            section_bf16(args.repeats, checkpoint)
        if "compile" in sections:
            section_compile(args.repeats, checkpoint)
        if "sizes" in sections:
            section_sizes(args.repeats, checkpoint)
        if "ceiling" in sections:
            section_ceiling(args.repeats, checkpoint)
        if "demo_training" in sections:
            section_demo_training(args.repeats, directory)
    if "lmax" in sections:
        section_lmax(args.repeats)
    if "atoms" in sections:
        section_atoms(args.repeats)
    if "flops" in sections:
        section_flops(args.repeats)
    if "determinism" in sections:
        section_determinism()


if __name__ == "__main__":
    main()

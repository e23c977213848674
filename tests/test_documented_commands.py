"""Every ``eqv2 ...`` command in the code blocks of README.md and docs/*.md runs, so that no example drifts
from the code.

The commands run in this process (`eqv2.cli.main`), in one temporary directory, README.md first and then
docs/*.md by name, each file's commands in their order (so ``eqv2 eval runs/demo/best.pt`` finds what
``eqv2 train`` wrote). What they name is replaced by something small (`PLACEHOLDERS`): checkpoints by a
tiny model, input files by a few small structures, the built-in dataset by a tiny one. A usage line
runs with all its optional parts, taking the first of ``a|b``. `SHORTER` appends options that keep a
command short (argparse takes the last of a repeated option). `NOT_RUN` lists what cannot run here.
"""

import re
import shlex
import shutil
from pathlib import Path

import ase.io
import torch
from ase.build import bulk

import eqv2
from eqv2.cli import main
from eqv2.potential import Potential
from eqv2.testing import GATE_MODEL, cu111_slab, tiny_potential

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

TINY_CHECKPOINT = "tiny.pt"
PLACEHOLDERS = {
    # checkpoints, also the public ones, which this test cannot download
    "CHECKPOINT": TINY_CHECKPOINT,
    "model.pt": TINY_CHECKPOINT,
    "eq2_31M_ec4_allmd.pt": TINY_CHECKPOINT,
    # inputs (written by `inputs`)
    "INPUT": "input.extxyz",
    "SLAB": "slab.extxyz",
    "DATA": "data/emt/test.extxyz",
    # the other words of the usage lines
    "OUT.extxyz": "out.extxyz",
    "OUT.traj": "out.traj",
    "OUT": "out.json",
    "PNG": "parity.png",
    "DIR": "runs/demo",  # `--run-dir DIR --resume` resumes the run of README's `eqv2 train`
    "B": "2",
    "NAME": "CO",
    "CONFIG": "configs/demo.yaml",
    "key.sub=value": "optim.lr=1e-3",
    "SWEEP": "configs/experiments/ablation.yaml",
    "VARIANT": "escn_baseline",
    "K": "0",
    "KEY=VALUE": "optim.max_steps=2",
}
OPTION_PLACEHOLDERS = {  # a placeholder after these options
    ("--out", "DIR"): "experiments/sweep",
    ("--runs", "DIR"): "experiments/runs",
    ("--trajectory-dir", "DIR"): "trajectories",
}
SHORTER = {  # by the command's first word, or its first two (which win)
    "data emt": ["--n", "40"],  # 40 structures: the training split then holds every element of val and test
    "train": ["optim.max_steps=2", "plots=false", "tensorboard=false"],
    "md": ["--steps", "3"],
    "relax": ["--steps", "3"],
    "adsorbml": ["--placements", "2", "--top-k", "1", "--steps", "3"],
    "experiment": ["--dry-run"],  # a sweep trains dozens of models: list its runs only
}
NOT_RUN = {
    # torchrun: more processes of a command that runs here alone (tests/jobs/test_torchrun.py and
    # tests/train run it under torchrun); --device cuda needs a GPU; --nnodes needs the machines
    "torchrun --standalone --nproc_per_node 2 -m eqv2 train configs/demo.yaml": "torchrun",
    "torchrun --standalone --nproc_per_node N -m eqv2 train CONFIG ...": "torchrun",
    "torchrun --standalone --nproc_per_node 4 -m eqv2 relax model.pt candidates.extxyz -o relaxed.extxyz "
    "--device cuda": "a GPU",
    "torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint node0:29500 --rdzv-id screen1 "
    "-m eqv2 predict model.pt /shared/all.extxyz -o /shared/predicted.extxyz --device cuda": "two machines",
    "torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint node0:29500 --rdzv-id screen1 "
    "-m eqv2 relax model.pt /shared/candidates.extxyz -o /shared/relaxed.extxyz --device cuda": "two machines",
}
PREFIXES = re.compile(r"^((\w+=\S*|nohup|nice -n \d+)\s+)*")  # environment settings and wrappers


def code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the shell code blocks: indented by 4 spaces after a blank line, or fenced
    and not Python."""
    lines, fence, indented, previous = [], None, False, ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fence = None if fence is not None else line.strip("` ")
        elif fence is not None:
            if fence != "python":
                lines.append((number, line))
        else:
            indented = line.startswith("    ") and (indented or not previous.strip())
            if indented:
                lines.append((number, line))
        previous = line
    return lines


def documented_commands(path: Path) -> list[tuple[int, str]]:
    """(line number, command) of every command of ``path``'s code blocks that runs eqv2, continuation lines
    joined, comments dropped."""
    commands: list[tuple[int, str]] = []
    joined = continued = False  # the line goes on after a `\`; the last line was part of a command
    for number, line in code_lines(path.read_text()):
        text = line.strip()
        if joined or (continued and text.startswith("[")):  # a usage line goes on with `[`
            commands[-1] = (commands[-1][0], f"{commands[-1][1]} {text}")
        elif PREFIXES.sub("", text).startswith(("eqv2 ", "torchrun ")):
            commands.append((number, text))
        else:
            joined = continued = False
            continue
        joined, continued = commands[-1][1].endswith("\\"), True
        commands[-1] = (commands[-1][0], commands[-1][1].rstrip("\\ ").split(" # ")[0].strip())
    return [(number, re.sub(r"\s+", " ", command)) for number, command in commands]


def arguments(command: str) -> list[str]:
    """The arguments of ``eqv2`` for ``command``: wrappers and redirections dropped, a usage line's
    optional parts included (first alternative), placeholders replaced, `SHORTER` options appended."""
    words = shlex.split(PREFIXES.sub("", command).replace("[", " ").replace("]", " "))
    words = words[: next((i for i, word in enumerate(words) if word in (">", "&")), len(words))]
    assert words[0] == "eqv2", command
    words = [word.split("|")[0].removesuffix("...") for word in words[1:]]
    words = [word for word in words if word]
    words = [
        OPTION_PLACEHOLDERS.get((before, word), PLACEHOLDERS.get(word, word))
        for before, word in zip(["", *words], words)
    ]
    return words + SHORTER.get(" ".join(words[:2]), SHORTER.get(words[0], []))


def inputs(directory: Path) -> None:
    """The tiny checkpoint, the input files the documents name, and the configs they run."""
    network = tiny_potential(dtype=torch.float32, **GATE_MODEL).model
    eqv2.save(Potential(network), directory / TINY_CHECKPOINT)
    structures = [cu111_slab(0, "O"), bulk("Cu", "fcc", a=3.6, cubic=True), cu111_slab(1, "O")]
    for name in ("input", "structures", "candidates", "start"):
        ase.io.write(directory / f"{name}.extxyz", structures)
    ase.io.write(directory / "slab.extxyz", cu111_slab(2, None))
    ase.io.write(directory / "slabs.extxyz", [cu111_slab(3, None), cu111_slab(4, None)])
    shutil.copytree(ROOT / "configs", directory / "configs")


def test_every_documented_command_runs(tmp_path, monkeypatch, capsys, one_thread):
    inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    found, failures = set(), []
    for document in DOCUMENTS:
        for number, command in documented_commands(document):
            found.add(command)
            if command in NOT_RUN:
                continue
            try:
                code = main(arguments(command))
            except SystemExit as error:  # argparse's errors
                code = error.code
            if code != 0:
                failures.append(f"{document.name}:{number}: {command}: exit {code}: {capsys.readouterr().err[-500:]}")
    assert not failures, "\n".join(failures)
    assert not set(NOT_RUN) - found, f"NOT_RUN names commands the documents no longer show: {set(NOT_RUN) - found}"


def test_commands_are_found_in_code_blocks_with_their_usage_lines_joined(tmp_path):
    document = tmp_path / "doc.md"
    document.write_text(
        "Run `eqv2 predict x` (prose, not run):\n\n"
        "    eqv2 relax    CHECKPOINT INPUT -o OUT.extxyz [--fmax 0.05] [--optimizer fire|lbfgs]\n"
        "                  [--forces direct|conservative]\n"
        "    OMP_NUM_THREADS=1 nohup nice -n 19 eqv2 experiment SWEEP > log 2>&1 &\n"
        "    torchrun --nnodes 2 \\\n        -m eqv2 predict a.pt b.extxyz -o c.extxyz   # on each machine\n\n"
        "```python\neqv2 = 1\n```\n"
    )
    commands = documented_commands(document)
    assert [number for number, _ in commands] == [3, 5, 6]
    assert commands[2][1] == "torchrun --nnodes 2 -m eqv2 predict a.pt b.extxyz -o c.extxyz"
    assert arguments(commands[0][1]) == [
        "relax", "tiny.pt", "input.extxyz", "-o", "out.extxyz", "--fmax", "0.05", "--optimizer", "fire",
        "--forces", "direct", "--steps", "3"]  # fmt: skip
    assert arguments(commands[1][1]) == ["experiment", "configs/experiments/ablation.yaml", "--dry-run"]

"""Run a LAMMPS input with eqv2 computing energy, forces and virial (serial, one process).

    python examples/lammps/run.py CHECKPOINT --elements Cu --steps 1000

reads system.in (box, atoms, masses, velocities), attaches eqv2 with `eqv2.integrations.lammps.attach` and runs
md.in (integrator, thermo, dumps, run) with ``-var steps N``. The log goes to log.lammps and the
frames to dump.lammpstrj in the working directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import eqv2
from eqv2.integrations.lammps import attach, open_lammps

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="eqv2 or fairchem-core 1.x EquiformerV2 checkpoint")
    parser.add_argument("--elements", nargs="+", default=["Cu"], help="element of LAMMPS type 1, 2, ...")
    parser.add_argument("--system", default=HERE / "system.in", type=Path, help="LAMMPS input: box and atoms")
    parser.add_argument("--md", default=HERE / "md.in", type=Path, help="LAMMPS input: fixes, output, run")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--device", default=None, help="e.g. cpu, cuda")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--forces", default="conservative", choices=("conservative", "direct"))
    args = parser.parse_args()

    potential = eqv2.load(args.checkpoint, device=args.device, dtype=args.dtype)
    lmp = open_lammps(["-log", "log.lammps", "-var", "steps", str(args.steps)])
    lmp.file(str(args.system))
    bridge = attach(lmp, potential, dict(enumerate(args.elements, start=1)), forces=args.forces)
    bridge.file(args.md)
    print(f"{args.steps} steps, {bridge.calls} eqv2 calls; log in log.lammps, frames in dump.lammpstrj")
    lmp.close()


if __name__ == "__main__":
    main()

"""``eqv2 convert IN OUT``: rewrite any checkpoint eqv2 reads in eqv2's own format.

The output holds the typed model config, the weights without fairchem's derived buffers, the
normalizers and element references, and no pickled objects; it loads with ``weights_only=True``
and gives bitwise the same predictions as the input.
"""

from __future__ import annotations

import argparse
import sys

from eqv2.checkpoints.loading import load
from eqv2.checkpoints.native import save
from eqv2.commands.common import reports_errors

HELP = "rewrite a fairchem-core 1.x checkpoint (old or hydra format) in eqv2's format"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="fairchem-core 1.x EquiformerV2 checkpoint (old or hydra format) or eqv2's")
    parser.add_argument("output", help="eqv2 checkpoint to write")


@reports_errors
def run(args: argparse.Namespace) -> int:
    potential = load(args.input)
    save(potential, args.output, metadata={"converted_from": str(args.input)})
    model = potential.model
    directs = (("forces", model.force_head), ("stress", model.stress_head))
    heads = ["energy"] + [name for name, head in directs if head is not None]
    print(f"wrote {args.output} (heads: {', '.join(heads)})", file=sys.stderr)
    return 0

"""``eqv2 train CONFIG [--run-dir DIR] [--resume] [key.sub=value ...]``: train or fine-tune a potential.

Under ``torchrun --nproc_per_node N -m eqv2 train ...`` it runs DDP over N processes. Bad input (a missing
file, a config error, an invalid structure) is one line on stderr and exit code 2, on every rank that meets it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eqv2.commands.common import reports_errors

HELP = "train or fine-tune a potential from a YAML config (DDP under torchrun)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML training config (see configs/demo.yaml)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=1e-3 model.num_layers=4")
    parser.add_argument("--run-dir", default=None, help="output directory (default runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    collect_trailing_overrides(parser)


def collect_trailing_overrides(parser: argparse.ArgumentParser) -> None:
    """Let ``key=value`` overrides also follow the options (argparse takes positionals in one block only)."""
    parse_known_args = parser.parse_known_args

    def parse_with_trailing_overrides(args=None, namespace=None):
        namespace, extras = parse_known_args(args, namespace)
        trailing = [text for text in extras if "=" in text and not text.startswith("-")]
        namespace.overrides = [*namespace.overrides, *trailing]
        return namespace, [text for text in extras if text not in trailing]

    parser.parse_known_args = parse_with_trailing_overrides


@reports_errors
def run(args: argparse.Namespace) -> int:
    from eqv2.train import load_config, train

    config = load_config(args.config, args.overrides)
    run_dir = Path(args.run_dir or Path("runs") / Path(args.config).stem)
    if args.resume and not (run_dir / "last.pt").is_file():
        raise FileNotFoundError(f"--resume: {run_dir / 'last.pt'} does not exist")
    train(config, run_dir, resume=args.resume)
    return 0

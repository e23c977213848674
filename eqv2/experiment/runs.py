"""Running a sweep's runs in this process: skip finished ones, resume interrupted ones, mark each when done.

A run is finished when its directory holds ``done.json`` (written here after `eqv2.train.train` returns,
next to the ``test_metrics.json`` the trainer writes); a directory with ``last.pt`` and no marker is
resumed with ``resume=True``; anything else trains from scratch.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

from eqv2.checkpoint import load, read_checkpoint_file
from eqv2.experiment.sweep import Run
from eqv2.train import ConfigError, train
from eqv2.train.trainer import resolve_device

DONE = "done.json"


def state(run: Run) -> str:
    """ "done", "resume" (an interrupted run: last.pt without the marker) or "new"."""
    if (run.run_dir / DONE).is_file():
        return "done"
    return "resume" if (run.run_dir / "last.pt").is_file() else "new"


def check_data_files(runs: list[Run]) -> None:
    """Raise `ConfigError` naming the key of the first data file that does not exist (relative to the cwd)."""
    for run in runs:
        data = run.config.data
        for key in ("train", "val", "test"):
            paths = getattr(data, key)
            for path in [paths] if isinstance(paths, str) else paths:
                if not Path(path).exists():
                    raise ConfigError(
                        f"variant {run.variant.name!r}: data.{key}: {path} does not exist "
                        f"(relative paths are relative to the current directory {Path.cwd()})"
                    )


def execute(run: Run) -> dict[str, Any]:
    """Train (or resume) the run and write its ``done.json``; returns what the marker holds."""
    resume = state(run) == "resume"
    resumed_from_step = trained_steps(run.run_dir / "last.pt") if resume else 0
    device = resolve_device(run.config.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    peak_before = peak_rss_mib()
    start = time.perf_counter()
    train(run.config, run.run_dir, resume=resume)
    wall_s = time.perf_counter() - start
    if not (run.run_dir / "test_metrics.json").is_file():
        raise RuntimeError(f"{run.run_dir}: training stopped before the end (no test_metrics.json); stop_at_step?")
    peak_after = peak_rss_mib()
    marker = {
        "variant": run.variant.name,
        "seed": run.seed,
        "wall_s": wall_s,  # of this call only; a resumed run's earlier attempts are not counted
        "resumed_from_step": resumed_from_step,
        "steps": trained_steps(run.run_dir / "last.pt"),
        "parameters": sum(p.numel() for p in load(run.run_dir / "best.pt").model.parameters()),
        "process_peak_rss_mib": peak_after,  # the process's peak so far, not this run's alone
        "peak_rss_rose_during_run": peak_after > peak_before,
        "cuda_peak_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(device),
    }
    (run.run_dir / DONE).write_text(json.dumps(marker, indent=2))
    return marker


def trained_steps(checkpoint: Path) -> int:
    return int(read_checkpoint_file(checkpoint)["training"]["step"])


def peak_rss_mib() -> float:
    """The peak resident memory of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def machine(device: torch.device) -> dict[str, Any]:
    """What a run ran on."""
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }

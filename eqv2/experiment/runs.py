"""Running a sweep's runs in this process: skip finished ones, resume interrupted ones, mark each when done.

A run is finished when its directory (in the run store, `eqv2.experiment.store`) or its committed results
folder holds ``done.json`` (written here after `eqv2.train.train` returns, next to the ``test_metrics.json``
the trainer writes, then archived); a directory with ``last.pt`` and no marker is resumed with
``resume=True``; anything else trains from scratch.
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

from eqv2.checkpoints.loading import load, read_checkpoint_file
from eqv2.experiment.store import archive, link, write_key_file
from eqv2.experiment.sweep import Run
from eqv2.runtime import resolve_device
from eqv2.train import train

DONE = "done.json"
CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")


def state(run: Run) -> str:
    """ "done", "resume" (an interrupted run: last.pt without the marker) or "new"."""
    if (run.run_dir / DONE).is_file() or (run.results_dir / DONE).is_file():
        return "done"
    return "resume" if (run.run_dir / "last.pt").is_file() else "new"


def execute(run: Run) -> dict[str, Any]:
    """Train (or resume) the run, link its view, and write its ``done.json``; returns what the marker holds.

    The caller holds the run's lock (`eqv2.experiment.store.claimed`).
    """
    resume = state(run) == "resume"
    resumed_from_step = trained_steps(run.run_dir / "last.pt") if resume else 0
    write_key_file(run.run_dir, run.config, run.key)
    link(run.view, run.run_dir)
    device = resolve_device(run.config.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    scope = reset_peak_rss()
    started = datetime.datetime.now().isoformat(timespec="seconds")
    start, start_cpu = time.perf_counter(), time.process_time()
    train(run.config, run.run_dir, resume=resume)
    wall_s, cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    if not (run.run_dir / "test_metrics.json").is_file():
        raise RuntimeError(f"{run.run_dir}: training stopped before the end (no test_metrics.json); stop_at_step?")
    marker = {
        "variant": run.variant.name,  # of the sweep that trained it; other sweeps may show it under other names
        "seed": run.seed,
        "key": run.key,
        "started": started,
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        "wall_s": wall_s,  # of this call only; a resumed run's earlier attempts are not counted
        "cpu_s": cpu_s,  # CPU time of this process (all its threads) during the call
        "resumed_from_step": resumed_from_step,
        "steps": trained_steps(run.run_dir / "last.pt"),
        "parameters": sum(p.numel() for p in load(run.run_dir / "best.pt").model.parameters()),
        "peak_rss_mib": peak_rss_mib(scope),
        "peak_rss_scope": scope,  # "run": this call's own peak; "process": the process's peak so far
        "cuda_peak_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "machine": machine(device),
    }
    (run.run_dir / DONE).write_text(json.dumps(marker, indent=2))
    archive(run.run_dir, run.results_dir)
    return marker


def finished_dir(run: Run) -> Path:
    """Where a finished run's files are: its run directory (with checkpoints), else its committed results."""
    return run.run_dir if (run.run_dir / DONE).is_file() else run.results_dir


def trained_steps(checkpoint: Path) -> int:
    return int(read_checkpoint_file(checkpoint)["training"]["step"])


def reset_peak_rss() -> str:
    """Reset the kernel's peak-RSS mark of this process where Linux allows it: "run", else "process"."""
    try:
        CLEAR_REFS.write_text("5")
        return "run"
    except OSError:
        return "process"


def peak_rss_mib(scope: str) -> float:
    """Peak resident memory since `reset_peak_rss` ("run": VmHWM), or of the whole process (ru_maxrss)."""
    if scope == "run":
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def machine(device: torch.device) -> dict[str, Any]:
    """What a run ran on."""
    return {
        "platform": platform.platform(),
        "processor": processor_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }


def processor_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

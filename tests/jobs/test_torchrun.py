"""Two CPU processes under torchrun: the merged output equals one process's, also after one rank is killed.

Each torchrun worker runs one thread (OMP_NUM_THREADS=1), and so does the one-process run it is compared
with: results are bitwise equal for the same thread count, while another thread count may change the
last bits (matmul kernels split their sums by thread).
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eqv2.cli import main
from eqv2.jobs.records import scan_records

pytestmark = pytest.mark.usefixtures("one_thread")


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "eqv2"]


def torchrun(*arguments) -> subprocess.Popen:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [*TORCHRUN, *map(str, arguments)]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def worker(parent: int, rank: int) -> int | None:
    """The process id of torchrun ``parent``'s worker of ``rank``, once it runs."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent_of = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            environment = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if parent_of == parent and f"RANK={rank}".encode() in environment:
            return int(stat.parent.name)
    return None


def structures_per_rank(errors: str) -> dict[int, int]:
    """The structures each rank computed, from its last progress line."""
    return {
        int(rank): int(total) for rank, total in re.findall(r"predict rank (\d+)/2: +100%\|[^|]*\| (\d+)/\d+", errors)
    }


def test_two_processes_share_a_small_input_and_write_what_one_process_writes(checkpoint, slabs_file, tmp_path):
    options = ["--max-atoms", "60"]  # 2 to 4 of the 12 slabs per batch, 5 batches; the default chunk size
    assert main(["predict", checkpoint, slabs_file, "-o", str(tmp_path / "one.extxyz"), *options]) == 0
    process = torchrun("predict", checkpoint, slabs_file, "-o", tmp_path / "two.extxyz", *options)
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors
    counts = structures_per_rank(errors)
    assert sorted(counts) == [0, 1] and min(counts.values()) >= 4 and sum(counts.values()) == 12, errors
    assert (tmp_path / "two.extxyz").read_bytes() == (tmp_path / "one.extxyz").read_bytes()


def test_a_run_with_a_killed_rank_resumes_to_the_one_process_output(checkpoint, slabs_file, tmp_path):
    options = ["--batch-size", "2", "--chunk-size", "4", "--steps", "12", "--fmax", "1e-4"]
    assert main(["relax", checkpoint, slabs_file, "-o", str(tmp_path / "one.extxyz"), *options]) == 0
    output, records = tmp_path / "two.extxyz", tmp_path / "two.extxyz.parts" / "rank-1.extxyz"
    process = torchrun("relax", checkpoint, slabs_file, "-o", output, *options)
    deadline = time.monotonic() + 300
    while not (records.exists() and len(scan_records(records).indices)) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(worker(process.pid, 1), signal.SIGKILL)
    _, errors = process.communicate(timeout=300)
    assert process.returncode != 0 and not output.exists(), errors
    assert len(scan_records(records).indices) > 0
    finished = len({index for path in records.parent.glob("rank-*.extxyz") for index in scan_records(path).indices})
    process = torchrun("relax", checkpoint, slabs_file, "-o", output, *options)
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors
    assert output.read_bytes() == (tmp_path / "one.extxyz").read_bytes()
    assert re.search(rf"\b{12 - finished} structures in .*; {finished} from an earlier run", errors), errors

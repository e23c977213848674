"""Where a run's numbers go: metrics.csv (one row per evaluation), TensorBoard events, one log line."""

from __future__ import annotations

import csv
import sys
from pathlib import Path


class Logbook:
    """Appends evaluation rows to ``run_dir/metrics.csv`` and, if available, TensorBoard events."""

    def __init__(self, run_dir: Path, tensorboard: bool) -> None:
        self.path = run_dir / "metrics.csv"
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("tensorboard is not installed (pip install tensorboard); no event files", file=sys.stderr)
            else:
                self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def truncate_after(self, step: int) -> None:
        """Drop rows past ``step`` (a resumed run rewrites them)."""
        if not self.path.exists():
            return
        with open(self.path) as handle:
            rows = list(csv.DictReader(handle))
        kept = [row for row in rows if int(row["step"]) <= step]
        self._write(kept, mode="w")

    def record(self, row: dict[str, float]) -> None:
        self._write([row], mode="a")
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("step", "epoch"):
                    self.writer.add_scalar(key.replace("_", "/", 1), value, int(row["step"]))
            self.writer.flush()

    def _write(self, rows: list[dict], mode: str) -> None:
        if not rows:
            if mode == "w":
                self.path.unlink(missing_ok=True)
            return
        new_file = mode == "w" or not self.path.exists()
        with open(self.path, mode, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            if new_file:
                writer.writeheader()
            writer.writerows(rows)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def log_line(row: dict[str, float]) -> str:
    """One compact line for an evaluation row."""
    return (
        f"step {int(row['step'])} epoch {row['epoch']:.2f} lr {row['lr']:.2e} loss {row['train_loss']:.4f} | "
        f"val E {1000 * row['val_energy_per_atom_mae']:.2f} meV/atom F {row['val_forces_mae']:.4f} eV/Å "
        f"cos {row['val_forces_cos']:.3f} | {row['structures_per_s']:.1f} structures/s"
    )

"""A dependency-free progress bar."""

from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar on stderr with rate and ETA, and an optional status text."""

    def __init__(self, total: int, label: str, width: int = 30, done: int = 0) -> None:
        self.total, self.label, self.width, self.done = total, label, width, done
        self.start_done, self.start_time = done, time.monotonic()

    def advance(self, count: int, status: str = "") -> None:
        self.done = min(self.done + count, self.total)
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.monotonic() - self.start_time
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        timing = f" {rate:.2f}/s ETA {format_seconds(eta)}" if self.done < self.total else f" {format_seconds(elapsed)}"
        end = "\n" if self.done == self.total else ""
        line = f"\r{self.label} [{bar}] {self.done}/{self.total}{timing}{' ' + status if status else ''}"
        print(line + "\033[K", end=end, file=sys.stderr, flush=True)


def format_seconds(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

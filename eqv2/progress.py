"""A dependency-free progress bar."""

from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar on stderr with rate and ETA, and an optional status text.

    With ``interval`` > 0, each update is a line of its own, printed at most every ``interval``
    seconds (and at the end): for log files and for several processes sharing one terminal.
    """

    def __init__(self, total: int, label: str, width: int = 30, done: int = 0, interval: float = 0.0) -> None:
        self.total, self.label, self.width, self.done = total, label, width, done
        self.start_done, self.start_time = done, time.monotonic()
        self.interval, self.printed_at = interval, self.start_time

    def advance(self, count: int, status: str = "") -> None:
        self.done = min(self.done + count, self.total)
        now = time.monotonic()
        if self.interval and self.done < self.total and now - self.printed_at < self.interval:
            return
        self.printed_at = now
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = now - self.start_time
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        timing = f" {rate:.2f}/s ETA {format_seconds(eta)}" if self.done < self.total else f" {format_seconds(elapsed)}"
        line = f"{self.label} [{bar}] {self.done}/{self.total}{timing}{' ' + status if status else ''}"
        if self.interval:
            print(line, file=sys.stderr, flush=True)
        else:
            end = "\n" if self.done == self.total else ""
            print("\r" + line + "\033[K", end=end, file=sys.stderr, flush=True)


def format_seconds(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

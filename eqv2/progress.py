"""A dependency-free progress bar."""

from __future__ import annotations

import sys


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, label: str, width: int = 30) -> None:
        self.total, self.label, self.width, self.done = total, label, width, 0

    def advance(self, count: int) -> None:
        self.done = min(self.done + count, self.total)
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if self.done == self.total else ""
        print(f"\r{self.label} [{bar}] {self.done}/{self.total}", end=end, file=sys.stderr, flush=True)

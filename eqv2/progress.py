"""Progress bars are tqdm's; in a terminal they redraw one line, elsewhere (a log file, torchrun's shared
output) each refresh becomes a line of its own, one every `LOG_INTERVAL` seconds."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

LOG_INTERVAL = 30.0  # seconds between progress lines when stderr is not a terminal (or ``lines`` is asked for)


def progress_bar(
    total: int, desc: str, unit: str, *, initial: int = 0, disable: bool = False, lines: bool = False
) -> tqdm:
    """A tqdm bar on stderr: redrawn in place in a terminal; with ``lines`` or when stderr is not a terminal,
    one whole line every `LOG_INTERVAL` seconds (and a last one when it closes)."""
    if sys.stderr.isatty() and not lines:
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=disable)
    stream = LinePerRefresh(sys.stderr)
    return tqdm(
        total=total, desc=desc, unit=unit, initial=initial, disable=disable, file=stream, mininterval=LOG_INTERVAL,
        miniters=1,
    )  # fmt: skip


class LinePerRefresh:
    """A text stream for tqdm's ``file``: each refresh of the bar is written to ``stream`` as one whole line.

    tqdm redraws its line in place with carriage returns; a log file, or several processes sharing one
    terminal, read better with whole lines. Pair it with ``mininterval`` (the seconds between lines) and
    ``miniters=1``; closing the bar writes the last line.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.lstrip("\r").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()

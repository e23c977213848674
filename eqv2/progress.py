"""Progress bars are tqdm's; this module adds a stream that gives each of a bar's refreshes a line of its own."""

from __future__ import annotations

from typing import TextIO


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

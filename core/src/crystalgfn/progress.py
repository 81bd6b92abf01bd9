"""Progress of long commands on stderr: a live bar on a terminal; elsewhere (logs, CI) a plain
line every ~5 % of the work. Both say what is done, the elapsed time and the ETA."""

from __future__ import annotations

import sys
import time


def clock(seconds: float) -> str:
    """``"42s"``, ``"3m05s"`` or ``"1h02m"``: a duration given in seconds."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Counts ``total`` units of work (samples, structures) done by :meth:`advance`.

    ``label`` starts each line (e.g. ``"sample"``); the ETA is the mean time per unit so far
    times the units left. With ``enabled=False`` nothing is written."""

    def __init__(self, label: str, total: int, unit: str = "", enabled: bool = True,
                 stream=None):
        self.label, self.total, self.unit = label, max(int(total), 1), unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.done = 0
        self.start = time.perf_counter()
        self.every = max(1, self.total // 20)

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        unit = f" {self.unit}" if self.unit else ""
        return (f"{self.label} {self.done}/{self.total}{unit} "
                f"({100 * self.done // self.total}%) elapsed {clock(elapsed)} ETA {clock(eta)}")

    def advance(self, n: int = 1) -> None:
        before, self.done = self.done, min(self.total, self.done + n)
        if not self.enabled:
            return
        if self.tty:
            width = 24
            filled = int(width * self.done / self.total)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.line()} ")
            self.stream.flush()
            if self.done == self.total:
                self.stream.write("\n")
        elif self.done // self.every > before // self.every or self.done == self.total:
            self.stream.write(self.line() + "\n")
            self.stream.flush()

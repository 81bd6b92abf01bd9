"""What the whole-command benchmarks share: timing a command as a user runs it, and the
record of the machine it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Mapping


def machine_record(load_before: tuple[float, ...], load_after: tuple[float, ...]) -> dict:
    """Processor, CPU count, Python and torch versions, and the load averages (1, 5 and 15
    minutes) before and after the measurement: compare numbers only when the load stays well
    below the number of cores."""
    import torch

    return {
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }


def timed(argv: list[str], env: Mapping[str, str] | None = None) -> float:
    """Wall-clock seconds of the process ``argv`` from start to exit, its output discarded;
    ``env`` adds to (or overrides) this process's environment variables."""
    start = time.perf_counter()
    subprocess.run(
        argv, env={**os.environ, **(env or {})}, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start

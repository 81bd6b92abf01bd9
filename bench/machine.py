"""What a benchmark records of the machine it ran on, beside its numbers."""

from __future__ import annotations

import os
import platform


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

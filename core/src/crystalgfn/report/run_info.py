"""What a report shows of the training run behind the samples (``crystalgfn report --run``):
its settings from ``config.toml`` and its training curves and time from ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from crystalgfn.errors import ConfigError

#: Settings of ``config.toml`` shown in a report, in order (a key the config lacks is left
#: out); ``[reward]`` and the policy's keys are shown in full next to them.
SETTINGS = (
    "env", "proxy", "loss", "policy", "steps", "batch_size", "lr", "lr_log_z", "lr_schedule",
    "hidden", "layers", "epsilon", "temperature", "replay_capacity", "replay_fraction", "seed",
)
#: Curves of ``metrics.jsonl`` drawn, per step: key -> label.
CURVES = {
    "loss": "loss",
    "log_z": "log Z (learned)",
    "mean_log_reward": "mean log R of the batch",
}


def read_run(run_dir: str | Path) -> dict:
    """``{"path", "settings", "reward", "restrictions", "training", "curves"}`` of a run
    folder. ``training``: steps trained, the last step's values and the training time in
    seconds (the sum of the steps' wall times; estimated from the trajectory rate for runs
    written before steps recorded it). ``curves``: key -> list of values per step (None for
    a missing value), plus ``step``. Raises :class:`ConfigError` for a folder without a
    readable ``config.toml`` or with an unreadable ``metrics.jsonl`` line."""
    run = Path(run_dir)
    config_path = run / "config.toml"
    if not config_path.is_file():
        raise ConfigError(f"--run {str(run)!r} is not a run folder: it has no config.toml")
    from crystalgfn.config import RunConfig

    config = RunConfig.from_file(config_path).raw  # validated, with the errors 'train' gives
    lines = _metric_lines(run / "metrics.jsonl")
    settings = {key: config[key] for key in SETTINGS if key in config and not isinstance(
        config[key], dict)}
    return {
        "path": str(run),
        "settings": settings,
        "reward": config.get("reward") if isinstance(config.get("reward"), dict) else None,
        "restrictions": config.get("restrictions") if isinstance(config.get("restrictions"), dict)
        else None,
        "training": _training(lines, settings),
        "curves": _curves(lines),
    }


def _metric_lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}, line {number}: not JSON ({error.msg})") from None
        if not isinstance(entry, dict) or "step" not in entry:
            raise ConfigError(f"{path}, line {number}: expected an object with a 'step'")
        out.append(entry)
    return out


def _step_seconds(entry: dict, batch_size) -> float:
    """A step's wall time in seconds: recorded, or batch size over the trajectory rate (one
    process assumed), NaN when neither is known."""
    if isinstance(entry.get("seconds"), (int, float)):
        return float(entry["seconds"])
    rate = entry.get("trajectories_per_s")
    if isinstance(rate, (int, float)) and rate > 0 and isinstance(batch_size, int):
        return batch_size / rate
    return math.nan


def _training(lines: list[dict], settings: dict) -> dict:
    if not lines:
        return {"steps": 0, "seconds": None, "estimated": False, "last": {}}
    seconds = np.array([_step_seconds(entry, settings.get("batch_size")) for entry in lines])
    total = float(np.nansum(seconds)) if np.isfinite(seconds).any() else None
    return {
        "steps": int(lines[-1]["step"]),
        "seconds": total,
        "estimated": not all("seconds" in entry for entry in lines),
        "last": {key: lines[-1].get(key) for key in CURVES},
    }


def _curves(lines: list[dict]) -> dict[str, list]:
    def number(value):
        return float(value) if isinstance(value, (int, float)) else None

    out = {"step": [int(entry["step"]) for entry in lines]}
    for key in CURVES:
        out[key] = [number(entry.get(key)) for entry in lines]
    return out


def training_curves(out_dir: Path, curves: dict[str, list]) -> str | None:
    """``training_curves.png``: loss, log Z and mean log R against the step, side by side
    (a curve the run did not log is left empty); None for a run without logged steps."""
    from crystalgfn.report.plots import new_figure, save

    if not curves.get("step"):
        return None
    steps = np.array(curves["step"], dtype=float)
    figure, axes = new_figure(width=13.0, height=3.8, ncols=len(CURVES), top=0.55)
    for ax, (key, label) in zip(axes, CURVES.items(), strict=True):
        values = np.array([math.nan if v is None else v for v in curves[key]], dtype=float)
        ax.plot(steps, values, color="#1f77b4", linewidth=0.8, alpha=0.45)
        window = max(1, len(values) // 25)
        if window > 1:  # a running mean shows the trend under the batch noise
            kernel = np.ones(window) / window
            ax.plot(steps[window - 1:], np.convolve(values, kernel, mode="valid"),
                    color="#1f77b4", linewidth=2, label=f"mean of {window} steps")
            ax.legend(fontsize="small")
        ax.set_xlabel("training step")
        ax.set_title(label)
        finite = values[np.isfinite(values)]
        if not finite.size:
            ax.text(0.5, 0.5, "not logged by this run", ha="center", va="center",
                    transform=ax.transAxes)
        elif finite.min() > 0 and finite.max() / finite.min() > 100:
            ax.set_yscale("log")  # a loss falling by decades
    figure.suptitle("Training curves (metrics.jsonl)")
    return save(figure, out_dir, "training_curves.png")

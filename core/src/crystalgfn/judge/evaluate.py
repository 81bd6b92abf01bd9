"""``crystalgfn evaluate``: judge samples or CIF files with an oracle, resumably.

Files in the output folder:

* ``settings.json`` — what was asked (input, oracle, thresholds, placements, seed, rows);
  a rerun with other settings is refused, so that one folder never mixes two evaluations;
* ``rows.jsonl`` — one judged row per line, appended as each input finishes (the resume log:
  a rerun skips the rows it holds);
* ``relaxed/<row><suffix>`` — each judged (e.g. relaxed) structure, as the judge saves it;
* ``evaluation.csv`` and ``summary.json`` — written when every row is done (``unique`` needs
  them all).
"""

from __future__ import annotations

import concurrent.futures
import csv
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

from crystalgfn.atomic import atomic_path, write_text
from crystalgfn.errors import ConfigError
from crystalgfn.judge.base import Judge, Outcome
from crystalgfn.judge.inputs import Item, read_items, subsample, within_elements

MAX_PLACEMENTS = 100


def make_oracle(name: str, **options):
    """The oracle registered as ``name`` (did-you-mean error when it is not installed)."""
    from crystalgfn.plugins import get_plugins

    registry = get_plugins().oracles
    if not len(registry):
        raise ConfigError(
            "no oracle is installed; install one, e.g. the first-party crystalgfn-mlip "
            "(pip install -e plugins/mlip)"
        )
    return registry.get(name).factory(**options)


def judge_class(name: str | None = None) -> type[Judge]:
    """The judge registered as ``name``; by default the only one installed (a choice is
    asked for when there are several)."""
    from crystalgfn.plugins import get_plugins

    registry = get_plugins().judges
    if name is None:
        names = registry.names()
        if len(names) != 1:
            raise ConfigError(
                "no judge is installed; install one, e.g. the first-party crystalgfn-mlip "
                "(pip install -e plugins/mlip)" if not names else
                f"several judges are installed ({', '.join(names)}); choose one with judge=NAME"
            )
        name = names[0]
    return registry.get(name).subclass_of(Judge)


def default_builder() -> str:
    """The only installed structure builder (a choice is asked for when there are several)."""
    from crystalgfn.plugins import get_plugins

    names = get_plugins().structure_builders.names()
    if len(names) != 1:
        raise ConfigError(
            "no structure builder is installed; install one, e.g. the first-party "
            "crystalgfn-structures (pip install -e plugins/structures)" if not names else
            f"several structure builders are installed ({', '.join(names)}); choose one "
            "with --backend NAME"
        )
    return names[0]


def make_builders(name: str, placements: int, seed: int) -> list:
    """One structure builder per placement; placement ``k`` is seeded with
    ``seed * 100 + k``, so placement 0 of seed S places atoms as ``crystalgfn structures
    --seed 100·S`` would."""
    from crystalgfn.plugins import get_plugins

    factory = get_plugins().structure_builders.get(name).factory
    return [factory(seed=seed * MAX_PLACEMENTS + k) for k in range(placements)]


def evaluate(source, out_dir, *, oracle: str = "chgnet", n: int | None = None, jobs: int = 1,
             seed: int = 0, placements: int = 1, builder: str | None = None, fmax: float = 0.1,
             steps: int = 300, max_seconds: float = 600.0, device: str = "cpu", elements=None,
             progress=None, judge: str | None = None) -> dict:
    """Judge ``source`` (samples CSV, CIF file or folder of CIFs) and write ``out_dir``.

    ``elements``: judge only samples whose elements all lie in this set (e.g. a run's, to
    compare with the Materials Project crystals of its space). ``builder``: the structure
    builder that places atoms (default: the only one installed); ``judge``: the registered
    judge (default: the only one installed). Returns the summary (also in
    ``out_dir/summary.json``). An interrupted call leaves the
    finished rows in ``out_dir/rows.jsonl``; calling again with the same arguments continues.
    """
    _check_counts(n=n, jobs=jobs, placements=placements, seed=seed)
    judge_type = judge_class(judge)
    items, kind = read_items(source, judge_type)
    if elements:
        items = within_elements(items, elements)
    items = subsample(items, n, seed)
    the_oracle = make_oracle(oracle, device=device, fmax=fmax, steps=steps,
                             max_seconds=max_seconds)
    if kind == "cif" and not Path(source).is_dir():
        judge_type.check_file(str(source), the_oracle)  # one file: an error, not a row
    if kind == "samples" and builder is None:
        builder = default_builder()
    builders = make_builders(builder, placements, seed) if kind == "samples" else []
    out = Path(out_dir)
    settings = {
        "input": str(Path(source).resolve()), "kind": kind, "rows": [i.row for i in items],
        "elements": sorted(elements) if elements else None, "seed": seed,
        "placements": placements if kind == "samples" else 1,
        "builder": builder if kind == "samples" else None,
        **the_oracle.settings(),
        "thresholds": dict(judge_type.thresholds),
    }
    done = _resume(out, settings)
    todo = [item for item in items if item.row not in done]
    report = progress or Progress(len(items), len(done), counted=judge_type.progress_column)
    start = time.perf_counter()
    if todo:
        the_judge = judge_type(the_oracle, builders)
        (out / "relaxed").mkdir(parents=True, exist_ok=True)
        with open(out / "rows.jsonl", "a") as log:
            for outcome in _run(the_judge, todo, jobs):
                _record(out, log, outcome, judge_type)
                done[outcome.row["row"]] = outcome.row
                report.advance(outcome.row)
    report.finish()
    rows = [done[item.row] for item in items]
    judge_type.finish(out, rows)
    _write_csv(out / "evaluation.csv", rows, judge_type.columns)
    summary = judge_type.summarise(rows, kind=kind)
    summary.update(
        oracle=the_oracle.name, energy_scale=the_oracle.energy_scale,
        versions=the_oracle.versions(), reference=_provenance(the_oracle),
        settings=settings | {"rows": len(items)}, jobs=jobs,
        seconds_this_call=time.perf_counter() - start,
    )
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _provenance(oracle) -> dict:
    provenance = oracle.reference().provenance
    keep = ("potential", "versions", "source", "n_materials_project", "n_relaxed")
    return {key: provenance[key] for key in keep if key in provenance} | {
        "entries": len(oracle.reference().entries)}


def _check_counts(**values) -> None:
    limits = {"n": 1, "jobs": 1, "placements": 1, "seed": 0}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < limits[name]:
            raise ConfigError(f"--{name} must be an integer >= {limits[name]}, got {value!r}")
    if values["placements"] > MAX_PLACEMENTS:
        raise ConfigError(
            f"--placements must be at most {MAX_PLACEMENTS}, got {values['placements']}")


def same_settings(path: Path, settings: dict, what: str, hint: str) -> bool:
    """Whether the settings file ``path`` exists (and holds ``settings``); a
    :class:`ConfigError` naming the keys that differ when it holds other settings."""
    if not path.exists():
        return False
    previous = json.loads(path.read_text())
    if previous != settings:
        changed = sorted(k for k in set(previous) | set(settings)
                         if previous.get(k) != settings.get(k))
        raise ConfigError(
            f"{str(path.parent)!r} holds {what} with other settings (they differ in "
            f"{changed}); {hint}"
        )
    return True


def _resume(out: Path, settings: dict) -> dict[int, dict]:
    """Rows already judged in ``out`` (after checking it holds the same evaluation)."""
    settings_path = out / "settings.json"
    if not same_settings(settings_path, settings, "an evaluation",
                         "use another --out, or the same arguments to continue it"):
        out.mkdir(parents=True, exist_ok=True)
        write_text(settings_path, json.dumps(settings, indent=1) + "\n")
    done = {}
    log = out / "rows.jsonl"
    if log.exists():
        lines = log.read_text().splitlines()
        for line in lines:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill: that row is judged again
                continue
            done[row["row"]] = row
        if lines and not log.read_text().endswith("\n"):
            with open(log, "a") as stream:
                stream.write("\n")
    return done


def _record(out: Path, log, outcome: Outcome, judge: type[Judge]) -> None:
    """Save the judged structure, then append the row (so a logged row has its file)."""
    if outcome.structure is not None:
        with atomic_path(out / "relaxed" / f"{outcome.row['row']}{judge.suffix}") as temporary:
            judge.save(outcome.structure, temporary)
    log.write(json.dumps(outcome.row) + "\n")
    log.flush()
    os.fsync(log.fileno())


# -- running the items -------------------------------------------------------------------------

_WORKER_JUDGE: Judge | None = None


def _start_worker(judge: Judge) -> None:
    global _WORKER_JUDGE
    import signal

    import torch

    torch.set_num_threads(1)  # one core per worker: processes, not threads, share the machine
    _one_blas_thread()
    # Ctrl-C reaches every process of the terminal: a worker leaves at once and quietly (its
    # row is judged again on resume); the parent reports the interruption
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(1))
    _WORKER_JUDGE = judge


def _one_blas_thread():
    """Limit numpy's and scipy's BLAS to one thread (for the process, or as a context).

    A relaxation calls BLAS on 3 × 3 matrices dozens of times per step (the cell filter's
    matrix logarithm and exponential); with a BLAS thread per core, every call wakes threads
    that compete with the other workers: with two workers on the 2-core development
    machine a CHGNet step took 439 ms instead of 126 ms (``bench/judge_cost.json``;
    docs/evaluation.md, "Cost").
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _judge_in_worker(item: Item) -> Outcome:
    return _WORKER_JUDGE(item)


def _run(judge: Judge, items: list[Item], jobs: int):
    """Outcomes of ``items`` in the order they finish."""
    if jobs == 1 or len(items) == 1:
        with _one_blas_thread():
            for item in items:
                yield judge(item)
        return
    # fork: the workers inherit the loaded potential, hulls and known crystals
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=(judge,)
    ) as pool:
        futures = [pool.submit(_judge_in_worker, item) for item in items]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _write_csv(path: Path, rows: list[dict], columns) -> None:
    with atomic_path(path) as temporary, temporary.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


class Progress:
    """A progress bar on a terminal, a line every ~5 % (or 30 s) otherwise, on stderr."""

    def __init__(self, total: int, done: int, stream=None, counted: str = ""):
        self.total, self.done, self.new = total, done, 0
        self.counted = counted
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = self.last = time.perf_counter()
        self.count = 0
        if done:
            print(f"resuming: {done} of {total} rows already judged", file=self.stream)

    def advance(self, row: dict) -> None:
        self.done += 1
        self.new += 1
        self.count += bool(self.counted) and row.get(self.counted) == 1
        now = time.perf_counter()
        rate = self.new / (now - self.start)
        eta = (self.total - self.done) / rate if rate else 0.0
        text = (f"evaluate {self.done}/{self.total}  {rate * 60:.1f}/min  "
                f"eta {_clock(eta)}")
        if self.counted:
            text += f"  {self.counted} so far {self.count}"
        if self.tty:
            width = 24
            filled = int(width * self.done / self.total)
            print(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}", end="",
                  file=self.stream, flush=True)
        elif now - self.last > 30 or self.done % max(1, self.total // 20) == 0:
            print(text, file=self.stream, flush=True)
            self.last = now

    def finish(self) -> None:
        if self.tty and self.new:
            print(file=self.stream)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"

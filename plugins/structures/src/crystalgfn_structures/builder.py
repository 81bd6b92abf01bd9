"""Coordinate completion: crystallographic parameters -> pymatgen ``Structure``.

A :class:`StructureBuilder` turns each :class:`Sample` (space group, conventional-cell atom
counts, six lattice parameters) into a structure, or records why it could not. Backends
subclass it and implement :meth:`StructureBuilder.place`; this module does the rest
(reading samples, cell conventions, seeding, time limits, the checks, parallel workers).

pymatgen, spglib and the backends' libraries are imported lazily, so that listing plugins
(``crystalgfn plugins``) stays cheap.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LATTICE_COLUMNS = ("a", "b", "c", "alpha", "beta", "gamma")
#: Space groups with a rhombohedral (R) lattice; their conventional cell is in hexagonal axes.
RHOMBOHEDRAL_GROUPS = frozenset({146, 148, 155, 160, 161, 166, 167})
#: Space-group tolerance of the symmetry check (spglib through pymatgen), in Å.
SYMPREC = 0.1

# Reasons recorded for a sample whose completion failed (``Result.reason``).
INVALID_INPUT = "invalid_input"  # unreadable formula, space group or lattice
INCOMPATIBLE = "incompatible_wyckoff"  # counts not realisable by the group's Wyckoff positions
PLACEMENT_FAILED = "placement_failed"  # no placement respecting the minimum distances found
TIMEOUT = "timeout"  # the per-sample time limit ran out
BACKEND_ERROR = "backend_error"  # anything else the backend raised
REASONS = (INVALID_INPUT, INCOMPATIBLE, PLACEMENT_FAILED, TIMEOUT, BACKEND_ERROR)


class PlacementError(Exception):
    """Raised by :meth:`StructureBuilder.place` when a sample cannot be completed."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class _Timeout(BaseException):
    """The per-sample time limit ran out (a BaseException, so backends' ``except
    Exception`` cannot swallow it)."""


@dataclass
class Sample:
    """One sampled crystal. ``counts`` are per conventional cell (``None`` when the formula
    could not be read; ``problem`` then says why)."""

    row: int
    space_group: int | None
    formula: str
    counts: dict[str, int] | None
    lattice: tuple[float, ...] | None
    problem: str = ""


@dataclass
class Result:
    """The outcome of completing one :class:`Sample`.

    ``structure`` is a pymatgen ``Structure`` (conventional cell; for rhombohedral groups
    sampled in rhombohedral axes, the hexagonal-axes cell, three times the volume) or
    ``None``; ``reason`` is ``""`` on success, else one of :data:`REASONS`, with ``detail``.
    """

    sample: Sample
    structure: Any = None
    reason: str = ""
    detail: str = ""
    seconds: float = 0.0
    #: shortest interatomic distance (Å), periodic images included; NaN without a structure
    min_distance: float = math.nan
    #: ``min_distance >= min_distance threshold`` (structural validity)
    valid: bool = False
    #: space group spglib finds in the structure at ``SYMPREC`` (0 without a structure)
    recovered_space_group: int = 0
    #: symmetry operations spglib finds in the built cell, and the sampled group's number of
    #: operations in that cell; more means the structure is more symmetric than sampled
    symmetry_operations: int = 0
    sampled_operations: int = 0
    cell: str = ""

    @property
    def success(self) -> bool:
        return self.structure is not None

    @property
    def symmetry_recovered(self) -> bool:
        return self.success and self.recovered_space_group == self.sample.space_group


# -- reading samples -------------------------------------------------------------------------


def _parse_formula(text: str) -> dict[str, int]:
    from crystalgfn.errors import UnknownNameError
    from crystalgfn.report.io import parse_formula

    try:
        return parse_formula(text)
    except UnknownNameError as error:
        raise ValueError(error.headline) from None


def sample_from_row(row: Mapping[str, Any], number: int) -> Sample:
    """A :class:`Sample` from one row (``space_group``, ``formula``, ``a`` .. ``gamma``);
    unreadable values are recorded in ``problem`` rather than raised."""
    formula = str(row.get("formula", "") or "").strip()
    problems = []
    group: int | None = None
    try:
        value = float(row.get("space_group", ""))
        if value != int(value) or not 1 <= value <= 230:
            raise ValueError
        group = int(value)
    except (TypeError, ValueError):
        problems.append(f"space group {row.get('space_group')!r} is not an integer 1-230")
    counts = None
    try:
        counts = _parse_formula(formula)
    except ValueError as error:
        problems.append(f"formula {formula!r}: {error}")
    lattice = None
    try:
        lattice = tuple(float(row[name]) for name in LATTICE_COLUMNS)
        problem = lattice_problem(lattice)
        if problem:
            problems.append(problem)
            lattice = None
    except (KeyError, TypeError, ValueError):
        problems.append(
            "lattice parameters " + repr([row.get(name) for name in LATTICE_COLUMNS])
            + " are not six numbers"
        )
    return Sample(number, group, formula, counts, lattice, "; ".join(problems))


def lattice_problem(lattice: Sequence[float]) -> str:
    """Why six lattice parameters describe no cell (``""`` when they do)."""
    a, b, c, alpha, beta, gamma = lattice
    if not all(math.isfinite(x) for x in lattice):
        return f"lattice parameters {list(lattice)} are not finite"
    if min(a, b, c) <= 0:
        return f"lattice lengths {[a, b, c]} must be positive"
    cosines = [math.cos(math.radians(x)) for x in (alpha, beta, gamma)]
    ca, cb, cg = cosines
    if 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg <= 1e-10:
        return f"angles {[alpha, beta, gamma]} give no cell of positive volume"
    return ""


def read_samples(source: str | os.PathLike | Iterable) -> list[Sample]:
    """Samples from a CSV path (the format of ``crystalgfn sample``), from rows (mappings)
    or from :class:`Sample` objects. Rows are numbered from 1."""
    if isinstance(source, (str, os.PathLike)):
        from crystalgfn.errors import ConfigError

        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"samples file {str(path)!r} does not exist")
        with open(path, newline="") as stream:
            reader = csv.DictReader(stream)
            missing = [
                name for name in ("space_group", "formula", *LATTICE_COLUMNS)
                if name not in (reader.fieldnames or [])
            ]
            if missing:
                raise ConfigError(
                    f"samples file {str(path)!r} lacks the column(s) {missing} "
                    f"(found {reader.fieldnames})"
                )
            rows = [row for row in reader if any((v or "").strip() for v in row.values())]
        if not rows:
            raise ConfigError(f"samples file {str(path)!r} has no rows")
        return [sample_from_row(row, i) for i, row in enumerate(rows, start=1)]
    samples = []
    for i, item in enumerate(source, start=1):
        samples.append(item if isinstance(item, Sample) else sample_from_row(item, i))
    return samples


def conventional_lattice(space_group: int, lattice: Sequence[float]) -> tuple[tuple, str]:
    """The conventional cell the atom counts refer to, and a note on the conversion.

    Crystal-GFN samples rhombohedral groups in rhombohedral axes (a = b = c, α = β = γ)
    while atom counts are per conventional cell, which for R groups is the hexagonal-axes
    cell (obverse setting, three lattice points). That cell has a_h = 2 a sin(α/2),
    c_h = a √(3 (1 + 2 cos α)) and three times the volume. Every other cell is kept.
    """
    lattice = tuple(float(x) for x in lattice)
    if space_group not in RHOMBOHEDRAL_GROUPS:
        return lattice, ""
    a, b, c, alpha, beta, gamma = lattice
    if math.isclose(alpha, 90, abs_tol=1e-3) and math.isclose(beta, 90, abs_tol=1e-3) and (
        math.isclose(gamma, 120, abs_tol=1e-3)
    ):
        return lattice, ""
    same = math.isclose(a, b, rel_tol=1e-4) and math.isclose(b, c, rel_tol=1e-4)
    if same and math.isclose(alpha, beta, abs_tol=1e-3) and math.isclose(beta, gamma, abs_tol=1e-3):
        cos_alpha = math.cos(math.radians(alpha))
        a_h = 2 * a * math.sin(math.radians(alpha) / 2)
        c_h = a * math.sqrt(3 * (1 + 2 * cos_alpha))
        return (a_h, a_h, c_h, 90.0, 90.0, 120.0), "hexagonal axes of the rhombohedral cell"
    return lattice, ""


# -- checks ----------------------------------------------------------------------------------


def min_distance(structure) -> float:
    """Shortest distance (Å) between two atoms of a periodic structure, images included
    (an atom and its own periodic image count)."""
    if len(structure) == 0:
        return math.nan
    lengths = structure.lattice.abc
    radius = 4.0
    limit = 2.0 * max(lengths) + 1.0
    while True:
        _, _, _, distances = structure.get_neighbor_list(radius, exclude_self=True)
        if len(distances):
            return float(np.min(distances))
        if radius > limit:
            return math.inf
        radius *= 2


def symmetry_of(structure, symprec: float = SYMPREC) -> tuple[int, int]:
    """The space group spglib finds in ``structure`` and the number of symmetry operations
    of the structure's own cell (pure translations included); ``(0, 0)`` if spglib fails."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spglib's deprecation notice on error handling
            analyzer = SpacegroupAnalyzer(structure, symprec=symprec)
            return int(analyzer.get_space_group_number()), len(analyzer.get_symmetry_operations())
    except Exception:  # spglib gives up on degenerate cells
        return 0, 0


def recovered_space_group(structure, symprec: float = SYMPREC) -> int:
    """The space group spglib finds in ``structure`` (0 if it finds none)."""
    return symmetry_of(structure, symprec)[0]


def group_order(number: int) -> int:
    """Operations of a space group in its conventional cell (centring translations included;
    hexagonal axes for R groups), e.g. 192 for Fm-3m."""
    from pymatgen.symmetry.groups import SpaceGroup

    return len(SpaceGroup.from_int_number(number).symmetry_ops)


# -- time limit ------------------------------------------------------------------------------


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`_Timeout` after ``seconds`` (SIGALRM; only in the main thread of a
    process on POSIX — elsewhere no limit is applied)."""
    usable = (
        seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- the builder -----------------------------------------------------------------------------


@dataclass
class StructureBuilder:
    """Base class of structure builders (register subclasses with the
    ``register_structure_builders`` hook).

    ``min_distance_scale``: two atoms i, j must be at least ``min_distance_scale × (r_i +
    r_j)`` apart (covalent radii) and never closer than ``min_distance`` Å. ``timeout``:
    seconds per sample. ``seed``: each sample gets its own generator seeded with
    ``(seed, row)``, so a row's structure does not depend on the other rows or on ``jobs``.
    """

    name = "base"

    seed: int = 0
    min_distance_scale: float = 0.5
    min_distance: float = 0.5
    timeout: float | None = 20.0
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        from crystalgfn.errors import ConfigError

        if not self.min_distance_scale >= 0:
            raise ConfigError(f"min_distance_scale must be >= 0, got {self.min_distance_scale}")
        if not self.min_distance >= 0:
            raise ConfigError(f"min_distance must be >= 0 Å, got {self.min_distance}")

    # Backends implement this one method.
    def place(self, space_group: int, counts: Mapping[str, int], lattice: Sequence[float],
              rng: np.random.Generator):
        """Return a pymatgen ``Structure`` with ``counts`` atoms on Wyckoff positions of
        ``space_group`` in the cell ``lattice`` (conventional, Å and degrees), respecting the
        minimum distances, or raise :class:`PlacementError`."""
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        """Versions of the libraries the backend uses (recorded in metrics.json)."""
        return {}

    # -- driving ---------------------------------------------------------------------------
    def build_one(self, sample: Sample) -> Result:
        """Complete one sample and run the checks on the structure."""
        start = time.perf_counter()
        result = Result(sample=sample)
        if sample.problem:
            result.reason, result.detail = INVALID_INPUT, sample.problem
            return result
        lattice, result.cell = conventional_lattice(sample.space_group, sample.lattice)
        rng = np.random.default_rng([self.seed, sample.row])
        try:
            with _time_limit(self.timeout), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structure = self.place(sample.space_group, sample.counts, lattice, rng)
        except PlacementError as error:
            result.reason, result.detail = error.reason, error.detail
        except _Timeout:
            result.reason = TIMEOUT
            result.detail = f"no structure within {self.timeout:g} s"
        except Exception as error:  # a backend bug must not stop the other samples
            result.reason, result.detail = BACKEND_ERROR, f"{type(error).__name__}: {error}"
        else:
            result.structure = structure
            result.min_distance = min_distance(structure)
            result.valid = bool(result.min_distance >= self.min_distance - 1e-6)
            result.recovered_space_group, result.symmetry_operations = symmetry_of(structure)
            result.sampled_operations = group_order(sample.space_group)
        result.seconds = time.perf_counter() - start
        return result

    def place_row(self, row: Mapping[str, Any], number: int) -> Result:
        """Complete one row of a samples CSV (``space_group``, ``formula``, ``a`` ..
        ``gamma``; values as strings or numbers); ``number`` is its row number, which seeds
        it. This is what ``crystalgfn evaluate`` calls."""
        return self.build_one(sample_from_row(row, number))

    def build(self, samples, jobs: int = 1, progress: bool = False) -> list[Result]:
        """Complete every sample (a CSV path, rows or :class:`Sample` objects), in order;
        with ``progress``, the count, elapsed time and ETA on stderr as they finish."""
        from crystalgfn.progress import Progress

        samples = read_samples(samples)
        counter = Progress("structures", len(samples), "built", enabled=progress)
        if jobs <= 1 or len(samples) < 2:
            results = []
            for sample in samples:
                results.append(self.build_one(sample))
                counter.advance()
            return results
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("fork" if os.name == "posix" else None)
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
            results = []
            for result in pool.map(self.build_one, samples, chunksize=4):
                results.append(result)
                counter.advance()
            return results

    def write(self, samples, out_dir, reference=None, jobs: int = 1) -> dict:
        """Build every sample and write ``out_dir/index.csv``, ``out_dir/cif/<row>.cif`` and
        ``out_dir/metrics.json``; returns the metrics."""
        from crystalgfn_structures.output import write_results

        start = time.perf_counter()
        results = self.build(samples, jobs=jobs, progress=True)  # the long step of the CLI
        return write_results(results, out_dir, builder=self, reference=reference,
                             build_seconds=time.perf_counter() - start, jobs=jobs)

    def settings(self) -> dict:
        return {
            "backend": self.name,
            "seed": self.seed,
            "min_distance_scale": self.min_distance_scale,
            "min_distance": self.min_distance,
            "timeout": self.timeout,
            "symprec": SYMPREC,
            **self.options,
        }

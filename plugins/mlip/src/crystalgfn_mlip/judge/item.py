"""One input judged end to end: atoms placed (or read), relaxed, scored.

A :class:`Judge` lives in each worker process: it holds the oracle (a loaded potential), the
structure builders (one per placement), the hulls and the known crystals for novelty, so that
they are loaded once per process, not once per crystal.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

from crystalgfn.judge.base import Judge, Outcome
from crystalgfn.judge.inputs import Item

from crystalgfn_mlip.judge import OVERLAP_DISTANCE, STABLE_THRESHOLD, SYMPREC, report
from crystalgfn_mlip.judge.hull import HullError, Hulls

#: columns of ``evaluation.csv``, in order
COLUMNS = (
    "row", "input", "formula", "space_group", "built", "relaxed", "converged", "steps",
    "placements_built", "energy_per_atom", "formation_energy_per_atom", "e_above_hull",
    "stable", "stable_strict", "unique", "novel", "space_group_after", "symmetry_kept",
    "volume_ratio", "proxy_formation_energy", "reason", "seconds",
)

#: the column of the oracle's formation energy (eV/atom, on its own scale): the label an
#: active-learning campaign refits its proxy on
LABEL_COLUMN = "formation_energy_per_atom"

# reasons (``reason`` column) an input was not scored in full
UNREADABLE = "unreadable_cif"
BUILD_FAILED = "build_failed"
OVERLAPPING = "overlapping_atoms"
UNSUPPORTED = "unsupported_element"
RELAX_FAILED = "relaxation_failed"
NO_HULL = "no_hull_reference"

#: columns a samples CSV needs so that atoms can be placed
SAMPLE_COLUMNS = ("space_group", "formula", "a", "b", "c", "alpha", "beta", "gamma")
#: the samples column of the proxy's prediction, when a trained run wrote the samples
PROXY_COLUMN = "formation_energy"


class SunJudge(Judge):
    """Judges items with ``oracle``; ``builders``: one structure builder per placement
    (samples only); novelty is judged against the oracle reference's known crystals."""

    name = "sun"
    columns = COLUMNS
    sample_columns = SAMPLE_COLUMNS
    prediction_column = PROXY_COLUMN
    label_column = LABEL_COLUMN
    suffix = ".cif"
    progress_column = "stable"
    thresholds = {"stable_e_above_hull": STABLE_THRESHOLD, "stable_strict": 0.0,
                  "symprec": SYMPREC, "overlap_distance": OVERLAP_DISTANCE}
    key_columns = ("formula", "space_group")
    top_columns = report.TOP_JUDGE_COLUMNS
    captions = report.CAPTIONS

    @classmethod
    def report_plots(cls, out_dir: Path, evaluations: list[dict]) -> list[str]:
        return report.draw(out_dir, evaluations)

    @classmethod
    def report_blocks(cls, metrics: dict, judged) -> list[tuple]:
        return report.blocks(metrics, judged)

    @classmethod
    def judged_table(cls, evaluation: dict) -> dict:
        return report.judged_table(evaluation)

    @classmethod
    def check_file(cls, path: str, oracle) -> None:
        check_cif_file(path, oracle)

    @staticmethod
    def save(structure, path: Path) -> None:
        from pymatgen.io.cif import CifWriter

        CifWriter(structure).write_file(path)

    @classmethod
    def finish(cls, out_dir: Path, rows: list[dict]) -> None:
        from crystalgfn_mlip.judge.uniqueness import unique_flags

        for row, flag in zip(rows, unique_flags(out_dir, rows), strict=True):
            row["unique"] = "" if flag is None else int(flag)

    @classmethod
    def summarise(cls, rows: list[dict], kind: str) -> dict:
        from crystalgfn_mlip.judge.summary import summarise

        return summarise(rows, kind)

    def __init__(self, oracle, builders):
        self.oracle = oracle
        self.builders = list(builders)
        reference = oracle.reference()
        self.hulls = Hulls(reference.entries)
        self.known = reference.structures
        self.known("")  # load the oracle's index of known crystals before workers fork
        from pymatgen.analysis.structure_matcher import StructureMatcher

        self.matcher = StructureMatcher()  # ltol 0.2, stol 0.3, angle_tol 5°, scale=True

    def __call__(self, item: Item) -> Outcome:
        start = time.perf_counter()
        row = {name: "" for name in COLUMNS}
        row.update(row=item.row, input=item.input, formula=item.formula,
                   space_group=item.space_group or "", built=0, relaxed=0,
                   placements_built=0, proxy_formation_energy=_fmt(item.prediction))
        structure = None
        try:
            structure = self._judge(item, row)
        except _Stop as stop:
            row["reason"] = stop.reason + (f": {stop.detail}" if stop.detail else "")
        row["seconds"] = f"{time.perf_counter() - start:.2f}"
        return Outcome(row, structure)

    # -- the steps -----------------------------------------------------------------------------
    def _judge(self, item: Item, row: dict):
        initial, group = self._initial_structures(item, row)
        row["built"] = 1
        row["placements_built"] = len(initial)
        best, best_initial = None, None
        failures = []
        for structure in initial:
            try:
                relaxation = self.oracle.relax(structure)
            except Exception as error:  # the potential or the optimiser gave up
                failures.append(f"{type(error).__name__}: {error}")
                continue
            if best is None or relaxation.energy_per_atom < best.energy_per_atom:
                best, best_initial = relaxation, structure
        if best is None:
            raise _Stop(RELAX_FAILED, failures[0])
        relaxed = best.structure
        row.update(relaxed=1, converged=int(best.converged), steps=best.steps,
                   energy_per_atom=_fmt(best.energy_per_atom),
                   volume_ratio=_fmt(relaxed.volume / best_initial.volume))
        after = _space_group(relaxed)
        row["space_group_after"] = after
        if group:
            row["symmetry_kept"] = int(after == group)
        row["novel"] = int(self.is_novel(relaxed))
        try:
            formation, distance = self.hulls.score(relaxed.composition, best.energy_per_atom)
        except HullError as error:
            row["reason"] = f"{NO_HULL}: {error}"
            return relaxed
        row.update(formation_energy_per_atom=_fmt(formation), e_above_hull=_fmt(distance),
                   stable=int(distance <= STABLE_THRESHOLD), stable_strict=int(distance <= 0))
        return relaxed

    def _initial_structures(self, item: Item, row: dict) -> tuple[list, int | None]:
        """The structures to relax (one per built placement) and the space group they are
        meant to have (the sampled one, or spglib's of a CIF)."""
        if item.cif is not None:
            structure = _read_cif(item.cif)
            row["formula"] = structure.composition.formula.replace(" ", "")
            group = _space_group(structure)
            row["space_group"] = group or ""
            self._check_physical(structure)
            return [structure], group or None
        candidates, failures = [], []
        for builder in self.builders:
            result = builder.place_row(item.sample, item.row)
            if result.structure is None:
                failures.append(f"{result.reason} ({result.detail})" if result.detail
                                else result.reason)
            else:
                candidates.append(result.structure)
        if not candidates:
            raise _Stop(BUILD_FAILED, failures[0] if failures else "")
        self._check_elements(candidates[0])
        return candidates, item.space_group

    def _check_physical(self, structure) -> None:
        check_structure(structure, self.oracle)

    def _check_elements(self, structure) -> None:
        _check_elements(structure, self.oracle)

    def is_novel(self, structure) -> bool:
        """No known crystal of the same reduced formula matches ``structure``."""
        candidates = self.known(structure.composition.reduced_formula)
        return not any(self.matcher.fit(structure, known) for known in candidates)


def check_structure(structure, oracle) -> None:
    """Stop with a reason when ``structure`` cannot be relaxed meaningfully: no atoms, an
    element the oracle does not know, or two atoms closer than ``OVERLAP_DISTANCE``."""
    if len(structure) == 0:
        raise _Stop(UNREADABLE, "the structure has no atoms")
    _check_elements(structure, oracle)
    distance = _min_distance(structure)
    if distance < OVERLAP_DISTANCE:
        raise _Stop(OVERLAPPING, f"two atoms are {distance:.3f} Å apart (less than "
                                 f"{OVERLAP_DISTANCE} Å); the structure is not relaxed")


def _check_elements(structure, oracle) -> None:
    elements = {element.symbol for element in structure.composition.elements}
    unknown = sorted(elements - oracle.supported_elements())
    if unknown:
        raise _Stop(UNSUPPORTED, f"oracle {oracle.name!r} does not know {unknown}")


def check_cif_file(path: str, oracle) -> None:
    """Raise :class:`ConfigError` when the CIF file ``path`` cannot be judged (it does not
    parse, or :func:`check_structure` stops it)."""
    from crystalgfn.errors import ConfigError

    try:
        check_structure(_read_cif(path), oracle)
    except _Stop as stop:
        raise ConfigError(f"{path}: {stop.reason}: {stop.detail}") from None


class _Stop(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def _read_cif(path: str):
    from pymatgen.core import Structure

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Structure.from_file(path)
    except Exception as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _Stop(UNREADABLE, f"pymatgen cannot read it ({message})") from None


def _space_group(structure) -> int:
    """The space group spglib finds at ``SYMPREC`` (0 when it finds none)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(SpacegroupAnalyzer(structure, symprec=SYMPREC).get_space_group_number())
    except Exception:  # spglib gives up on degenerate cells
        return 0


def _min_distance(structure) -> float:
    """Shortest distance (Å) between two atoms, periodic images included."""
    import numpy as np

    _, _, _, distances = structure.get_neighbor_list(max(2 * OVERLAP_DISTANCE, 1.0),
                                                    exclude_self=True)
    return float(np.min(distances)) if len(distances) else math.inf


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.6g}"

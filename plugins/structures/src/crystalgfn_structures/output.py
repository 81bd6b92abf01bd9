"""Structure-level metrics, reference sets, and the files ``crystalgfn structures`` writes."""

from __future__ import annotations

import collections
import csv
import json
import os
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

from crystalgfn_structures.builder import REASONS, SYMPREC, Result

INDEX_COLUMNS = (
    "row",
    "formula",
    "space_group",
    "success",
    "reason",
    "detail",
    "cif",
    "n_atoms",
    "cell",
    "min_distance",
    "valid",
    "recovered_space_group",
    "symmetry_recovered",
    "symmetry_operations",
    "sampled_operations",
    "seconds",
)


def default_reference_path() -> Path:
    """The shipped reference: 20 Materials Project structures (pymatgen dicts, JSONL)."""
    data = resources.files("crystalgfn_structures") / "data"
    return Path(str(data / "mp_slice_structures.jsonl"))


def load_reference(path: str | os.PathLike | None = None) -> list:
    """pymatgen ``Structure`` objects from a JSONL file: one JSON object per line, either a
    ``Structure.as_dict()`` or an object holding one under ``"structure"``."""
    from crystalgfn.errors import ConfigError
    from pymatgen.core import Structure

    path = Path(path) if path is not None else default_reference_path()
    if not path.is_file():
        raise ConfigError(f"reference file {str(path)!r} does not exist")
    structures = []
    with open(path) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                structures.append(Structure.from_dict(record.get("structure", record)))
            except Exception as error:
                raise ConfigError(
                    f"reference file {str(path)!r}, line {number}: not a pymatgen structure "
                    f"({type(error).__name__}: {error})"
                ) from None
    return structures


def _matcher():
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher()  # ltol 0.2, stol 0.3, angle_tol 5°, scale=True


def unique_count(structures: Sequence) -> int:
    """Number of distinct structures under pymatgen's ``StructureMatcher`` (default
    tolerances; only structures of the same reduced composition are compared)."""
    if not structures:
        return 0
    return len(_matcher().group_structures(list(structures)))


def novel_flags(structures: Sequence, reference: Sequence) -> list[bool]:
    """For each structure, whether no reference structure matches it (``StructureMatcher``)."""
    matcher = _matcher()
    by_formula = collections.defaultdict(list)
    for known in reference:
        by_formula[known.composition.reduced_formula].append(known)
    flags = []
    for structure in structures:
        candidates = by_formula.get(structure.composition.reduced_formula, [])
        flags.append(not any(matcher.fit(structure, known) for known in candidates))
    return flags


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def structure_metrics(results: Sequence[Result], reference: Sequence | None = None) -> dict:
    """Completion success, structural validity, symmetry recovery, uniqueness and novelty.

    Rates named ``*_rate`` are over all samples; ``*_of_built`` over the built structures.
    """
    n = len(results)
    built = [r for r in results if r.success]
    valid = sum(r.valid for r in built)
    recovered = sum(r.symmetry_recovered for r in built)
    mismatched = [r for r in built if not r.symmetry_recovered]
    higher = sum(r.symmetry_operations > r.sampled_operations for r in mismatched)
    lower = sum(0 < r.symmetry_operations < r.sampled_operations for r in mismatched)
    reasons = collections.Counter(r.reason for r in results if not r.success)
    structures = [r.structure for r in built]
    metrics = {
        "n": n,
        "n_built": len(built),
        "success_rate": _rate(len(built), n) or 0.0,
        "failures": {reason: reasons.get(reason, 0) for reason in REASONS},
        "validity_rate": _rate(valid, n) or 0.0,
        "validity_of_built": _rate(valid, len(built)),
        "symmetry_recovery_rate": _rate(recovered, n) or 0.0,
        "symmetry_recovery_of_built": _rate(recovered, len(built)),
        "symmetry_higher_than_sampled": higher,
        "symmetry_lower_than_sampled": lower,
        "symmetry_other_mismatch": len(mismatched) - higher - lower,
    }
    start = time.perf_counter()
    n_unique = unique_count(structures)
    metrics["uniqueness_of_built"] = _rate(n_unique, len(built))
    metrics["n_unique"] = n_unique
    if reference is not None:
        flags = novel_flags(structures, reference)
        metrics["novelty_of_built"] = _rate(sum(flags), len(built))
        metrics["n_reference"] = len(reference)
    metrics["metric_seconds"] = time.perf_counter() - start
    distances = sorted(r.min_distance for r in built)
    if distances:
        metrics["min_distance_quantiles"] = {
            q: distances[min(int(float(q) * len(distances)), len(distances) - 1)]
            for q in ("0.0", "0.1", "0.5", "0.9")
        }
    seconds = sorted(r.seconds for r in results)
    metrics["seconds_per_sample"] = {
        "mean": sum(seconds) / n if n else 0.0,
        "median": seconds[n // 2] if n else 0.0,
        "max": seconds[-1] if n else 0.0,
    }
    return metrics


def write_results(results: Iterable[Result], out_dir, builder=None, reference=None,
                  build_seconds: float | None = None, jobs: int = 1) -> dict:
    """Write ``index.csv``, ``cif/<row>.cif`` (P1 CIFs) and ``metrics.json``; return the
    metrics. ``reference``: JSONL path (default: the shipped MP slice)."""
    from pymatgen.io.cif import CifWriter

    results = list(results)
    out = Path(out_dir)
    (out / "cif").mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        cif = ""
        if r.success:
            cif = f"cif/{r.sample.row}.cif"
            CifWriter(r.structure).write_file(out / cif)
        rows.append([
            r.sample.row,
            r.sample.formula,
            "" if r.sample.space_group is None else r.sample.space_group,
            int(r.success),
            r.reason,
            r.detail,
            cif,
            len(r.structure) if r.success else "",
            r.cell,
            f"{r.min_distance:.4f}" if r.success else "",
            int(r.valid),
            r.recovered_space_group if r.success else "",
            int(r.symmetry_recovered),
            r.symmetry_operations if r.success else "",
            r.sampled_operations if r.success else "",
            f"{r.seconds:.3f}",
        ])
    with open(out / "index.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(INDEX_COLUMNS)
        writer.writerows(rows)
    reference_path = Path(reference) if reference else default_reference_path()
    metrics = structure_metrics(results, load_reference(reference_path))
    metrics["reference"] = str(reference) if reference else "shipped: " + reference_path.name
    metrics["symprec"] = SYMPREC
    if builder is not None:
        metrics["settings"] = builder.settings()
        metrics["versions"] = builder.versions()
    metrics["jobs"] = jobs
    metrics["build_seconds"] = build_seconds
    metrics["seconds"] = (build_seconds or 0.0) + metrics["metric_seconds"]
    with open(out / "metrics.json", "w") as stream:
        json.dump(metrics, stream, indent=2)
    return metrics

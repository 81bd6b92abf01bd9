"""Crystal-GFN structures: from crystallographic parameters to full atomic structures.

::

    from crystalgfn_structures import build_structures, to_ase

    results = build_structures("samples.csv")          # or rows / Sample objects
    for result in results:
        if result.success:
            atoms = to_ase(result.structure)           # pymatgen Structure -> ase.Atoms
        else:
            print(result.sample.row, result.reason, result.detail)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crystalgfn.lazy import lazy_exports

_BUILDER_NAMES = (
    "BACKEND_ERROR",
    "INCOMPATIBLE",
    "INVALID_INPUT",
    "PLACEMENT_FAILED",
    "REASONS",
    "TIMEOUT",
    "PlacementError",
    "Result",
    "Sample",
    "StructureBuilder",
    "conventional_lattice",
    "min_distance",
    "read_samples",
    "recovered_space_group",
    "symmetry_of",
)
# Imported on first use, so that listing plugins does not import pymatgen or PyXtal.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **{name: "crystalgfn_structures.builder" for name in _BUILDER_NAMES},
        "PyxtalBuilder": "crystalgfn_structures.pyxtal_backend",
    },
)

if TYPE_CHECKING:
    from crystalgfn_structures.builder import Result, StructureBuilder

__all__ = [
    "BACKEND_ERROR",
    "INCOMPATIBLE",
    "INVALID_INPUT",
    "PLACEMENT_FAILED",
    "REASONS",
    "TIMEOUT",
    "PlacementError",
    "PyxtalBuilder",
    "Result",
    "Sample",
    "StructureBuilder",
    "build_structures",
    "conventional_lattice",
    "make_builder",
    "min_distance",
    "read_samples",
    "recovered_space_group",
    "structure_metrics",
    "symmetry_of",
    "to_ase",
    "write_structures",
]


def make_builder(backend: str = "pyxtal", **kwargs) -> StructureBuilder:
    """The structure builder registered as ``backend`` (any installed plugin), built with
    ``kwargs`` (``seed``, ``min_distance_scale``, ``min_distance``, ``timeout``, ...)."""
    from crystalgfn.plugins import get_plugins

    return get_plugins().structure_builders.get(backend).factory(**kwargs)


def build_structures(samples, backend: str = "pyxtal", jobs: int = 1, **kwargs) -> list[Result]:
    """Complete each sample into a pymatgen ``Structure``.

    ``samples``: a samples CSV path, rows (mappings with ``space_group``, ``formula``,
    ``a`` .. ``gamma``) or :class:`Sample` objects. Returns one :class:`Result` per sample,
    in order: ``structure`` (or ``None``) and ``reason``/``detail`` when it failed.
    """
    return make_builder(backend, **kwargs).build(samples, jobs=jobs)


def write_structures(samples, out_dir, backend: str = "pyxtal", reference=None, jobs: int = 1,
                     **kwargs) -> dict:
    """What ``crystalgfn structures`` does: CIFs, ``index.csv``, ``metrics.json``."""
    return make_builder(backend, **kwargs).write(samples, out_dir, reference=reference, jobs=jobs)


def structure_metrics(results, reference=None) -> dict:
    """Metrics of :func:`build_structures` results; ``reference``: a JSONL path, a list of
    structures, or ``None`` (no novelty)."""
    from crystalgfn_structures import output

    if reference is not None and not isinstance(reference, (list, tuple)):
        reference = output.load_reference(reference)
    return output.structure_metrics(results, reference)


def to_ase(structure):
    """An ``ase.Atoms`` of a pymatgen ``Structure`` (pymatgen's ``AseAtomsAdaptor``)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_atoms(structure)

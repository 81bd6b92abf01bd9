"""Coordinate completion (crystalgfn-structures): samples -> pymatgen structures, CIFs, metrics."""

import csv
import json
import math

import pytest

pytest.importorskip("pyxtal")
pytest.importorskip("pymatgen.core")
ase_io = pytest.importorskip("ase.io")

import crystalgfn_structures as cs  # noqa: E402
from crystalgfn.cli import main  # noqa: E402
from crystalgfn.errors import UnknownNameError  # noqa: E402
from crystalgfn.plugins import get_plugins  # noqa: E402
from crystalgfn_structures.output import load_reference, novel_flags, unique_count  # noqa: E402
from pymatgen.core import Lattice, Structure  # noqa: E402

CUBIC = dict(alpha=90, beta=90, gamma=90)
NACL = dict(space_group=225, formula="Na4Cl4", a=5.64, b=5.64, c=5.64, **CUBIC)
TOO_SMALL = dict(space_group=225, formula="Na4Cl4", a=2.0, b=2.0, c=2.0, **CUBIC)
BAD_FORMULA = dict(space_group=225, formula="Na4Xx4", a=5.64, b=5.64, c=5.64, **CUBIC)
INCOMPATIBLE = dict(space_group=225, formula="Na3Cl4", a=5.64, b=5.64, c=5.64, **CUBIC)
THIN = dict(space_group=1, formula="Se2O2", a=1.0, b=8.0, c=8.0, **CUBIC)
# corundum-like counts in R-3c, sampled in rhombohedral axes (as the lattice env does)
CORUNDUM = dict(space_group=167, formula="Al12O18", a=5.13, b=5.13, c=5.13,
                alpha=55.3, beta=55.3, gamma=55.3)


@pytest.fixture(scope="module")
def results():
    return cs.build_structures([NACL, TOO_SMALL, BAD_FORMULA, INCOMPATIBLE, THIN, CORUNDUM],
                               timeout=10)


def test_the_pyxtal_builder_is_registered_by_its_distribution():
    entry = get_plugins().structure_builders.get("pyxtal")
    assert entry.distribution == "crystalgfn-structures"
    with pytest.raises(UnknownNameError, match="pyxtal"):
        get_plugins().structure_builders.get("pyxtl")


def test_rock_salt_is_built_in_the_sampled_cell_and_keeps_its_space_group(results):
    nacl = results[0]
    assert nacl.success and nacl.reason == ""
    structure = nacl.structure
    assert structure.composition.as_dict() == {"Na": 4.0, "Cl": 4.0}
    assert structure.lattice.abc == pytest.approx((5.64, 5.64, 5.64))
    assert structure.lattice.angles == pytest.approx((90, 90, 90))
    assert nacl.recovered_space_group == 225 and nacl.symmetry_recovered
    assert nacl.symmetry_operations == nacl.sampled_operations == 192
    assert nacl.min_distance == pytest.approx(5.64 / 2, abs=1e-6)
    assert nacl.valid
    assert ((structure.frac_coords >= 0) & (structure.frac_coords < 1)).all()


def test_failures_are_recorded_with_a_reason(results):
    small, bad, incompatible, thin = results[1:5]
    assert not small.success and small.reason == cs.PLACEMENT_FAILED
    assert "8 atoms in 8.0" in small.detail
    assert bad.reason == cs.INVALID_INPUT and "unknown element 'Xx'." in bad.detail
    assert "names:" not in bad.detail  # the headline only, not all 118 element names
    assert incompatible.reason == cs.INCOMPATIBLE and "Wyckoff" in incompatible.detail
    assert thin.reason == cs.PLACEMENT_FAILED and "periodic image" in thin.detail
    for failed in (small, bad, incompatible, thin):
        assert failed.structure is None and not failed.valid
        assert math.isnan(failed.min_distance)


def test_rhombohedral_cells_are_built_in_hexagonal_axes(results):
    corundum = results[5]
    assert corundum.success, corundum.detail
    assert corundum.cell == "hexagonal axes of the rhombohedral cell"
    rhombohedral = Lattice.from_parameters(5.13, 5.13, 5.13, 55.3, 55.3, 55.3)
    assert corundum.structure.volume == pytest.approx(3 * rhombohedral.volume, rel=1e-6)
    assert corundum.structure.lattice.angles == pytest.approx((90, 90, 120))
    assert len(corundum.structure) == 30
    # random coordinates can land on special positions: spglib may find a rhombohedral
    # supergroup (R-3m) rather than R-3c; either way the rhombohedral lattice is recovered
    assert corundum.recovered_space_group in cs.builder.RHOMBOHEDRAL_GROUPS
    hexagonal, note = cs.conventional_lattice(167, (4.76, 4.76, 12.99, 90, 90, 120))
    assert hexagonal == (4.76, 4.76, 12.99, 90, 90, 120) and note == ""


def test_a_seed_fixes_each_rows_structure_independently_of_the_others():
    alone = cs.build_structures([CORUNDUM], seed=3)[0].structure
    again = cs.build_structures([CORUNDUM], seed=3)[0].structure
    assert alone.frac_coords.tolist() == again.frac_coords.tolist()
    other = cs.build_structures([CORUNDUM], seed=4)[0].structure
    assert alone.frac_coords.tolist() != other.frac_coords.tolist()


def test_min_distance_counts_periodic_images():
    single = Structure(Lattice.cubic(3.0), ["Si"], [[0.1, 0.2, 0.3]])
    assert cs.min_distance(single) == pytest.approx(3.0)


def test_to_ase_and_structure_metrics(results):
    atoms = cs.to_ase(results[0].structure)
    assert atoms.get_chemical_formula() == "Cl4Na4"
    assert atoms.cell.cellpar()[:3] == pytest.approx([5.64] * 3)
    metrics = cs.structure_metrics(results)
    assert metrics["n"] == 6 and metrics["n_built"] == 2
    assert metrics["success_rate"] == pytest.approx(2 / 6)
    assert metrics["failures"][cs.PLACEMENT_FAILED] == 2
    assert metrics["symmetry_recovery_of_built"] == (1.0 if results[5].symmetry_recovered else 0.5)


def test_uniqueness_and_novelty_use_structure_matcher(results):
    nacl = results[0].structure
    reference = load_reference()  # shipped: 20 MP structures, mp-22862 NaCl among them
    assert len(reference) == 20
    assert novel_flags([nacl, results[5].structure], reference) == [False, True]
    scaled = nacl.copy()
    scaled.scale_lattice(nacl.volume * 1.1)
    assert unique_count([nacl, scaled, results[5].structure]) == 2


def test_cli_writes_cifs_that_pymatgen_and_ase_read(tmp_path, capsys):
    samples = tmp_path / "samples.csv"
    rows = [NACL, TOO_SMALL, BAD_FORMULA]
    with open(samples, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(NACL))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "structures"
    assert main(["structures", str(samples), "--out", str(out), "--seed", "1"]) == 0
    assert "3 samples: built 0.333" in capsys.readouterr().out
    with open(out / "index.csv", newline="") as stream:
        index = list(csv.DictReader(stream))
    assert [row["success"] for row in index] == ["1", "0", "0"]
    assert [row["reason"] for row in index] == ["", cs.PLACEMENT_FAILED, cs.INVALID_INPUT]
    assert index[0]["recovered_space_group"] == "225" and index[0]["cif"] == "cif/1.cif"
    assert float(index[0]["min_distance"]) == pytest.approx(2.82, abs=1e-3)
    assert sorted(p.name for p in (out / "cif").iterdir()) == ["1.cif"]
    structure = Structure.from_file(out / "cif" / "1.cif")
    assert structure.composition.reduced_formula == "NaCl"
    assert structure.lattice.abc == pytest.approx((5.64,) * 3)
    atoms = ase_io.read(out / "cif" / "1.cif")
    assert len(atoms) == 8 and sorted(set(atoms.get_chemical_symbols())) == ["Cl", "Na"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["success_rate"] == pytest.approx(1 / 3)
    assert metrics["validity_of_built"] == 1.0
    assert metrics["symmetry_recovery_rate"] == pytest.approx(1 / 3)
    assert metrics["novelty_of_built"] == 0.0  # rock salt is in the shipped reference
    assert metrics["settings"]["seed"] == 1


def test_cli_rejects_an_unknown_backend(tmp_path, capsys):
    samples = tmp_path / "samples.csv"
    samples.write_text(
        "space_group,formula,a,b,c,alpha,beta,gamma\n225,Na4Cl4,5.64,5.64,5.64,90,90,90\n"
    )
    out = str(tmp_path / "o")
    assert main(["structures", str(samples), "--out", out, "--backend", "pyxtl"]) == 2
    assert "Did you mean 'pyxtal'" in capsys.readouterr().err


class _OtherBuilder:
    name = "other_builder"


def test_cli_without_backend_uses_the_only_builder_and_refuses_to_guess(tmp_path, capsys):
    from crystalgfn.registry import SESSION_DISTRIBUTION

    samples = tmp_path / "samples.csv"
    samples.write_text(
        "space_group,formula,a,b,c,alpha,beta,gamma\n225,Na4Cl4,5.64,5.64,5.64,90,90,90\n"
    )
    assert get_plugins().structure_builders.names() == ["pyxtal"]
    assert main(["structures", str(samples), "--out", str(tmp_path / "one")]) == 0
    assert (tmp_path / "one" / "metrics.json").exists()
    registry = get_plugins().structure_builders
    registry.add(_OtherBuilder, distribution=SESSION_DISTRIBUTION)
    try:
        capsys.readouterr()
        assert main(["structures", str(samples), "--out", str(tmp_path / "two")]) == 2
        assert "several structure builders are installed (other_builder, pyxtal); choose one " \
            "with --backend NAME" in capsys.readouterr().err
        # evaluate refuses too, before loading any oracle, for samples that need placing
        assert main(["evaluate", str(samples), "--out", str(tmp_path / "ev")]) == 2
        assert "several structure builders" in capsys.readouterr().err
        assert not (tmp_path / "two").exists() and not (tmp_path / "ev").exists()
    finally:
        registry.remove("other_builder")


def test_cli_without_backend_and_no_builder_says_what_to_install(tmp_path, capsys, monkeypatch):
    registry = get_plugins().structure_builders
    monkeypatch.setattr(registry, "_entries", {})
    samples = tmp_path / "samples.csv"
    samples.write_text(
        "space_group,formula,a,b,c,alpha,beta,gamma\n225,Na4Cl4,5.64,5.64,5.64,90,90,90\n"
    )
    assert main(["structures", str(samples), "--out", str(tmp_path / "o")]) == 2
    assert "no structure builder is installed" in capsys.readouterr().err

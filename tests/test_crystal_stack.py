"""The crystal stack end to end: every sample valid by independent checks, in both orders."""

import csv

import crystalgfn
import pytest
import torch
from crystalgfn.cli import main
from crystalgfn.policy import UniformPolicy
from crystalgfn.sampling import rollout
from crystalgfn.testing import check_env
from crystalgfn_spacegroup.wyckoff import wyckoff_assignment
from validity import check_crystals

pytest.importorskip("smact")


def test_contract(crystal_env):
    check_env(crystal_env, batch_size=128)


def test_every_space_group_finishes_with_valid_crystals(crystal_env):
    groups = crystal_env.parts[0].groups
    assert len(groups) == 230
    per_group = 3
    wanted = torch.tensor(groups).repeat_interleave(per_group)
    source = crystal_env.source(len(wanted))
    allowed = torch.zeros(len(wanted), 231, dtype=torch.bool)
    allowed[torch.arange(len(wanted)), wanted] = True
    source["spacegroup.allowed"] = allowed
    done = rollout(
        crystal_env,
        UniformPolicy(crystal_env),
        len(wanted),
        torch.Generator().manual_seed(0),
        source=source,
        record=False,
    )
    values = crystal_env.values(done)
    assert torch.equal(values["spacegroup"], wanted)
    assert check_crystals(values) == {"smact": 0, "wyckoff": 0, "lattice": 0}


@pytest.mark.slow(seconds=30)
def test_ten_thousand_uniform_samples_are_all_valid(crystal_env):
    done = rollout(
        crystal_env, UniformPolicy(crystal_env), 10_000, torch.Generator().manual_seed(1),
        record=False,
    )
    values = crystal_env.values(done)
    assert check_crystals(values) == {"smact": 0, "wyckoff": 0, "lattice": 0}
    assert len(set(values["spacegroup"].tolist())) > 200


def test_reverse_order_is_valid_too():
    env = crystalgfn.make_env(
        "composition+spacegroup+lattice", composition={"elements": ["Li", "Mn", "O"]}
    )
    done = check_env(env, batch_size=300)
    assert check_crystals(env.values(done)) == {"smact": 0, "wyckoff": 0, "lattice": 0}


def test_restricted_groups_prune_what_no_composition_fits():
    # Only one element with at most 3 atoms: groups whose smallest orbit has 4+ sites are pruned.
    env = crystalgfn.make_env(
        "spacegroup+composition",
        spacegroup={"crystal_systems": "cubic"},
        composition={"elements": ["Fe"], "max_atoms_per_element": 3},
    )
    for group in env.parts[0].groups:
        assert any(wyckoff_assignment(group, [n]) for n in range(1, 4))
    with pytest.raises(crystalgfn.InfeasibleError, match="Wyckoff positions"):
        crystalgfn.make_env(
            "spacegroup+composition",
            spacegroup={"space_groups": "225"},
            composition={"elements": ["Fe"], "max_atoms_per_element": 3},
        )


def test_cli_uniform_sampling_respects_restrictions(tmp_path):
    out = tmp_path / "samples.csv"
    assert main([
        "sample", "--policy", "uniform", "-n", "300", "--out", str(out), "--elements", "Fe,O",
        "--max-atoms-per-element", "10", "--space-groups", "195-230", "--lengths", "10:20",
        "--angles", "75:135",
    ]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 300
    required = (
        "space_group crystal_system lattice_system point_symmetry formula n_atoms n_elements "
        "a b c alpha beta gamma volume density"
    )
    assert set(required.split()) <= set(rows[0])
    for row in rows:
        assert 195 <= int(row["space_group"]) <= 230 and row["crystal_system"] == "cubic"
        assert all(10 <= float(row[x]) <= 20 for x in "abc")
        letters = "".join(c for c in row["formula"] if c.isalpha())
        assert set(letters.replace("Fe", "").replace("O", "")) == set()


def test_cli_rejects_a_bad_restriction(capsys):
    assert main(["sample", "-n", "5", "--out", "/tmp/never.csv", "--lengths", "20:10"]) == 2
    assert "--lengths expects LOW < HIGH" in capsys.readouterr().err

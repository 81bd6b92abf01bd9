"""Tables read from the disk cache are exactly the tables computed afresh."""

import crystalgfn
import numpy as np
import torch
from crystalgfn.cache import CACHE_DIR_VAR

OPTIONS = {"composition": {"elements": ["Li", "Fe", "O"], "max_atoms_per_element": 6}}


def _tables(env):
    composition = env.parts[1]
    automaton, tables = composition.automaton, composition.tables
    return {
        "transitions": automaton.transitions,
        "accepting": automaton.accepting,
        "size": automaton.size,
        "starts": np.array(sorted(automaton.starts.items())),
        "charged": tables.charged.numpy(),
        "neutral": tables.neutral.numpy(),
        "source": tables.source.numpy(),
        "max_charge": np.array(tables.max_charge),
    }


def _sample(env):
    from crystalgfn.policy import UniformPolicy
    from crystalgfn.sampling import rollout

    generator = torch.Generator().manual_seed(0)
    done = rollout(env, UniformPolicy(env), 64, generator, "cpu", record=False)
    return env.values(done)["composition"]


def test_cold_warm_and_uncached_builds_agree(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_VAR, "off")
    fresh = crystalgfn.make_env("spacegroup+composition", **OPTIONS)
    monkeypatch.setenv(CACHE_DIR_VAR, str(tmp_path))
    cold = crystalgfn.make_env("spacegroup+composition", **OPTIONS)
    assert any(tmp_path.rglob("*.npz"))
    warm = crystalgfn.make_env("spacegroup+composition", **OPTIONS)
    expected = _tables(fresh)
    for env in (cold, warm):
        got = _tables(env)
        for name, array in expected.items():
            assert got[name].dtype == array.dtype and np.array_equal(got[name], array), name
    assert torch.equal(_sample(warm), _sample(fresh))

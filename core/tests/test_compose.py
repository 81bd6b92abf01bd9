import crystalgfn
import pytest
import torch
from crystalgfn.errors import ConfigError, IncompatibleProxyError
from crystalgfn.testing import check_env


def test_single_env_gets_its_kwargs(plugins):
    env = crystalgfn.make_env("pick", n=3)
    assert env.n_actions == 3


def test_unknown_kwarg_lists_accepted(plugins):
    with pytest.raises(
        ConfigError,
        match=r"does not accept \['size'\]; accepted keyword arguments: \['n', 'allowed'\]",
    ):
        crystalgfn.make_env("pick", size=3)


def test_kwargs_for_a_part_not_in_the_spec(plugins):
    with pytest.raises(ConfigError, match=r"\['lattice'\] name no part of 'pick\+other'"):
        crystalgfn.make_env("pick+other", lattice={"n": 2})


def test_stack_applies_registered_constraint(plugins):
    env = crystalgfn.make_env("pick+other", pick={"n": 5}, other={"n": 3})
    # other < 3 and other >= pick, so pick is pruned to {0, 1, 2}
    assert env.parts[0].allowed == (0, 1, 2)
    done = check_env(env, batch_size=200)
    values = env.values(done)
    assert bool((values["other"] >= values["pick"]).all())
    assert set(values["pick"].tolist()) == {0, 1, 2}


def test_reverse_order_has_no_constraint(plugins):
    env = crystalgfn.make_env("other+pick")
    assert env.constraints == ()
    check_env(env)


def test_stack_restriction_is_routed_to_the_part(plugins):
    env = crystalgfn.make_env("pick+other").restrict(allowed=[1])
    with pytest.raises(ConfigError, match="unknown restriction"):
        env.restrict(elements=["Fe"])


def test_proxy_requiring_a_missing_part(plugins):
    class NeedsLattice(crystalgfn.Proxy):
        name = "needs_lattice"
        requires = ("lattice",)

        def predict(self, batch):
            return torch.zeros(batch["lattice"].shape[0])

    env = crystalgfn.make_env("pick+other")
    with pytest.raises(IncompatibleProxyError) as info:
        crystalgfn.check_compatible(env, NeedsLattice())
    message = str(info.value)
    assert "'needs_lattice' reads ['lattice']" in message and "'pick+other'" in message
    assert "missing ['lattice']" in message


def test_proxy_call_reports_missing_part():
    class NeedsLattice(crystalgfn.Proxy):
        name = "needs_lattice"
        requires = ("lattice",)

        def predict(self, batch):
            return torch.zeros(batch["lattice"].shape[0])

    with pytest.raises(ConfigError, match=r"lacks \['lattice'\]"):
        NeedsLattice()({"composition": torch.zeros(2, 119)})


def test_check_env_catches_a_mask_columns_override_that_disagrees(plugins):
    env = crystalgfn.make_env("pick", n=4)

    class Wrong(type(env)):
        def mask_columns(self, state, forward=True):
            columns, block = super().mask_columns(state, forward)
            return columns, ~block  # the right columns, the wrong entries

    wrong = Wrong.__new__(Wrong)
    wrong.__dict__.update(env.__dict__)
    with pytest.raises(AssertionError, match="mask_columns disagrees with forward_mask"):
        check_env(wrong)

import pytest

import crystalgfn
from crystalgfn.errors import DuplicateNameError, UnknownNameError
from crystalgfn.registry import Registry


def test_unknown_name_suggests_and_lists_installed():
    with pytest.raises(UnknownNameError) as info:
        crystalgfn.make_loss("tbb")
    message = str(info.value)
    assert "unknown loss 'tbb'" in message
    assert "Did you mean 'tb'?" in message
    assert "Installed loss names: " in message and "tb" in message
    assert isinstance(info.value, KeyError)


def test_unknown_env_name_in_a_spec(plugins):
    with pytest.raises(UnknownNameError, match=r"unknown environment 'pik'\. Did you mean 'pick'\?"):
        crystalgfn.make_env("pik+other")


def test_duplicate_name_names_both_distributions():
    registry = Registry("proxy")

    class A:
        name = "hardness"

    registry.add(A, distribution="crystalgfn-hardness")
    with pytest.raises(DuplicateNameError) as info:
        registry.add(A, distribution="other-hardness")
    assert "'crystalgfn-hardness'" in str(info.value) and "'other-hardness'" in str(info.value)


def test_factory_without_name_is_rejected():
    with pytest.raises(ValueError, match="has no 'name'"):
        Registry("proxy").add(object, distribution="x")

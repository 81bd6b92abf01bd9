import crystalgfn
import pytest
from crystalgfn.errors import DuplicateNameError, PluginLoadError, UnknownNameError
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
    with pytest.raises(
        UnknownNameError, match=r"unknown environment 'pik'\. Did you mean 'pick'\?"
    ):
        crystalgfn.make_env("pik+other")


def test_duplicate_name_names_both_distributions():
    registry = Registry("proxy")

    class A:
        name = "hardness"

    registry.add(A, distribution="crystalgfn-hardness")
    registry.add(A, distribution="other-hardness")  # recorded, refused when used
    with pytest.raises(DuplicateNameError) as info:
        registry.get("hardness")
    assert "'crystalgfn-hardness'" in str(info.value) and "'other-hardness'" in str(info.value)
    registry.remove_distribution("crystalgfn-hardness")  # the other one then takes the name
    assert registry.get("hardness").distribution == "other-hardness"


def test_factory_without_name_is_rejected():
    with pytest.raises(PluginLoadError, match="has no 'name'"):
        Registry("proxy").add(object, distribution="x")


def test_reference_is_imported_on_first_use():
    registry = Registry("proxy")
    entry = registry.add("collections:OrderedDict", "ordered", distribution="x")
    assert not entry.loaded
    import collections

    assert registry.get("ordered").factory is collections.OrderedDict and entry.loaded


def test_reference_needs_a_name_and_a_colon():
    with pytest.raises(PluginLoadError, match="needs name="):
        Registry("proxy").add("collections:OrderedDict", distribution="x")
    entry = Registry("proxy").add("collections.OrderedDict", "bad", distribution="crystalgfn-x")
    with pytest.raises(PluginLoadError, match="'package.module:Attribute'"):
        _ = entry.factory


def test_broken_reference_names_its_distribution():
    entry = Registry("proxy").add("no_such_module_xyz:Thing", "thing", distribution="crystalgfn-x")
    with pytest.raises(PluginLoadError) as info:
        _ = entry.factory
    message = str(info.value)
    assert "'crystalgfn-x'" in message and "ModuleNotFoundError" in message


def test_unknown_name_headline_is_the_message_without_the_list():
    from crystalgfn.errors import UnknownNameError

    error = UnknownNameError("element", "Naa", ["Na", "O"])
    assert error.headline == "unknown element 'Naa'. Did you mean 'Na'?"
    assert str(error) == error.headline + " Installed element names: Na, O."
    assert UnknownNameError("element", "Zz", ["O"]).headline == "unknown element 'Zz'."

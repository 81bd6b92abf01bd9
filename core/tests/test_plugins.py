import json

import crystalgfn
import pytest
from crystalgfn.cli import main
from crystalgfn.errors import DuplicateNameError, UnknownNameError
from crystalgfn.plugins import BLOCK_ENV_VAR, get_plugins

GOOD_PROXY = """
    import torch
    import crystalgfn

    class Mass(crystalgfn.Proxy):
        name = "{name}"
        requires = ("composition",)
        unit = "atoms"
        def predict(self, batch):
            return batch["composition"].sum(dim=1).float()

    @crystalgfn.hookimpl
    def register_proxies(register):
        register(Mass)
"""


def test_builtins_register_through_the_hooks():
    plugins = get_plugins()
    assert plugins.losses.get("tb").distribution == "crystalgfn"


def test_plugin_found_through_entry_points(fake_distribution):
    fake_distribution("crystalgfn-mass", "mass_plugin", GOOD_PROXY.format(name="mass"))
    entry = get_plugins().proxies.get("mass")
    assert entry.distribution == "crystalgfn-mass"
    assert get_plugins().versions["crystalgfn-mass"] == "1.2.3"


def test_import_failure_is_reported_and_others_still_load(fake_distribution, capsys):
    fake_distribution("crystalgfn-mass", "mass_plugin", GOOD_PROXY.format(name="mass"))
    fake_distribution("crystalgfn-broken", "broken_plugin", "import not_a_module_anywhere\n")
    plugins = get_plugins()
    assert "mass" in plugins.proxies
    [failure] = plugins.failures
    assert failure.distribution == "crystalgfn-broken"
    assert "ModuleNotFoundError" in failure.error
    assert main(["plugins"]) == 0
    table = capsys.readouterr().out
    assert "crystalgfn-broken" in table and "FAILED" in table and "not_a_module_anywhere" in table


def test_duplicate_name_is_refused_when_used_not_at_load(fake_distribution, capsys):
    fake_distribution("crystalgfn-mass-a", "mass_a", GOOD_PROXY.format(name="mass"))
    fake_distribution("crystalgfn-mass-b", "mass_b", GOOD_PROXY.format(name="mass"))
    plugins = get_plugins()  # every other name still works
    assert plugins.losses.get("tb").distribution == "crystalgfn"
    with pytest.raises(DuplicateNameError) as info:
        plugins.proxies.get("mass")
    assert "'crystalgfn-mass-a'" in str(info.value) and "'crystalgfn-mass-b'" in str(info.value)
    assert main(["plugins"]) == 0
    table = capsys.readouterr().out
    assert "CONFLICT" in table and "CRYSTALGFN_BLOCK_PLUGINS" in table


def test_blocked_plugin_is_not_loaded(fake_distribution, monkeypatch):
    fake_distribution("crystalgfn-mass-a", "mass_a", GOOD_PROXY.format(name="mass"))
    fake_distribution("crystalgfn-mass-b", "mass_b", GOOD_PROXY.format(name="mass"))
    monkeypatch.setenv(BLOCK_ENV_VAR, "crystalgfn-mass-b")
    assert get_plugins().proxies.get("mass").distribution == "crystalgfn-mass-a"


def test_misspelt_hook_is_reported_and_others_still_load(fake_distribution, capsys):
    fake_distribution("crystalgfn-mass", "mass_plugin", GOOD_PROXY.format(name="mass"))
    fake_distribution(
        "crystalgfn-typo",
        "typo_plugin",
        """
        import crystalgfn

        @crystalgfn.hookimpl
        def register_proxy(register):
            pass
        """,
    )
    plugins = get_plugins()
    assert "mass" in plugins.proxies
    [failure] = plugins.failures
    assert failure.distribution == "crystalgfn-typo"
    assert "register_proxy" in failure.error and "register_proxies" in failure.error
    assert main(["plugins"]) == 0
    assert "FAILED" in capsys.readouterr().out


RAISING_HOOK = """
    import crystalgfn

    class Hardness(crystalgfn.Proxy):
        name = "hardness"
        requires = ("composition",)
        def predict(self, batch):
            raise NotImplementedError

    @crystalgfn.hookimpl
    def register_proxies(register):
        register(Hardness)
        raise RuntimeError("weights not found")
"""

WRONG_REGISTER_CALL = """
    import crystalgfn

    @crystalgfn.hookimpl
    def register_proxies(register):
        register("hardness", "a", "b")
"""


@pytest.mark.parametrize(
    "module, source, expected",
    [
        ("raising_plugin", RAISING_HOOK, "RuntimeError: weights not found"),
        ("wrong_call_plugin", WRONG_REGISTER_CALL, "TypeError"),
    ],
    ids=["hook-raises", "wrong-register-arguments"],
)
def test_failing_hook_is_withdrawn_and_named_by_unknown_names(
    fake_distribution, capsys, module, source, expected
):
    fake_distribution("crystalgfn-mass", "mass_plugin", GOOD_PROXY.format(name="mass"))
    fake_distribution("crystalgfn-hardness", module, source)
    plugins = get_plugins()
    assert "mass" in plugins.proxies
    assert "hardness" not in plugins.proxies  # what it registered before failing is withdrawn
    [failure] = plugins.failures
    assert failure.distribution == "crystalgfn-hardness" and expected in failure.error
    with pytest.raises(UnknownNameError) as info:
        crystalgfn.make_proxy("hardness")
    message = str(info.value)
    assert "failed to load" in message and "crystalgfn-hardness" in message and expected in message
    assert main(["plugins"]) == 0
    table = capsys.readouterr().out
    assert "crystalgfn-hardness" in table and "FAILED" in table


def test_registered_by_reference_is_imported_only_when_built(fake_distribution):
    fake_distribution(
        "crystalgfn-lazy",
        "lazy_plugin",
        """
        import crystalgfn

        @crystalgfn.hookimpl
        def register_proxies(register):
            register("lazy_plugin_proxy:Mass", name="mass")
        """,
    )
    root = fake_distribution(
        "crystalgfn-lazy-impl", "lazy_plugin_proxy", GOOD_PROXY.format(name="mass")
    )
    # The implementation module is not a plugin itself: drop its entry point.
    next(root.glob("*.dist-info")).joinpath("entry_points.txt").write_text("")
    import sys

    entry = get_plugins().proxies.get("mass")
    assert entry.distribution == "crystalgfn-lazy" and "lazy_plugin_proxy" not in sys.modules
    proxy = crystalgfn.make_proxy("mass")
    assert type(proxy).__name__ == "Mass" and "lazy_plugin_proxy" in sys.modules


def test_notebook_registration_round_trip():
    @crystalgfn.register_proxy
    class Constant(crystalgfn.Proxy):
        name = "constant_for_test"
        requires = ()

        def predict(self, batch):
            import torch

            return torch.ones(3)

    try:
        proxy = crystalgfn.make_proxy("constant_for_test")
        assert proxy({}).tolist() == [1.0, 1.0, 1.0]
        assert get_plugins().proxies.get("constant_for_test").distribution == "(session)"
    finally:
        crystalgfn.unregister_proxy("constant_for_test")
    assert "constant_for_test" not in get_plugins().proxies


def test_cli_json_lists_builtins_with_their_distribution(capsys):
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_dist = {p["distribution"]: p for p in report["plugins"]}
    assert "tb" in by_dist["crystalgfn"]["losses"]
    assert by_dist["crystalgfn"]["version"] == crystalgfn.__version__


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"crystalgfn {crystalgfn.__version__}"


DESCRIBING_PROXY = """
    import crystalgfn

    class Mass(crystalgfn.Proxy):
        name = "atoms_counted"
        requires = ("composition",)
        unit = "atoms"
        def predict(self, batch):
            return 10.0 * batch["composition"].sum(dim=1).double()

    class Hidden(Mass):
        name = "atoms_hidden"

    @crystalgfn.hookimpl
    def register_proxies(register):
        register(Mass, describes=True)
        register(Hidden)
"""


def test_a_proxy_registered_as_describing_gets_a_column_in_sample_tables(
    fake_distribution, tmp_path
):
    import csv

    fake_distribution("crystalgfn-counted", "counted_plugin", DESCRIBING_PROXY)
    plugins = get_plugins()
    assert plugins.proxies.get("atoms_counted").details == {"describes": True}
    assert plugins.proxies.get("atoms_hidden").details == {"describes": False}
    out = tmp_path / "samples.csv"
    assert main(["sample", "--env", "composition", "-n", "6", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and "atoms_hidden" not in rows[0]
    assert all(float(r["atoms_counted"]) == 10 * int(r["n_atoms"]) for r in rows)
    # an environment without the parts the proxy requires gets no such column
    out = tmp_path / "lattices.csv"
    assert main(["sample", "--env", "lattice", "-n", "3", "--out", str(out)]) == 0
    header = next(csv.reader(out.open()))
    assert "atoms_counted" not in header and "volume" in header


def test_describes_must_be_a_bool(fake_distribution):
    source = DESCRIBING_PROXY.replace("register(Mass, describes=True)",
                                      "register(Mass, describes='yes')")
    fake_distribution("crystalgfn-counted-bad", "counted_bad_plugin", source)
    plugins = get_plugins()
    assert "atoms_counted" not in plugins.proxies
    [failure] = plugins.failures
    assert "'describes' must be True or False, got 'yes'" in failure.error

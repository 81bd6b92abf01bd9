import json

import pytest

import crystalgfn
from crystalgfn.cli import main
from crystalgfn.errors import DuplicateNameError, PluginLoadError
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


def test_duplicate_name_across_distributions(fake_distribution):
    fake_distribution("crystalgfn-mass-a", "mass_a", GOOD_PROXY.format(name="mass"))
    fake_distribution("crystalgfn-mass-b", "mass_b", GOOD_PROXY.format(name="mass"))
    with pytest.raises(DuplicateNameError) as info:
        get_plugins()
    assert "'crystalgfn-mass-a'" in str(info.value) and "'crystalgfn-mass-b'" in str(info.value)


def test_blocked_plugin_is_not_loaded(fake_distribution, monkeypatch):
    fake_distribution("crystalgfn-mass-a", "mass_a", GOOD_PROXY.format(name="mass"))
    fake_distribution("crystalgfn-mass-b", "mass_b", GOOD_PROXY.format(name="mass"))
    monkeypatch.setenv(BLOCK_ENV_VAR, "crystalgfn-mass-b")
    assert get_plugins().proxies.get("mass").distribution == "crystalgfn-mass-a"


def test_misspelt_hook_fails_loudly(fake_distribution):
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
    with pytest.raises(PluginLoadError) as info:
        get_plugins()
    message = str(info.value)
    assert "crystalgfn-typo" in message and "register_proxy" in message
    assert "register_proxies" in message


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

"""Documentation stays in step with the code."""

from pathlib import Path

from crystalgfn import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_hook_has_a_section():
    text = (DOCS / "plugin-hooks.md").read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks, "no hooks found"
    missing = [name for name in hooks if f"## {name}" not in text]
    assert not missing, f"hooks without a section in docs/plugin-hooks.md: {missing}"


def test_writing_plugins_quotes_the_example_verbatim():
    guide = (DOCS / "writing-plugins.md").read_text()
    example = (DOCS / "examples" / "crystalgfn-volume-per-atom" / "crystalgfn_volume_per_atom.py").read_text()
    body = example.split('"""', 2)[2].strip()
    proxy_class = body.split("@crystalgfn.hookimpl")[0].strip()
    assert proxy_class in guide

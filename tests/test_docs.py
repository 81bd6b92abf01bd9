"""Documentation stays in step with the code."""

import re
from pathlib import Path

import pytest
from crystalgfn import hookspecs
from crystalgfn.config import RunConfig

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_hook_has_a_section():
    text = (DOCS / "plugin-hooks.md").read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks, "no hooks found"
    missing = [name for name in hooks if f"## {name}" not in text]
    assert not missing, f"hooks without a section in docs/plugin-hooks.md: {missing}"


EXAMPLE = DOCS / "examples" / "crystalgfn-volume-per-atom"


def code_blocks(path: Path, language: str) -> list[str]:
    """The fenced ``language`` code blocks of a Markdown file, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


def test_writing_plugins_quotes_the_whole_example():
    """Sections 1 and 2 of the guide are, together, the example module's code, and section 3
    is its pyproject.toml: a reader who copies the guide gets the package the tests install."""
    guide = DOCS / "writing-plugins.md"
    module = (EXAMPLE / "crystalgfn_volume_per_atom.py").read_text(encoding="utf-8")
    code = module.split('"""', 2)[2].strip()  # the module without its docstring
    proxy_class, hook = code_blocks(guide, "python")[:2]
    assert proxy_class.strip() + "\n\n\n" + hook.strip() == code

    (guide_toml,) = code_blocks(guide, "toml")
    example_toml = (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
    assert tomllib.loads(guide_toml) == tomllib.loads(example_toml)


ENV_EXAMPLE = DOCS / "examples" / "crystalgfn-formula-units" / "crystalgfn_formula_units"


def test_writing_an_environment_quotes_the_example_package():
    """The code blocks of "Writing an environment" up to "Restrictions" are verbatim excerpts
    of the example environment package (its env.py and its plugin.py hook)."""
    guide = (DOCS / "writing-plugins.md").read_text(encoding="utf-8")
    section = guide.split("## Writing an environment", 1)[1].split("**Restrictions.**", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    env = (ENV_EXAMPLE / "env.py").read_text(encoding="utf-8")
    plugin = (ENV_EXAMPLE / "plugin.py").read_text(encoding="utf-8")
    assert len(blocks) == 3, blocks
    assert blocks[0] in env and "class FormulaUnitsEnv(Environment):" in blocks[0]
    assert blocks[1] in env and "def forward_mask" in blocks[1]
    assert blocks[2].strip() == plugin.split('"""', 2)[2].strip()


def run_config_snippets() -> dict[str, str]:
    """Every TOML snippet in docs/ that is a run config (not a pyproject.toml), by place."""
    snippets = {}
    for path in sorted(DOCS.glob("*.md")):
        for number, text in enumerate(code_blocks(path, "toml"), start=1):
            if "project" not in tomllib.loads(text):
                snippets[f"{path.name}#{number}"] = text
    return snippets


def test_the_docs_show_a_run_config():
    assert "training.md#1" in run_config_snippets()


@pytest.mark.parametrize("where", sorted(run_config_snippets()))
def test_every_run_config_in_the_docs_is_accepted_and_builds(where):
    """What the docs show as a run config passes the config validation and builds."""
    text = run_config_snippets()[where]
    config = RunConfig.from_dict(tomllib.loads(text))
    config.settings()
    env = config.build_env()
    config.build_reward(env)
    config.build_loss()

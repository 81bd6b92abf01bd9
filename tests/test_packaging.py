"""Every distribution of the monorepo is publishable as it is: complete metadata, LICENSE,
README, declared imports, one version, ranges on internal dependencies, and a lock file
(constraints.txt) that the setup uses. Building and installing the wheels is
scripts/check_wheels.sh (run by CI), not a test: it takes minutes."""

from __future__ import annotations

import ast
import os
import re
import runpy
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DIRS = sorted(
    str(p.parent.relative_to(ROOT))
    for p in [ROOT / "core" / "pyproject.toml", *ROOT.glob("plugins/*/pyproject.toml"),
              *ROOT.glob("proxies/*/pyproject.toml")]
    if p.is_file()
)
PROJECTS = {
    d: tomllib.loads((ROOT / d / "pyproject.toml").read_text(encoding="utf-8")) for d in DIRS
}
NAMES = {d: canonicalize_name(PROJECTS[d]["project"]["name"]) for d in DIRS}
OWN = set(NAMES.values())
REPO = "https://github.com/crystal-gfn/crystal-gfn"
URLS = {"Homepage": REPO, "Documentation": f"{REPO}/tree/main/docs", "Issues": f"{REPO}/issues"}
REQUIRED_CLASSIFIERS = {
    "Intended Audience :: Science/Research",
    "Topic :: Scientific/Engineering :: Chemistry",
    "Topic :: Scientific/Engineering :: Physics",
    *(f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 14)),
}
#: Import names of packages the test environment does not install (optional extras).
IMPORT_ALIASES = {"sklearn": "scikit-learn"}


def test_the_ten_distributions_are_found():
    assert set(NAMES.values()) >= {
        "crystalgfn", "crystalgfn-spacegroup", "crystalgfn-composition", "crystalgfn-lattice",
        "crystalgfn-structures", "crystalgfn-mlip", "crystalgfn-mlp",
        "crystalgfn-formation-energy", "crystalgfn-band-gap", "crystalgfn-density",
    }


def test_root_license_is_mit():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The Crystal-GFN authors" in text


@pytest.mark.parametrize("d", DIRS)
def test_distribution_ships_the_root_license(d):
    # setuptools cannot reference files above the project directory: each has a copy
    copy = ROOT / d / "LICENSE"
    assert copy.is_file(), f"{d}/LICENSE is missing: cp LICENSE {d}/"
    assert copy.read_bytes() == (ROOT / "LICENSE").read_bytes(), f"{d}/LICENSE differs from LICENSE"
    assert PROJECTS[d]["project"].get("license-files") == ["LICENSE"]


@pytest.mark.parametrize("d", DIRS)
def test_metadata_is_complete(d):
    project = PROJECTS[d]["project"]
    readme = ROOT / d / project.get("readme", "<no readme key>")
    assert readme.is_file(), f"{d}: readme {project.get('readme')!r} is missing"
    text = readme.read_text(encoding="utf-8")
    assert text.startswith(f"# {project['name']}\n") and len(text) > 300, f"{d}: README too thin"
    assert project.get("license") == "MIT"  # an SPDX expression (PEP 639)
    assert project.get("authors") and all(a.get("name") for a in project["authors"])
    assert {k: v for k, v in project.get("urls", {}).items() if k in URLS} == URLS
    classifiers = set(project.get("classifiers", []))
    assert REQUIRED_CLASSIFIERS <= classifiers, sorted(REQUIRED_CLASSIFIERS - classifiers)
    # PEP 639: the license expression replaces License classifiers (setuptools refuses both)
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert project.get("requires-python") == ">=3.10"
    assert project.get("description")
    requires = [Requirement(r) for r in PROJECTS[d]["build-system"]["requires"]]
    setuptools = next(r for r in requires if r.name == "setuptools")
    assert not setuptools.specifier.contains("76.9"), "license expressions need setuptools>=77"


@pytest.mark.parametrize("d", DIRS)
def test_internal_dependencies_have_ranges(d):
    project = PROJECTS[d]["project"]
    versions = {NAMES[o]: Version(PROJECTS[o]["project"]["version"]) for o in DIRS}
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name not in OWN or name == NAMES[d]:  # third party, or an extra of itself
            continue
        spec = req.specifier
        bounded = any(s.operator in ("<", "~=", "==") for s in spec)
        assert bounded, f"{d}: {text!r} has no upper bound"
        assert spec.contains(versions[name]), f"{d}: {text!r} excludes {name} {versions[name]}"


def _imports(source: Path):
    """(top-level module, lazy) of every absolute import in ``source``; ``lazy``: inside a
    function or class. Imports under ``if TYPE_CHECKING:`` are skipped."""
    tree = ast.parse(source.read_text(encoding="utf-8"))

    def walk(node, lazy):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name.split(".")[0], lazy
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child.module.split(".")[0], lazy
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            yield from walk(child, inner)

    yield from walk(tree, False)


@pytest.mark.parametrize("d", DIRS)
def test_every_import_is_declared(d):
    """A module-level import needs a dependency; one inside a function at least an extra."""
    project = PROJECTS[d]["project"]
    required = {canonicalize_name(Requirement(r).name) for r in project.get("dependencies", [])}
    optional = {canonicalize_name(Requirement(r).name)
                for extra in project.get("optional-dependencies", {}).values() for r in extra}
    own_modules = {p.name: NAMES[o] for o in DIRS for p in (ROOT / o / "src").iterdir()
                   if p.is_dir() and not p.name.endswith(".egg-info")}
    installed = metadata.packages_distributions()
    missing = []
    for source in sorted((ROOT / d / "src").rglob("*.py")):
        for module, lazy in _imports(source):
            if module in sys.stdlib_module_names:
                continue
            if module in own_modules:
                dists = {own_modules[module]}
                if own_modules[module] == NAMES[d]:
                    continue
            else:
                dists = {canonicalize_name(n) for n in installed.get(module, [])}
                dists = dists or {canonicalize_name(IMPORT_ALIASES.get(module, module))}
            declared = required | (optional if lazy else set())
            if not dists & declared:
                kind = "lazy import" if lazy else "import"
                where = source.relative_to(ROOT)
                missing.append(f"{where}: {kind} of {module} ({'/'.join(sorted(dists))})")
    assert not missing, f"{d}/pyproject.toml does not declare:\n" + "\n".join(sorted(set(missing)))


def test_config_reads_toml_with_tomli_before_python_311(tmp_path):
    """``requires-python >= 3.10``: without the standard library's tomllib (as on 3.10) the
    config loader falls back to tomli, which the core declares for Python < 3.11."""
    deps = [Requirement(r) for r in PROJECTS["core"]["project"]["dependencies"]]
    tomli = [r for r in deps if r.name == "tomli"]
    assert tomli and tomli[0].marker is not None
    assert tomli[0].marker.evaluate({"python_version": "3.10"})
    assert not tomli[0].marker.evaluate({"python_version": "3.11"})
    # Simulate 3.10: importing tomllib fails; "tomli" is the same parser under its PyPI name.
    script = """
import sys, tomllib
sys.modules["tomli"] = tomllib
sys.modules["tomllib"] = None
for name in [m for m in sys.modules if m == "crystalgfn.config"]:
    del sys.modules[name]
import crystalgfn.config as config
assert config.tomllib is sys.modules["tomli"], config.tomllib
print(config.tomllib.loads('steps = 3')["steps"])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


def _packages(d):
    return [p for p in (ROOT / d / "src").iterdir()
            if p.is_dir() and (p / "__init__.py").is_file()]


@pytest.mark.parametrize("d", DIRS)
def test_version_is_written_once(d):
    """The version lives in pyproject.toml only; ``__version__`` comes from the metadata."""
    literal = re.compile(r"^__version__\s*=\s*['\"]", re.M)
    for package in _packages(d):
        for source in package.rglob("*.py"):
            assert not literal.search(source.read_text(encoding="utf-8")), (
                f"{source.relative_to(ROOT)} writes __version__ literally; import it from "
                f"{package.name}._version"
            )


@pytest.mark.parametrize("d", DIRS)
def test_version_module_reads_the_metadata(d, monkeypatch):
    for package in _packages(d):
        module = package / "_version.py"
        if not module.is_file():
            continue
        name = PROJECTS[d]["project"]["name"]
        assert runpy.run_path(str(module))["__version__"] == metadata.version(name)

        def not_installed(dist):
            raise metadata.PackageNotFoundError(dist)

        monkeypatch.setattr(metadata, "version", not_installed)
        assert runpy.run_path(str(module))["__version__"] == "0+unknown"
        monkeypatch.undo()


def _pins():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([0-9][A-Za-z0-9.!]*)", line)
        assert match, f"constraints.txt: {line!r} is not NAME==VERSION (no local label)"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = Version(match.group(2))
    return pins


def test_constraints_pin_what_the_setup_installs():
    pins = _pins()
    assert pins.get("torch") == Version("2.13.0")
    assert not OWN & set(pins), "constraints.txt must not pin the repository's own packages"
    wanted = []
    for d in DIRS:
        project = PROJECTS[d]["project"]
        wanted += project.get("dependencies", [])
        if NAMES[d] == "crystalgfn":
            wanted += project["optional-dependencies"]["report"]
    for line in (ROOT / "requirements-test.txt").read_text(encoding="utf-8").splitlines():
        if line.split("#", 1)[0].strip():
            wanted.append(line.split("#", 1)[0].strip())
    problems = []
    for text in wanted:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name in OWN or (req.marker is not None and not req.marker.evaluate()):
            continue
        if name not in pins:
            problems.append(f"{text!r} has no pin")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{text!r} excludes the pin {name}=={pins[name]}")
    hint = "constraints.txt (regenerate: bash scripts/update_constraints.sh):\n"
    assert not problems, hint + "\n".join(problems)


def test_installed_versions_are_the_pinned_ones():
    """The tests run on the locked versions (scripts/setup.sh installs with -c constraints.txt)."""
    drift = []
    for name, pinned in _pins().items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue
        if Version(installed.public) != pinned:
            drift.append(f"{name}: installed {installed}, pinned {pinned}")
    assert not drift, "\n".join(drift)


@pytest.mark.parametrize("script", ["scripts/setup.sh", "scripts/check_wheels.sh"])
def test_every_pip_install_uses_the_constraints(script):
    """Installs go through a ``PIP=(... pip install ... -c .../constraints.txt)`` array."""
    code = [line for line in (ROOT / script).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    arrays = [line for line in code if re.match(r"\s*PIP=\(", line)]
    assert arrays and all(re.search(r"pip install .*-c \S*constraints\.txt", a) for a in arrays)
    assert any('"${PIP[@]}"' in line for line in code)
    direct = [line.strip() for line in code if "pip install" in line and line not in arrays]
    assert not direct, f"{script}: pip install without the constraints: {direct}"


README_PLUGINS = ["spacegroup", "composition", "lattice", "structures"]


@pytest.mark.slow
@pytest.mark.parametrize("plugin", README_PLUGINS)
def test_plugin_readme_examples_run(plugin, tmp_path):
    """The commands and the Python of the plugin READMEs work as written."""
    text = (ROOT / "plugins" / plugin / "README.md").read_text(encoding="utf-8")
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S)).replace("\\\n", " ")
    commands = [c for c in shell.splitlines() if c.strip() and not c.startswith("pip install")]
    python = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    assert commands and python
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for command in commands:
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
    done = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

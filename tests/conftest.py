import crystalgfn
import pytest
from installed_examples import installed_examples


@pytest.fixture(scope="session")
def crystal_env():
    """The paper's default crystal stack: 230 groups, 22 elements, <= 16 atoms, 5 elements."""
    return crystalgfn.make_env("crystal")


@pytest.fixture(scope="session")
def installed_example(tmp_path_factory):
    """The worked example proxy plugin (docs/examples/crystalgfn-volume-per-atom)."""
    with installed_examples(tmp_path_factory.mktemp("example"), "crystalgfn-volume-per-atom"):
        yield

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


def _expected_seconds(item) -> float:
    """A test's expected duration: ``@pytest.mark.slow(seconds=...)`` where given (measured
    on a 2-core machine), 10 s for other slow tests, 0 for the rest."""
    marker = item.get_closest_marker("slow")
    if marker is None:
        return 0.0
    return float(marker.kwargs.get("seconds", 10))


def pytest_collection_modifyitems(items):
    """Longest tests first. Run on several workers (scripts/test.sh), the suite then ends when
    its total work divided by the workers does, not when a long test started last does."""
    items.sort(key=_expected_seconds, reverse=True)  # stable: the rest keep their order

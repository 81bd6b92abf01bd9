import pytest

import crystalgfn


@pytest.fixture(scope="session")
def crystal_env():
    """The paper's default crystal stack: 230 groups, 22 elements, <= 16 atoms, 5 elements."""
    return crystalgfn.make_env("crystal")

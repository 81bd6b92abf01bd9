from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "mp_slice.csv").exists():
        pytest.skip(f"test slice not found under {DATA}")
    return DATA

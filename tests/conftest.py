import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import minigen

settings.register_profile(
    "ci",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_shared_data = Path(__file__).resolve().parents[2] / "shared" / "data"
if "MINIGEN_DATA" not in os.environ and _shared_data.is_dir():
    os.environ["MINIGEN_DATA"] = str(_shared_data)


def pytest_collection_modifyitems(config, items):
    if minigen.cuda_is_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seeded():
    minigen.manual_seed(0)
    yield

import pytest

from tests.helpers import make_training_shards


@pytest.fixture(scope="session")
def training_shards(tmp_path_factory):
    """Tiny synthetic shards (32 px, 3 subjects × 8 actions), built once per test session."""
    return make_training_shards(tmp_path_factory.mktemp("training-data"))

import pytest

from tests.helpers import make_training_shards


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Every test runs in its own folder, with DVC/git config kept inside it: nothing touches the
    checkout or the user's home."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / ".dvc-site"))
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / ".dvc-global"))
    monkeypatch.setenv("DVCLIVE_OPEN", "false")
    for var, value in {"GIT_AUTHOR_NAME": "g3an tests", "GIT_AUTHOR_EMAIL": "tests@g3an.invalid",
                       "GIT_COMMITTER_NAME": "g3an tests", "GIT_COMMITTER_EMAIL": "tests@g3an.invalid"}.items():
        monkeypatch.setenv(var, value)


@pytest.fixture(scope="session")
def training_shards(tmp_path_factory):
    """Tiny synthetic shards (32 px, 3 subjects × 8 actions), built once per test session."""
    return make_training_shards(tmp_path_factory.mktemp("training-data"))

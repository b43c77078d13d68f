"""The pipeline project the stage tests share: one real `dvc repro` of the tiny pipeline."""

import os

import pytest

from tests.helpers import make_project, ran, run


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """A git + DVC project after one full tiny `dvc repro`, committed. Tests that change it commit
    what they change (or undo it), so later tests see a clean, reproduced project."""
    base = tmp_path_factory.mktemp("dvc")
    for k, v in {"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(base / "site"),
                 "DVC_GLOBAL_CONFIG_DIR": str(base / "global"), "GIT_AUTHOR_NAME": "t",
                 "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid"}.items():
        os.environ[k] = v
    a = make_project(base / "a")
    first = run(["dvc", "repro"], a)
    assert ran(first.stdout) == ["download", "preprocess", "train", "train-evaluator", "evaluate", "render", "report"]
    run(["git", "add", "-A"], a)
    run(["git", "commit", "-qm", "default run"], a)
    return a

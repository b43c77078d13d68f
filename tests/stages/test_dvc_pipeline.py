"""The pipeline as users run it: real dvc, real git, tiny params, in a temp folder."""

import json
import re

import pytest
import yaml

from tests.helpers import make_project, run


def _ran(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import os

    base = tmp_path_factory.mktemp("dvc")
    for k, v in {"DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(base / "site"),
                 "DVC_GLOBAL_CONFIG_DIR": str(base / "global"), "GIT_AUTHOR_NAME": "t",
                 "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid"}.items():
        os.environ[k] = v
    a = make_project(base / "a")
    first = run(["dvc", "repro"], a)
    assert _ran(first.stdout) == ["download", "preprocess", "train", "train-evaluator", "evaluate", "render"]
    run(["git", "add", "-A"], a)
    run(["git", "commit", "-qm", "default run"], a)
    return a


def test_repro_produces_metrics_figures_and_a_second_repro_does_nothing(project):
    metrics = json.loads((project / "results" / "evaluate" / "metrics.json").read_text())
    assert "fd_cls256_16f" in metrics and "dis_disentanglement_16f" in metrics
    assert (project / "runs" / "render" / "figures" / "c4_motion_switch.png").exists()
    again = run(["dvc", "repro"], project)
    assert _ran(again.stdout) == []
    shown = run(["dvc", "metrics", "show", "--json"], project).stdout
    assert "fd_cls256_16f" in shown and "loss_d_video" in shown
    plots = run(["dvc", "plots", "show", "--json"], project).stdout
    assert "c4_motion_switch.png" in plots and "loss_g_video" in plots
    assert run(["git", "status", "--porcelain"], project).stdout.strip() == ""  # nothing big leaks into git


def test_changing_a_train_param_reruns_train_and_what_follows(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["steps"] = 6
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro"], project)
    assert _ran(out.stdout) == ["train", "evaluate", "render"]
    assert "resuming" in out.stderr  # steps grew, params hash unchanged: the persisted run continues
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "longer"], project)


def test_dvc_exp_run_and_show(project):
    run(["dvc", "exp", "run", "-S", "train.lr_g=0.001", "-n", "fastg"], project)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    text = json.dumps(shown)
    assert "fastg" in text and "fd_cls256_16f" in text and "0.001" in text


def test_push_then_clone_and_pull_is_up_to_date(project, tmp_path):
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "storage", str(remote)], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "remote"], project)
    run(["dvc", "push"], project)
    b = tmp_path / "b"
    run(["git", "clone", "-q", str(project), str(b)], tmp_path)
    run(["dvc", "pull"], b)
    status = run(["dvc", "status"], b).stdout
    assert "up to date" in status, status
    assert _ran(run(["dvc", "repro"], b).stdout) == []
    for rel in ("results/evaluate/metrics.json", "runs/render/figures/c4_motion_switch.png",
                "runs/train/generator.pt"):
        assert (b / rel).read_bytes() == (project / rel).read_bytes(), rel


def test_an_imported_licensed_set_survives_the_readme_recipe(tmp_path, project):
    """`g3an-cli download mug --source PATH`, then `dvc exp run -S base.dataset=mug`: DVC removes the
    untracked import before the stage runs; the stage, given no source, imports again from the
    recorded one, and no raw data set is lost."""
    from tests.helpers import make_mug, make_project

    p = make_project(tmp_path / "p")
    run(["dvc", "repro", "download"], p)
    make_mug(tmp_path / "MUG")
    run(["g3an-cli", "download", "mug", "--source", str(tmp_path / "MUG")], p)
    raw = p / "data" / "raw"

    def files():  # every raw file but the lock files (they hold the last writer's pid)
        return {q: q.read_bytes() for q in raw.rglob("*") if q.is_file() and q.suffix != ".lock"}

    before = files()
    out = run(["dvc", "exp", "run", "-S", "base.dataset=mug", "download"], p)
    assert "importing again" in out.stderr  # from the source recorded by the hand-run import
    assert files() == before  # mug and synthetic intact
    failed = run(["dvc", "exp", "run", "-S", "base.dataset=uva_nemo", "download"], p, check=False)
    assert failed.returncode != 0 and "no --source given" in failed.stderr + failed.stdout
    assert files() == before  # a failing stage leaves all

"""The pipeline as users run it: real dvc, real git, tiny params, in a temp folder."""

import json
import re

import pytest
import yaml

from tests.helpers import ran, run


def test_repro_produces_metrics_figures_and_a_second_repro_does_nothing(project):
    fd = json.loads((project / "results" / "evaluate" / "fd.json").read_text())
    assert set(fd) == {"fd", "floor"} and all(isinstance(v, float) for v in fd.values())
    details = json.loads((project / "results" / "evaluate" / "details.json").read_text())
    assert "fd_cls256_16f" in details["records"] and "dis_disentanglement_16f" in details["records"]
    assert (project / "runs" / "render" / "figures" / "c4_motion_switch.png").exists()
    again = run(["dvc", "repro"], project)
    assert ran(again.stdout) == []
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    values = shown[""]["data"]  # every declared metric is a number: nothing else reaches the table
    numbers = [v for f in values.values() for v in f["data"].values()]
    assert numbers and all(isinstance(v, float) for v in numbers)
    assert {"results/evaluate/fd.json", "results/evaluator/metrics.json"} <= set(values)
    assert run(["git", "status", "--porcelain"], project).stdout.strip() == ""  # nothing big leaks into git


def _width(text: str) -> int:
    return max((len(line.rstrip()) for line in text.splitlines()), default=0)


def test_dvc_metrics_show_and_diff_fit_a_160_column_terminal(project):
    env = {"COLUMNS": "160"}
    table = run(["dvc", "metrics", "show"], project, env=env).stdout
    assert "results/evaluate/disentangle.json" in table and "oracle" in table
    assert _width(table) <= 160, table
    # a changed value shows as one short line per number
    fd = project / "results" / "evaluate" / "fd.json"
    before = fd.read_text()
    fd.write_text(json.dumps({**json.loads(before), "fd": 1234.5}))
    try:
        diff = run(["dvc", "metrics", "diff"], project, env=env).stdout
    finally:
        fd.write_text(before)
    assert "1234.5" in diff and _width(diff) <= 160, diff


def test_dvc_plots_show_works_from_a_fresh_clone(project, tmp_path):
    """The declared plots are git-tracked TSVs: a clone draws them before any `dvc pull`."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    out = run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], clone)
    assert "failed" not in (out.stdout + out.stderr).lower(), out.stdout + out.stderr
    page = (tmp_path / "plots" / "index.html").read_text()
    assert "loss_g_video" in page and "clips/s" in page and '"title": "y"' not in page
    assert "r1_video" in page and "R1 penalty" in page  # the default trains with R1 (train.r1_gamma)


def test_the_report_page_in_a_real_browser(project):
    """runs/report/index.html as a person opens it: no console errors, every image and animation
    decoded, the metrics table showing the numbers of the metrics files; a screenshot is kept."""
    from tests.helpers import ARTIFACTS, headless_chromium

    page = project / "runs" / "report" / "index.html"
    html = page.read_text()
    assert len(html.encode()) < 5e6  # a few MB at most
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", html)  # offline
    figures = json.loads((project / "runs" / "render" / "figures.json").read_text())
    details = json.loads((project / "results" / "evaluate" / "details.json").read_text())
    with headless_chromium() as browser:
        browser.get(page.as_uri())
        images = browser.execute_script(
            "return [...document.images].map(i => [i.complete, i.naturalWidth, i.className, i.alt])")
        assert images and all(done and w > 0 for done, w, _, _ in images), [i for i in images if not i[1]]
        assert sum(1 for i in images if i[2] == "anim") == sum(len(f["rows"]) for f in figures)
        assert sum(1 for i in images if i[2] == "still") == len(figures)
        cells = browser.execute_script(
            "return Object.fromEntries([...document.querySelectorAll('#metrics tbody tr')]"
            ".map(r => [r.dataset.metric, r.querySelector('td.value').textContent]))")
        for stem, record in details["headline"].items():
            value = json.loads((project / "results" / "evaluate" / f"{stem}.json").read_text())[stem]
            assert float(cells[record]) == pytest.approx(value, rel=1e-3), (stem, cells[record], value)
        assert len(browser.find_elements("css selector", ".charts svg")) == 4  # losses, D(x), R1, speed
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "report.png"))


def test_the_report_says_when_the_figures_and_the_scores_come_from_two_generators(project, tmp_path):
    import shutil

    from g3an.config import load_config
    from g3an.report import ReportInputs, build_report

    page = (project / "runs" / "report" / "index.html").read_text()
    assert "drawn by another generator" not in page  # the pipeline's own run: one generator
    drew = json.loads((project / "runs" / "render" / "generator.json").read_text())
    assert drew["step"] is not None and drew["params_hash"]
    render = shutil.copytree(project / "runs" / "render", tmp_path / "render")
    (render / "generator.json").write_text(json.dumps({**drew, "step": drew["step"] - 1}))  # an earlier export
    inputs = ReportInputs(evaluate=project / "results" / "evaluate",
                          evaluator=project / "results" / "evaluator" / "details.json",
                          live=project / "results" / "train", render=render)
    html = build_report(inputs, load_config(project / "params.yaml"))
    assert f"drawn by another generator (step {drew['step'] - 1}" in html


def test_the_report_is_byte_identical_when_made_again(project, tmp_path):
    run(["g3an-cli", "report", "--out", str(tmp_path / "again.html")], project)
    assert (tmp_path / "again.html").read_bytes() == (project / "runs" / "report" / "index.html").read_bytes()


def test_changing_a_train_param_reruns_train_and_what_follows(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["steps"] = 6
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro"], project)
    assert ran(out.stdout) == ["train", "evaluate", "render", "report"]
    assert "resuming" in out.stderr  # steps grew, params hash unchanged: the persisted run continues
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "longer"], project)


def test_weights_are_a_dependency_of_evaluate_and_a_file_elsewhere_is_refused(project, tmp_path):
    weights = project / "weights" / "resnext.pth"
    weights.write_bytes(b"weights v1")
    status = run(["dvc", "status"], project).stdout
    assert re.findall(r"^(\S+):$", status, re.M) == ["evaluate"] and "weights" in status, status
    assert run(["git", "status", "--porcelain"], project).stdout.strip() == ""  # git never sees weights
    weights.unlink()
    assert "up to date" in run(["dvc", "status"], project).stdout
    # under dvc repro, a weights path outside weights/ stops evaluate before it writes anything
    (tmp_path / "resnext.pth").write_bytes(b"weights v1")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["eval"]["i3d_or_resnext_weights"] = str(tmp_path / "resnext.pth")
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    r = run(["dvc", "repro", "evaluate"], project, check=False)
    assert r.returncode != 0
    assert "lies outside weights/, so DVC cannot see it change" in r.stderr + r.stdout, r.stderr
    assert "eval.i3d_or_resnext_weights=weights/resnext.pth" in r.stderr + r.stdout
    run(["git", "checkout", "--", "."], project)  # params back; DVC had removed evaluate's outputs first
    assert "up to date" in run(["dvc", "status"], project).stdout


def test_dvc_exp_run_and_show(project):
    run(["dvc", "exp", "run", "-S", "train.lr_g=0.001", "-n", "fastg"], project)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    text = json.dumps(shown)
    assert "fastg" in text and '"disentangle"' in text and "0.001" in text
    # In a 160-column terminal: the changed metrics and params come first and show whole; DVC puts
    # the changed dependencies' 32-digit hashes last, and those are what runs past the edge.
    table = run(["dvc", "exp", "show", "--only-changed", "--no-pager"], project, env={"COLUMNS": "160"}).stdout
    header = next(line for line in table.splitlines() if "Experiment" in line)
    assert _width(table) <= 160 and "fastg" in table
    assert header.index("train.lr_g") < header.find("…") if "…" in header else "train.lr_g" in header, table
    changed = [m for m in ("fd", "acc", "disentangle", "switch", "motion_varies", "app_kept") if f" {m} " in header]
    assert changed, table  # lr_g changed the generator, so some headline metric moved
    # and without the hashes (the README's form) the whole table fits, nothing cut
    clean = run(["dvc", "exp", "show", "--only-changed", "--drop", ".*/.*", "--no-pager"], project,
                env={"COLUMNS": "400"}).stdout
    assert _width(clean) <= 160 and "…" not in clean and "train.lr_g" in clean, clean


def test_push_then_clone_and_pull_is_up_to_date(project, tmp_path):
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "backup", str(remote)], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "remote"], project)
    run(["dvc", "push"], project)
    b = tmp_path / "b"
    run(["git", "clone", "-q", str(project), str(b)], tmp_path)
    run(["dvc", "pull"], b)
    status = run(["dvc", "status"], b).stdout
    assert "up to date" in status, status
    assert ran(run(["dvc", "repro"], b).stdout) == []
    for rel in ("results/evaluate/details.json", "runs/render/figures/c4_motion_switch.png",
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

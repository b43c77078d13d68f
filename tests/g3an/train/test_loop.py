import json
import os
import pickle
import shutil
import signal
import time

import pytest
import torch

from g3an.train.checkpoint import CheckpointDir
from g3an.train.loop import Diverged, fit
from tests.helpers import (assert_group_ends, assert_same_checkpoints, cli, cli_started, latest_checkpoint,
                           make_training_shards, tiny_config, tiny_overrides)


def test_a_few_steps_write_everything_a_user_needs(training_shards, tmp_path):
    res = fit(tiny_config(), training_shards, tmp_path / "run")
    assert res.step == 6 and res.clips == 24 and res.interrupted is None
    assert all(torch.isfinite(torch.tensor(v)) for v in res.metrics.values())
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest", "step-0000003.pt", "step-0000003.pt.sha256", "step-0000006.pt", "step-0000006.pt.sha256"]
    exported = torch.load(run / "generator.pt", weights_only=True)
    assert exported["n_classes"] == 8 and exported["latent_length"] == 1 and exported["spec"]["width"] == 0.0625
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    metrics = json.loads((run / "live" / "metrics.json").read_text())
    assert metrics["step"] == 6 and "loss_d_video" in metrics["train"]
    assert (run / "live" / "plots" / "images" / "samples.png").stat().st_size > 0
    assert "train params hash" in (run / "config.yaml").read_text()


def test_exact_resume_equals_a_straight_run(training_shards, tmp_path):
    fit(tiny_config(train__steps=7), training_shards, tmp_path / "straight")
    fit(tiny_config(train__steps=4), training_shards, tmp_path / "resumed")  # stops mid-segment
    res = fit(tiny_config(train__steps=7), training_shards, tmp_path / "resumed")
    assert res.step == 7
    assert_same_checkpoints(latest_checkpoint(tmp_path / "straight"), latest_checkpoint(tmp_path / "resumed"))
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 7]


def test_a_log_row_cut_short_by_a_kill_does_not_stop_the_resume(training_shards, tmp_path, caplog):
    fit(tiny_config(train__steps=7), training_shards, tmp_path / "straight")
    fit(tiny_config(train__steps=4), training_shards, tmp_path / "resumed")
    run = tmp_path / "resumed"
    with open(run / "log.jsonl", "a") as f:  # a kill (or a full disk) mid-write, then zeros the file system left
        f.write('{"clips": 20, "loss_d_im')
        f.write("\x00" * 16 + "\n")
    tsv = next((run / "live" / "plots" / "metrics").rglob("*.tsv"))
    with open(tsv, "a") as f:
        f.write("17")  # a dvclive row cut after its first cell
    res = fit(tiny_config(train__steps=7), training_shards, run)
    assert res.step == 7 and "damaged row(s) skipped" in caplog.text
    assert_same_checkpoints(latest_checkpoint(tmp_path / "straight"), latest_checkpoint(run))
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 7]
    lines = tsv.read_text().splitlines()
    assert all(len(ln.split("\t")) == len(lines[0].split("\t")) for ln in lines)


def test_resuming_a_finished_run_trains_nothing_and_leaves_the_logs_alone(training_shards, tmp_path):
    fit(tiny_config(), training_shards, tmp_path / "run")
    live = tmp_path / "run" / "live"
    before = {p: p.read_bytes() for p in live.rglob("*") if p.is_file()}
    (tmp_path / "run" / "generator.pt").unlink()  # as DVC removes a stage's outputs before re-running it
    res = fit(tiny_config(), training_shards, tmp_path / "run")  # e.g. `dvc repro` after a code-only change
    assert res.step == 6 and res.metrics["clips_per_s"] is None
    assert (tmp_path / "run" / "generator.pt").exists()
    assert {p: p.read_bytes() for p in live.rglob("*") if p.is_file()} == before


def test_changed_params_start_fresh_and_keep_the_old_run(training_shards, tmp_path):
    fit(tiny_config(), training_shards, tmp_path / "run")
    old = (tmp_path / "run" / "generator.pt").read_bytes()
    res = fit(tiny_config(train__lr_g=1e-3, train__steps=3), training_shards, tmp_path / "run")
    assert res.step == 3  # started from 0, not resumed at 6
    kept = list((tmp_path / "run" / "previous").iterdir())
    assert len(kept) == 1 and (kept[0] / "generator.pt").read_bytes() == old
    assert (kept[0] / "checkpoints" / "step-0000006.pt").exists()
    # a longer run with the same params resumes instead
    assert fit(tiny_config(train__lr_g=1e-3, train__steps=6), training_shards, tmp_path / "run").step == 6
    assert len(list((tmp_path / "run" / "previous").iterdir())) == 1


def test_fewer_steps_than_the_checkpoint_train_a_fresh_run_and_keep_the_longer_one(training_shards, tmp_path, caplog):
    """`dvc exp run -S train.steps=N` below a persisted run's step must not export the longer run's weights."""
    fit(tiny_config(train__steps=3), training_shards, tmp_path / "short")
    fit(tiny_config(), training_shards, tmp_path / "run")  # 6 steps
    longer = (tmp_path / "run" / "generator.pt").read_bytes()
    res = fit(tiny_config(train__steps=3), training_shards, tmp_path / "run")
    assert res.step == 3 and "the newest checkpoint is at step 6, past train.steps = 3" in caplog.text
    assert_same_checkpoints(latest_checkpoint(tmp_path / "short"), latest_checkpoint(tmp_path / "run"))
    kept = list((tmp_path / "run" / "previous").iterdir())
    assert len(kept) == 1 and (kept[0] / "generator.pt").read_bytes() == longer


def test_a_checkpoint_that_does_not_fit_the_networks_is_one_line_naming_it(training_shards, tmp_path):
    """Same params, other code (a layer renamed or resized): a UserError with the fix, not a traceback."""
    from g3an.errors import UserError

    fit(tiny_config(train__steps=3), training_shards, tmp_path / "run")
    state = latest_checkpoint(tmp_path / "run")
    state["g"] = {k + ".renamed": v for k, v in state["g"].items()}
    CheckpointDir(tmp_path / "run" / "checkpoints").save(state, 4)
    with pytest.raises(UserError, match=r"step-0000004.pt: does not fit this code's networks .*train.resume=never"):
        fit(tiny_config(train__steps=6), training_shards, tmp_path / "run")


def test_resuming_under_another_number_of_ranks_gives_each_rank_its_own_stream(training_shards, tmp_path):
    from g3an.train import distributed
    from g3an.train.loop import _build_run

    fit(tiny_config(train__steps=3), training_shards, tmp_path / "run")
    state = latest_checkpoint(tmp_path / "run")  # written by one rank
    streams = []
    for rank in (0, 1):
        run = _build_run(tiny_config(), 8, distributed.Dist(rank=rank, world=2))
        run.load(state, rank, world=2)
        assert run.step == 3
        streams.append(torch.randn(8, generator=run.gen))
    assert not torch.equal(*streams)  # the ranks draw different latents (one shared state would repeat them)
    state["rng"] = [state["rng"], state["rng"]]  # as two ranks write it; resumed on four
    streams = []
    for rank in range(4):
        run = _build_run(tiny_config(), 8, distributed.Dist(rank=rank, world=4))
        run.load(state, rank, world=4)
        streams.append(torch.randn(8, generator=run.gen))
    assert len({tuple(x.tolist()) for x in streams}) == 4


def test_other_training_data_start_fresh_and_the_same_data_elsewhere_resumes(training_shards, tmp_path, caplog):
    """The params hash does not see the data (more subjects, another split): DVC re-runs training on
    new shards with the persisted checkpoints in place, and resuming them would train on, or simply
    re-export, a model of the old data. The data's identity is its shards' digests, not their path."""
    caplog.set_level("INFO")
    fit(tiny_config(), training_shards, tmp_path / "run")
    moved = shutil.copytree(training_shards, tmp_path / "moved")  # the same bytes elsewhere (a dvc pull)
    assert fit(tiny_config(train__steps=7), moved, tmp_path / "run").step == 7
    assert "resuming at step 6" in caplog.text and not (tmp_path / "run" / "previous").exists()
    caplog.clear()
    other = make_training_shards(tmp_path / "other", subjects=4)
    res = fit(tiny_config(train__steps=3), other, tmp_path / "run")
    assert res.step == 3 and "the training data changed" in caplog.text  # from 0, not resumed at 7
    kept = list((tmp_path / "run" / "previous").iterdir())
    assert len(kept) == 1 and (kept[0] / "checkpoints" / "step-0000007.pt").exists()
    assert (kept[0] / "generator.pt").exists()


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_checkpoint_is_refused_not_executed(training_shards, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    with open(ckpts / "step-0000003.pt", "wb") as f:
        pickle.dump({"g": _Evil()}, f)
    (ckpts / "latest").write_text("step-0000003.pt\n")
    res = fit(tiny_config(), training_shards, tmp_path / "run")  # refused, reported, set aside: a fresh run
    assert res.step == 6 and not (tmp_path / "pwned").exists()
    kept = list((tmp_path / "run" / "previous").glob("unverified-*/checkpoints/step-0000003.pt.corrupt"))
    assert len(kept) == 1  # never deleted, never loaded


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(training_shards, tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(train__steps=3), training_shards, run)
    path = run / "checkpoints" / "step-0000003.pt"
    state = torch.load(path, weights_only=True)
    for k, v in state["g"].items():  # a generator gone bad: every weight NaN, saved as the run saves
        if v.is_floating_point():
            v.fill_(float("nan"))
    CheckpointDir(run / "checkpoints").save(state, 3)
    before = path.read_bytes()
    with pytest.raises(Diverged, match="non-finite loss at step 4.*step-0000003.pt is intact"):
        fit(tiny_config(), training_shards, run)
    assert path.read_bytes() == before and sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest", "step-0000003.pt", "step-0000003.pt.sha256"]


def _train_cmd(shards, run, **extra):
    (run.parent / "params.yaml").write_text("base:\n  seed: 0\n")
    args = ["train", "--shards", str(shards), "--out", str(run), "--params", str(run.parent / "params.yaml")]
    for s in tiny_overrides(**extra):
        args += ["--set", s]
    return args


def _wait_for_checkpoint(run, step, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        latest = run / "checkpoints" / "latest"
        if latest.exists() and int(latest.read_text().strip()[5:12]) >= step:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("no checkpoint in time")


def test_resume_after_sigkill_between_checkpoints(training_shards, tmp_path):
    common = dict(train__steps=40, train__ckpt_every=4, loader__workers=2)
    straight = cli(*_train_cmd(training_shards, tmp_path / "straight", **common), cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    proc = cli_started(*_train_cmd(training_shards, tmp_path / "killed", **common), cwd=tmp_path)
    _wait_for_checkpoint(tmp_path / "killed", 8, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int((tmp_path / "killed" / "checkpoints" / "latest").read_text()[5:12])
    assert killed_at < 40
    again = cli(*_train_cmd(training_shards, tmp_path / "killed", **common), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"at step {killed_at}" in again.stderr
    assert_same_checkpoints(latest_checkpoint(tmp_path / "straight"), latest_checkpoint(tmp_path / "killed"))


def test_sigint_writes_a_checkpoint_and_exits_cleanly(training_shards, tmp_path):
    proc = cli_started(*_train_cmd(training_shards, tmp_path / "run", train__steps=400, train__ckpt_every=3), cwd=tmp_path)
    _wait_for_checkpoint(tmp_path / "run", 3, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "checkpoint written" in err
    step = int((tmp_path / "run" / "checkpoints" / "latest").read_text()[5:12])
    assert 3 <= step < 400 and not (tmp_path / "run" / "generator.pt").exists()


@pytest.mark.parametrize("signum, code, after", [(signal.SIGINT, 130, 0.5), (signal.SIGTERM, 143, 0.5),
                                                 (signal.SIGTERM, 143, 0.0)])
def test_a_stop_signal_to_the_whole_process_group_writes_a_checkpoint_and_exits_cleanly(training_shards, tmp_path,
                                                                                       signum, code, after):
    # as Ctrl-C in a terminal, `kill -TERM -PGID` or a batch scheduler sends it: the loader workers get it
    # too; a worker killed by SIGTERM used to take the main process down with a traceback and no checkpoint.
    # `after` seconds past a checkpoint: mid-segment, or as the next segment's workers start
    proc = cli_started(*_train_cmd(training_shards, tmp_path / "run", train__steps=400, train__ckpt_every=3,
                                   loader__workers=2), cwd=tmp_path, start_new_session=True)
    _wait_for_checkpoint(tmp_path / "run", 3, proc)
    time.sleep(after)
    os.killpg(proc.pid, signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and f"stopped by signal {int(signum)}" in err and "checkpoint written" in err
    step = int((tmp_path / "run" / "checkpoints" / "latest").read_text()[5:12])
    assert 3 <= step < 400
    assert_group_ends(proc.pid)  # the workers were shut down with their main process, none left behind


def test_a_second_train_on_the_same_run_folder_is_refused(training_shards, tmp_path):
    first = cli_started(*_train_cmd(training_shards, tmp_path / "run", train__steps=400, train__ckpt_every=3), cwd=tmp_path)
    try:
        _wait_for_checkpoint(tmp_path / "run", 3, first)
        config = (tmp_path / "run" / "config.yaml").read_text()
        second = cli(*_train_cmd(training_shards, tmp_path / "run", train__lr_g=1e-3), cwd=tmp_path)
        assert second.returncode == 2 and f"is in use by pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr and not (tmp_path / "run" / "previous").exists()
        assert first.poll() is None  # the first run goes on, its files untouched by the second
        assert (tmp_path / "run" / "config.yaml").read_text() == config
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130


def test_train_out_naming_a_file_is_one_line(training_shards, tmp_path):
    (tmp_path / "afile").write_text("mine")
    r = cli(*_train_cmd(training_shards, tmp_path / "afile"), cwd=tmp_path)
    assert r.returncode == 2 and "is a file" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "afile").read_text() == "mine"


def test_a_finished_run_re_entered_re_creates_missing_outputs_and_keeps_its_history(training_shards, tmp_path):
    fit(tiny_config(), training_shards, tmp_path / "run")
    live = tmp_path / "run" / "live"
    history = {p: p.read_bytes() for p in (live / "plots" / "metrics").rglob("*.tsv")}
    (live / "metrics.json").unlink()
    (live / "plots" / "images" / "samples.png").unlink()
    res = fit(tiny_config(), training_shards, tmp_path / "run")
    assert res.step == 6 and res.metrics["clips_per_s"] is None  # nothing trained
    assert (live / "plots" / "images" / "samples.png").stat().st_size > 0
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == 6 and "loss_d_video" in summary["train"]
    assert {p: p.read_bytes() for p in (live / "plots" / "metrics").rglob("*.tsv")} == history


def test_ema_batchnorm_statistics_are_re_estimated_for_the_averaged_weights():
    """The EMA generator's BN statistics come from its own outputs: on the very batch they were
    measured on, eval mode reproduces train mode; G itself is untouched; seeded, so repeatable."""
    import torch

    from g3an.models.generator import Generator
    from g3an.sampling import sample_latents
    from g3an.train.ema import recalibrate_batchnorm, update
    from tests.helpers import tiny_spec

    torch.manual_seed(0)
    g, ema = Generator(tiny_spec(n_classes=3)), Generator(tiny_spec(n_classes=3))
    update(ema, g, beta=0.5)  # weights halfway, BN statistics copied from g: measured on another network
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    fixed = recalibrate_batchnorm(ema, 1, 3, seed=5, batches=1, batch=32)
    assert all(torch.equal(before[k], v) for k, v in ema.state_dict().items())  # the original is untouched
    latents = sample_latents(32, 1, 3, torch.Generator().manual_seed(5))
    with torch.no_grad():
        stale = ema.eval()(*latents)
        own_batch = ema.train()(*latents)
        recalibrated = fixed(*latents)
    assert not fixed.training
    err = (recalibrated - own_batch).abs().max()  # only the unbiased-variance factor N/(N−1) remains
    assert err < 0.02 and err * 20 < (stale - own_batch).abs().max()  # the copied statistics did not fit
    again = recalibrate_batchnorm(ema, 1, 3, seed=5, batches=1, batch=32)
    assert all(torch.equal(a, b) for a, b in zip(fixed.state_dict().values(), again.state_dict().values()))

"""Checkpoints under damage: resume takes the newest checkpoint whose digest verifies, whatever the
``latest`` pointer says; damage is reported and kept, never loaded silently, never overwritten. And
two runs of one config write the same bytes: DVC hashes the checkpoints."""

import hashlib
import random

import pytest

from g3an.train.loop import fit
from tests.helpers import assert_same_checkpoints, cli, latest_checkpoint, tiny_config, tiny_overrides


@pytest.fixture(scope="module")
def straight(training_shards, tmp_path_factory):
    run = tmp_path_factory.mktemp("straight") / "run"
    fit(tiny_config(), training_shards, run)
    return latest_checkpoint(run)


def _two_checkpoints(training_shards, run):
    fit(tiny_config(), training_shards, run)  # checkpoints at steps 3 and 6
    return run / "checkpoints"


def _flip_bytes(path, n, seed):
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for i in rng.sample(range(len(data)), n):
        data[i] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncate", "flip1", "flip8", "zero-length"])
def test_a_damaged_newest_checkpoint_is_skipped_and_kept(training_shards, tmp_path, straight, damage, caplog):
    caplog.set_level("INFO")
    ckpts = _two_checkpoints(training_shards, tmp_path / "run")
    newest = ckpts / "step-0000006.pt"
    if damage == "truncate":
        newest.write_bytes(newest.read_bytes()[: newest.stat().st_size * 2 // 3])
    elif damage == "zero-length":
        newest.write_bytes(b"")
    else:
        _flip_bytes(newest, int(damage[4:]), seed=len(damage))
    res = fit(tiny_config(), training_shards, tmp_path / "run")
    assert res.step == 6 and res.metrics["clips_per_s"] is not None  # steps 4-6 trained again from step 3
    assert "resuming at step 3" in caplog.text and "step-0000003.pt" in caplog.text and "damaged" in caplog.text
    assert_same_checkpoints(latest_checkpoint(tmp_path / "run"), straight)  # exact resume from the good one
    assert (ckpts / "step-0000006.pt.corrupt").exists()


@pytest.mark.parametrize("pointer", [b"garbage text\n", b"\x00" * 40, b"\xff\xfe\x80binary", b"../../../../etc/passwd\n",
                                     None])
def test_the_latest_pointer_is_only_a_hint(training_shards, tmp_path, pointer, caplog):
    caplog.set_level("INFO")
    ckpts = _two_checkpoints(training_shards, tmp_path / "run")
    if pointer is None:
        (ckpts / "latest").unlink()
    else:
        (ckpts / "latest").write_bytes(pointer)
    res = fit(tiny_config(train__steps=8), training_shards, tmp_path / "run")
    assert res.step == 8 and "resuming at step 6" in caplog.text  # not a restart from 0
    assert not (tmp_path / "run" / "previous").exists()


def test_resume_never_works_with_a_damaged_newest_and_sets_everything_aside(training_shards, tmp_path):
    ckpts = _two_checkpoints(training_shards, tmp_path / "run")
    (ckpts / "step-0000006.pt").write_bytes(b"\x00" * 100)
    res = fit(tiny_config(train__resume="never", train__steps=3), training_shards, tmp_path / "run")
    assert res.step == 3
    kept = list((tmp_path / "run" / "previous").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("resume-never-")
    assert sorted(p.name for p in (kept[0] / "checkpoints").glob("step-*")) == [
        "step-0000003.pt", "step-0000003.pt.sha256", "step-0000006.pt", "step-0000006.pt.sha256"]


def test_when_no_checkpoint_verifies_the_run_starts_fresh_without_overwriting(training_shards, tmp_path, caplog):
    ckpts = _two_checkpoints(training_shards, tmp_path / "run")
    originals = {p.name: p.read_bytes() for p in ckpts.glob("step-*.pt")}
    for p in ckpts.glob("step-*.pt"):
        _flip_bytes(p, 3, seed=1)
    res = fit(tiny_config(train__steps=3), training_shards, tmp_path / "run")
    assert res.step == 3 and "no checkpoint verifies" in caplog.text
    kept = next((tmp_path / "run" / "previous").iterdir()) / "checkpoints"
    assert {p.name.removesuffix(".corrupt") for p in kept.glob("*.corrupt")} == set(originals)


def test_two_runs_of_one_config_write_byte_identical_checkpoints(training_shards, tmp_path):
    """A checkpoint stores Python's and numpy's global RNG states beside torch's: unseeded, they took
    new values in every process, so each re-run wrote new checkpoint bytes and ``dvc repro`` stored
    and pushed a fresh copy of the same run. Two processes, as two ``dvc repro`` would be."""
    sets = [arg for kv in tiny_overrides(train__steps=3) for arg in ("-s", kv)]
    (tmp_path / "params.yaml").write_text("{}\n")  # the defaults, then the tiny overrides
    digests = []
    for name in ("first", "second"):
        r = cli("train", "--shards", str(training_shards), "--out", str(tmp_path / name), *sets, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        files = sorted((tmp_path / name / "checkpoints").glob("step-*.pt"))  # one checkpoint, at step 3
        assert len(files) == 1
        digests.append(hashlib.sha256(files[0].read_bytes()).hexdigest())
    assert digests[0] == digests[1]

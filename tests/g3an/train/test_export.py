"""``g3an-cli export``: any kept checkpoint → a generator export, written exactly as training writes
``generator.pt`` at its last step; a damaged or foreign file is refused in one line, with nothing
written."""

import shutil

import pytest
import torch

from g3an.train.loop import fit
from tests.helpers import cli, tiny_config


@pytest.fixture(scope="module")
def run(training_shards, tmp_path_factory):
    """One tiny run for the module: checkpoints at steps 3 and 6, generator.pt at 6 (never damaged here)."""
    folder = tmp_path_factory.mktemp("export") / "run"
    fit(tiny_config(), training_shards, folder)
    return folder


def test_the_last_checkpoint_exports_to_the_runs_own_generator(run, tmp_path):
    r = cli("export", str(run / "checkpoints" / "step-0000006.pt"), "--out", str(tmp_path / "six.pt"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    mine, trained = (torch.load(p, weights_only=True) for p in (tmp_path / "six.pt", run / "generator.pt"))
    assert mine.keys() == trained.keys()
    for key, value in trained.items():  # every weight to the bit, and the same spec, config, classes, hash, step
        if key in ("g", "ema"):
            assert value.keys() == mine[key].keys() and all(torch.equal(value[k], mine[key][k]) for k in value)
        else:
            assert mine[key] == value, key

    # an earlier step, to the default place beside the run's generator.pt: that step's weights
    r = cli("export", str(run / "checkpoints" / "step-0000003.pt"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    three = torch.load(run / "generator-step-0000003.pt", weights_only=True)
    six = torch.load(run / "generator.pt", weights_only=True)
    ckpt = torch.load(run / "checkpoints" / "step-0000003.pt", weights_only=True)
    assert three["step"] == 3 and six["step"] == 6 and three["format"] == six["format"]
    assert all(torch.equal(three["g"][k], ckpt["g"][k]) for k in ckpt["g"])
    assert not all(torch.equal(three["ema"][k], six["ema"][k]) for k in six["ema"])
    # and the later stages take it: evaluate's loader reads it as it reads generator.pt
    from g3an.models.build import load_generator

    g, export = load_generator(run / "generator-step-0000003.pt")
    assert export["step"] == 3 and not g.training


def test_a_damaged_or_foreign_checkpoint_is_one_line_and_writes_nothing(run, tmp_path):
    shutil.copytree(run / "checkpoints", tmp_path / "checkpoints")  # the damage goes to a copy
    ckpt = tmp_path / "checkpoints" / "step-0000006.pt"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0x10
    ckpt.write_bytes(bytes(data))
    cases = [(ckpt, "do not match the SHA-256"),  # its digest fails
             (run / "generator.pt", "checkpoint"),  # a generator export, not a checkpoint
             (tmp_path / "checkpoints" / "step-0000009.pt", "not found")]
    for i, (src, fragment) in enumerate(cases):
        out = tmp_path / f"out{i}.pt"
        r = cli("export", str(src), "--out", str(out), cwd=tmp_path)
        assert r.returncode == 2, r.stderr[-2000:]
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and str(src) in lines[0] and fragment in lines[0]
        assert not out.exists() and not list(tmp_path.glob(f"*out{i}*"))

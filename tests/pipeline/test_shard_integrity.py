"""Training reads exactly the shards its manifest lists, each checked before the first step."""

import json

import pytest

from g3an.errors import UserError
from pipeline.manifest import verified_shards
from tests.helpers import cli, make_training_shards, tiny_overrides


@pytest.fixture()
def shards(tmp_path):
    return make_training_shards(tmp_path)


def test_the_manifest_lists_every_shard_with_size_and_digest(shards):
    listed = json.loads((shards / "train" / "manifest.json").read_text())["shards"]
    assert listed and all(len(e["sha256"]) == 64 and e["bytes"] > 0 for e in listed)
    assert [p.rsplit("/", 1)[1] for p in verified_shards(shards)] == [e["name"] for e in listed]


@pytest.mark.parametrize("damage, fragment", [
    ("delete", "listed in the manifest but missing"),
    ("truncate", "the manifest says"),
    ("flip", "differ from the manifest's SHA-256"),
])
def test_a_damaged_shard_is_named_before_any_clip_is_read(shards, damage, fragment):
    victim = sorted((shards / "train").glob("*.tar"))[1]
    if damage == "delete":
        victim.unlink()
    elif damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:5000])
    else:
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x40
        victim.write_bytes(bytes(data))
    with pytest.raises(UserError, match=fragment) as e:
        verified_shards(shards)
    assert victim.name in str(e.value) and "dvc repro preprocess" in str(e.value)


def test_train_refuses_a_truncated_shard_in_one_line(shards, tmp_path):
    victim = sorted((shards / "train").glob("*.tar"))[0]
    victim.write_bytes(victim.read_bytes()[:3000])
    (tmp_path / "params.yaml").write_text("base:\n  seed: 0\n")
    args = ["train", "--shards", str(shards), "--out", str(tmp_path / "run")]
    for s in tiny_overrides():
        args += ["--set", s]
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and victim.name in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "run" / "checkpoints").exists()

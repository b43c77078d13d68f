import os

import pytest
import torch

from g3an.errors import UserError
from g3an.persistence import KINDS, load_artifact, save_artifact


def test_same_state_gives_byte_identical_files(tmp_path):
    state = {"w": torch.arange(10.0), "step": 3}
    save_artifact(state, tmp_path / "a.pt", "checkpoint")
    save_artifact(state, tmp_path / "b.pt", "checkpoint")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()  # stable DVC hashes


def test_round_trip_stamps_and_checks_the_kind(tmp_path):
    save_artifact({"w": torch.ones(2)}, tmp_path / "e.pt", "evaluator")
    blob = load_artifact(tmp_path / "e.pt", "evaluator")
    assert blob["format"] == KINDS["evaluator"].format and torch.equal(blob["w"], torch.ones(2))
    with pytest.raises(UserError, match=r"e\.pt: not a g3an generator .*g3an-cli train"):
        load_artifact(tmp_path / "e.pt", "generator")


def test_a_missing_file_names_the_fix(tmp_path):
    with pytest.raises(UserError, match=r"nope\.pt: evaluator not found; run `g3an-cli train-evaluator`"):
        load_artifact(tmp_path / "nope.pt", "evaluator")


def test_legacy_checkpoints_without_a_format_still_load(tmp_path):
    torch.save({"step": 5}, tmp_path / "old.pt")
    assert load_artifact(tmp_path / "old.pt", "checkpoint")["step"] == 5
    with pytest.raises(UserError, match="not a g3an generator"):
        load_artifact(tmp_path / "old.pt", "generator")


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickled_code_is_refused_without_advice_to_load_it_unsafely(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"x": _Boom()}, tmp_path / "evil.pt")
    with pytest.raises(UserError, match="refused") as e:
        load_artifact(tmp_path / "evil.pt", "weights")
    assert not (tmp_path / "pwned").exists()
    assert "weights_only=False" not in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not-a-dict"])
def test_damaged_files_are_one_line_errors(tmp_path, damage):
    path = tmp_path / "g.pt"
    save_artifact({"w": torch.randn(64, 64)}, path, "generator")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff" * 100)
    else:
        torch.save([1, 2], path)
    with pytest.raises(UserError) as e:
        load_artifact(path, "generator")
    assert str(path) in str(e.value) and "\n" not in str(e.value)

import os
import stat

import pytest

from g3an.fsutil import atomic_path, staged_dir, write_json_atomic


def test_atomic_files_get_the_usual_mode_and_failures_leave_nothing(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "m.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644  # not mkstemp's 0600
        with pytest.raises(RuntimeError):
            with atomic_path(tmp_path / "x.bin") as tmp:
                tmp.write_bytes(b"half")
                raise RuntimeError("interrupted")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
    finally:
        os.umask(old)


def test_staged_dir_replaces_only_on_success(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    with pytest.raises(ValueError):
        with staged_dir(tmp_path / "out") as tmp:
            (tmp / "new.txt").write_text("new")
            raise ValueError
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["old.txt"]
    with staged_dir(tmp_path / "out") as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

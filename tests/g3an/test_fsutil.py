import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from g3an.errors import UserError
from g3an.fsutil import MARKER, atomic_path, output_lock, signals_deferred, staged_dir, write_json_atomic
from tests.helpers import ROOT, python_c


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
    with staged_dir(tmp_path / "out", "test") as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(ValueError):
        with staged_dir(tmp_path / "out", "test") as tmp:
            (tmp / "new.txt").write_text("new")
            raise ValueError
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MARKER, "old.txt"]
    with staged_dir(tmp_path / "out", "test") as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MARKER, "new.txt"]
    assert (tmp_path / "out" / MARKER).read_text() == "written by g3an stage: test\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_folder_g3an_did_not_write_is_never_replaced(tmp_path, monkeypatch):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("x")
    (tmp_path / "afile").write_text("mine")
    monkeypatch.chdir(precious)
    for target, fragment in ((precious, "not empty and not written by g3an"), (Path("."), "not empty"),
                             (tmp_path / "afile", "is not a folder")):
        with pytest.raises(UserError, match=fragment):
            with staged_dir(target, "test") as tmp:
                (tmp / "x").write_text("new")
    assert (precious / "notes.txt").read_text() == "x" and (tmp_path / "afile").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "precious"]  # no temp folders left
    (tmp_path / "empty").mkdir()
    with staged_dir(tmp_path / "empty", "test") as tmp:  # an empty folder is fine
        (tmp / "x").write_text("new")


def test_temp_folders_of_dead_processes_are_removed_at_the_next_run(tmp_path):
    dead = python_c("import os; print(os.getpid())").strip()
    (tmp_path / f".out.tmp-{dead}").mkdir()
    (tmp_path / f".out.tmp-{os.getppid()}").mkdir()  # a live process's: left alone
    with staged_dir(tmp_path / "out", "test"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".out.tmp-{os.getppid()}", "out"]


_HOLD = """
import sys, time
from g3an.fsutil import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_process_is_refused_while_the_first_holds_the_output(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "out")], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"out is in use by pid {holder.pid}"):
            with output_lock(tmp_path / "out"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with output_lock(tmp_path / "out"):  # the kernel released it when the holder died
        pass


def test_another_stages_output_is_never_replaced(tmp_path):
    """A mixed-up --out (the raw data given as preprocess's output, shards as render's) is refused."""
    with staged_dir(tmp_path / "raw", "download") as tmp:
        (tmp / "video.avi").write_text("data")
    with pytest.raises(UserError, match="the output of g3an's download stage, not of preprocess; nothing was touched"):
        with staged_dir(tmp_path / "raw", "preprocess") as tmp:
            (tmp / "x").write_text("new")
    assert (tmp_path / "raw" / "video.avi").read_text() == "data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # no temp folders left
    with staged_dir(tmp_path / "raw", "download") as tmp:  # its own stage replaces it as before
        (tmp / "video.avi").write_text("again")
    assert (tmp_path / "raw" / "video.avi").read_text() == "again"


def test_a_signal_during_a_stages_last_writes_waits_for_them(tmp_path):
    got = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(sorted(p.name for p in tmp_path.iterdir())))
    try:
        with signals_deferred():
            write_json_atomic(tmp_path / "a.json", {"a": 1})
            os.kill(os.getpid(), signal.SIGTERM)  # e.g. `dvc repro` interrupted by the user
            write_json_atomic(tmp_path / "b.json", {"b": 2})
            assert got == []
        assert got == [["a.json", "b.json"]]  # delivered after both were written
    finally:
        signal.signal(signal.SIGTERM, previous)

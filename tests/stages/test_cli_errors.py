"""Expected failures of the real CLI end as one line and exit 2, leaving nothing half-written:
a read-only file system and a full disk (real mounts, where this machine lets the test make them)."""

import contextlib
import subprocess

import pytest

from tests.helpers import cli, tiny_overrides


@contextlib.contextmanager
def _mounted(point, *args):
    point.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["mount", *args, str(point)], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot mount here (needs root / CAP_SYS_ADMIN): {getattr(e, 'stderr', e)}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _run(tmp_path, *args):
    (tmp_path / "params.yaml").write_text("base:\n  seed: 0\n")
    sets = [a for s in tiny_overrides(download__synthetic__subjects=2) for a in ("--set", s)]
    return cli(*args, *sets, cwd=tmp_path)


def _one_line_error(r, *fragments):
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()  # (a progress bar may leave an empty line above)
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert all(f in r.stderr for f in fragments), r.stderr


def test_a_read_only_output_is_one_line(tmp_path):
    (tmp_path / "src").mkdir()
    with _mounted(tmp_path / "ro", "-o", "bind,ro", str(tmp_path / "src")) as ro:
        r = _run(tmp_path, "download", "synthetic", "--out", str(ro / "raw"))
    _one_line_error(r, "Read-only file system", "writable")
    assert list((tmp_path / "src").iterdir()) == []


def test_a_full_disk_is_one_line_and_leaves_no_partial_output(tmp_path):
    assert _run(tmp_path, "download", "synthetic", "--out", str(tmp_path / "raw")).returncode == 0
    with _mounted(tmp_path / "full", "-t", "tmpfs", "-o", "size=64k", "tmpfs") as full:
        r = _run(tmp_path, "preprocess", "synthetic", "--raw", str(tmp_path / "raw"), "--out", str(full / "shards"))
        left = sorted(p.name for p in full.iterdir())
    _one_line_error(r, str(full / "shards"), "No space left on device", "free some space")
    assert left in ([], [".shards.lock"])  # no shards folder, no temp folder


def test_debug_shows_the_traceback(tmp_path):
    r = cli("config", "show", "--params", str(tmp_path / "nope.yaml"), "--debug", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr and "params file not found" in r.stderr


def test_an_out_naming_another_stages_output_is_one_line_and_touches_nothing(tmp_path):
    assert _run(tmp_path, "download", "synthetic", "--out", str(tmp_path / "raw")).returncode == 0
    before = {p: p.read_bytes() for p in (tmp_path / "raw").rglob("*") if p.is_file()}
    r = _run(tmp_path, "preprocess", "synthetic", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "raw"))
    _one_line_error(r, str(tmp_path / "raw"), "download stage, not of preprocess", "--out")
    assert {p: p.read_bytes() for p in (tmp_path / "raw").rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["params.yaml", "raw"]


def test_an_atomic_write_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path):
    from g3an.fsutil import write_bytes_atomic

    with _mounted(tmp_path / "full", "-t", "tmpfs", "-o", "size=64k", "tmpfs") as full:
        with pytest.raises(OSError) as e:
            write_bytes_atomic(full / "step-0000100.pt", b"x" * (1 << 20))
        left = sorted(p.name for p in full.iterdir())
    assert e.value.filename == str(full / "step-0000100.pt") and "No space left" in str(e.value)
    assert left == []


def test_a_full_disk_inside_a_staged_output_names_the_output_not_a_temp_file(tmp_path):
    from g3an.errors import UserError
    from g3an.fsutil import staged_dir, write_bytes_atomic

    with _mounted(tmp_path / "full", "-t", "tmpfs", "-o", "size=64k", "tmpfs") as full:
        with pytest.raises(UserError) as e:
            with staged_dir(full / "shards", "test") as tmp:
                write_bytes_atomic(tmp / "train" / "manifest.json", b"x" * (1 << 20))
        left = sorted(p.name for p in full.iterdir())
    assert str(e.value).startswith(f"{full / 'shards'}: No space left on device while writing it; nothing was replaced")
    assert left in ([], [".shards.lock"])

"""Outputs on disk: a JSON file or a whole folder appears complete or not at all; a folder is only
ever replaced when g3an wrote it; one process at a time writes an output.

- ``staged_dir(target, stage)`` builds a folder beside ``target`` and swaps it in when complete. It
  refuses (``UserError``, nothing touched) a ``target`` that is a file, or a non-empty folder
  without the marker ``.g3an-output`` that every staged folder gets last. Temp folders left by dead
  processes are removed first.
- ``output_lock(target)`` holds an OS file lock (``lockf`` on ``.<name>.lock`` beside ``target``)
  for a stage's lifetime; a second process gets ``<target> is in use by pid N``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

from g3an.errors import UserError

MARKER = ".g3an-output"


def sha256_of(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (weights files can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path beside ``path``; when the block succeeds it is renamed to ``path`` with the
    usual file mode (0666 minus the umask — ``mkstemp`` alone would leave it 0600, unreadable to
    colleagues sharing the folder); when it fails the temp file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror, str(path)) from e  # a write failed (full disk, quota): name the output
        raise


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM held back while the block runs (a stage's few small output files are then
    written all or none: never the new headline metrics beside the old details), and raised after it.
    The handlers are swapped, not the signal mask: torch's threads would take a masked signal."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum, frame):
        received.append(signum)

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            signal.raise_signal(received[0])


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON to a temp file beside ``path`` and rename it into place."""
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(target: Path) -> None:
    """Temp folders of ``target`` left by processes that died (SIGKILL, power loss)."""
    for p in list(target.parent.glob(f".{target.name}.tmp-*")) + list(target.parent.glob(f".{target.name}.old-*")):
        pid = p.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def marker_stage(folder: str | Path) -> Optional[str]:
    """The stage named in ``folder``'s marker (``staged_dir`` writes it last); None without a marker."""
    try:
        text = (Path(folder) / MARKER).read_text(errors="replace")
    except OSError:
        return None
    return text.partition("stage:")[2].strip()


def check_replaceable(target: str | Path, stage: Optional[str] = None) -> None:
    """A UserError unless ``target`` is absent, an empty folder, or a folder g3an wrote — with ``stage``,
    a folder that stage wrote (another stage's output is never replaced: a mixed-up --out)."""
    target = Path(target)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UserError(f"{target}: exists and is not a folder; g3an replaces whole output folders only — "
                        "give --out a folder path of its own")
    if not target.is_dir():
        return
    if not (target / MARKER).is_file():
        if any(target.iterdir()):
            raise UserError(f"{target}: not empty and not written by g3an (no {MARKER} marker); nothing was "
                            "touched — give --out a new or empty folder, or move its contents away yourself")
        return
    wrote = marker_stage(target)
    if stage is not None and wrote != stage:
        raise UserError(f"{target}: the output of g3an's {wrote or 'unknown'} stage, not of {stage}; nothing was "
                        "touched — give --out a folder of its own (check that --out and the input paths are not "
                        "mixed up)")


@contextlib.contextmanager
def staged_dir(target: str | Path, stage: str) -> Iterator[Path]:
    """Yield an empty temp folder beside ``target``. If the block succeeds, the folder (with the marker
    naming ``stage``, written last) replaces ``target`` — the previous output is removed only once the
    new one is in place; if it fails, the temp folder is removed and ``target`` is untouched. A
    ``target`` g3an did not write is refused before anything happens (``check_replaceable``)."""
    target = Path(target).absolute()
    check_replaceable(target, stage)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{target.parent}: cannot create the output's folder ({e.strerror}); "
                        "choose a writable --out") from None
    _remove_stale(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
    except OSError as e:
        raise UserError(f"{target.parent}: cannot write here ({e.strerror}); choose a writable --out") from None
    try:
        yield tmp
        (tmp / MARKER).write_text(f"written by g3an stage: {stage}\n")
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        in_tmp = e.filename is not None and Path(e.filename).is_relative_to(tmp)  # a temp file that is gone now
        if e.filename is None or (in_tmp and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO)):
            # a write failed (full disk, quota, I/O): name the output it was for
            raise UserError(f"{target}: {e.strerror or e} while writing it; nothing was replaced — free some "
                            "space or choose another output path") from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def output_lock(target: str | Path) -> Iterator[None]:
    """Hold an exclusive OS lock on ``target`` (a file or folder) for the block. The lock file
    ``.<name>.lock`` beside it is kept (removing lock files races); the kernel frees the lock
    when the process ends, however it ends. A POSIX record lock (``lockf``), not ``flock``: forked
    DataLoader workers do not inherit it, so a killed stage's orphaned workers cannot hold it."""
    target = Path(target).absolute()
    lock = target.parent / f".{target.name}.lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise UserError(f"{lock.parent}: cannot write here ({e.strerror}); choose a writable output path") from None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise UserError(f"{target} is in use by pid {holder}; wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock

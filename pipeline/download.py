"""HTTP(S) downloads with retries, resume (Range requests) and SHA-256 verification, a JSON lock
file of what was fetched, and archive extraction that refuses path traversal.

- A file is fetched into ``<name>.part``; after a dropped connection the next try asks for
  ``Range: bytes=<have>-`` and appends (or restarts if the server ignores ranges).
- The finished file is hashed; against an expected hash (given, or recorded in the lock file by an
  earlier fetch — trust on first use) a mismatch moves it aside to ``<name>.bad`` and raises.
- A file already present whose hash matches the lock is never fetched again.
"""

from __future__ import annotations

import http.client
import json
import logging
import lzma
import os
import shutil
import socket
import stat
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Optional

from g3an.errors import UserError
from g3an.fsutil import sha256_of, write_json_atomic

log = logging.getLogger(__name__)
LOCK_NAME = "download.lock.json"
CHUNK = 1 << 16
Progress = Callable[[int, Optional[int]], None]  # (bytes so far, total or None)


@dataclass(frozen=True)
class Fetched:
    url: str
    file: str
    bytes: int
    sha256: str


def read_lock(folder: Path) -> dict[str, dict]:
    p = Path(folder) / LOCK_NAME
    if not p.exists():
        return {}
    try:
        return {e["file"]: e for e in json.loads(p.read_text())["files"]}
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{p}: not a download lock file; move it away and download again") from None


def write_lock(folder: Path, entries: dict[str, dict]) -> None:
    write_json_atomic(Path(folder) / LOCK_NAME, {"files": [entries[k] for k in sorted(entries)]})


def _attempt(url: str, part: Path, timeout: float, progress: Optional[Progress]) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # asked past the end: the part file is already complete
            return
        raise
    with resp:
        if have and resp.status != 206:  # the server ignored the range: start over
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as f:
            done = have
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if total is not None and done < total:
            raise http.client.IncompleteRead(b"", total - done)


def fetch(url: str, dest: Path, sha256: Optional[str] = None, retries: int = 3, timeout: float = 60.0,
          progress: Optional[Progress] = None, backoff: float = 0.5) -> Fetched:
    """Download ``url`` to ``dest`` (resuming, retrying, verifying); returns what was fetched."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last: Exception | None = None
    for attempt in range(retries + 1):
        try:
            _attempt(url, part, timeout, progress)
            break
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500 and e.code not in (408, 429):
                raise UserError(f"{url}: HTTP {e.code} {e.reason}; check download.* URLs in params.yaml") from None
            last = e
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError) as e:
            last = e
        if attempt < retries:
            log.warning("%s: %s; retrying (%d/%d), resuming from byte %d", url, last, attempt + 1, retries,
                        part.stat().st_size if part.exists() else 0)
            time.sleep(backoff * 2 ** attempt)
    else:
        if part.exists() and part.stat().st_size:
            raise UserError(f"{url}: failed after {retries + 1} tries ({last}); the partial file {part} "
                            f"({part.stat().st_size} bytes) is kept and the next run resumes it")
        part.unlink(missing_ok=True)
        raise UserError(f"{url}: failed after {retries + 1} tries ({last}); nothing was downloaded: check the "
                        "network, or fetch the files by hand and pass them with --source PATH")
    digest = sha256_of(part)
    if sha256 and digest != sha256.lower():
        bad = dest.with_name(dest.name + ".bad")
        os.replace(part, bad)
        raise UserError(f"{url}: SHA-256 mismatch (expected {sha256}, got {digest}); the file is kept aside as "
                        f"{bad}. If the server's file changed on purpose, delete {dest.parent / LOCK_NAME}'s entry")
    os.replace(part, dest)
    return Fetched(url=url, file=dest.name, bytes=dest.stat().st_size, sha256=digest)


def fetch_all(urls: dict[str, str], folder: Path, expected: dict[str, str] | None = None, retries: int = 3,
              timeout: float = 60.0, progress_factory: Optional[Callable[[str], Progress]] = None) -> list[Fetched]:
    """Fetch ``{file name: url}`` into ``folder``, skipping files the lock already verifies; update the lock."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = read_lock(folder)
    expected = expected or {}
    out = []
    for name, url in sorted(urls.items()):
        dest = folder / name
        known = expected.get(name) or (lock.get(name, {}).get("sha256") if lock.get(name, {}).get("url") == url else None)
        if dest.exists() and known and sha256_of(dest) == known:
            log.info("%s: already verified, not fetched again", name)
            out.append(Fetched(**lock[name]) if name in lock else Fetched(url, name, dest.stat().st_size, known))
            continue
        got = fetch(url, dest, known, retries, timeout, progress_factory(name) if progress_factory else None)
        lock[name] = asdict(got)
        write_lock(folder, lock)
        out.append(got)
    return out


# ---------------------------------------------------------------------------------------------
# extraction


def _check_member(name: str, archive: Path) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in p.parts:
        raise UserError(f"{archive}: refusing member {name!r}: it would land outside the target folder")
    return p


class DamagedArchive(UserError):
    """An archive that cannot be read to its end (truncated, bad checksum, not what its name says)."""

    def __init__(self, archive: Path, reason: str):
        self.archive, self.reason = archive, reason
        super().__init__(f"{archive}: {reason}; nothing was extracted — replace it with a complete copy")


def _merge(src: Path, dest: Path) -> None:
    """Move the tree ``src`` into ``dest`` file by file; a file already at ``dest`` is unlinked first,
    never written through — it may be a hard link to a file the user imported with --source."""
    if src.is_dir() and not src.is_symlink() and dest.is_dir() and not dest.is_symlink():
        for child in sorted(src.iterdir()):
            _merge(child, dest / child.name)
        return
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)  # unlinks (never writes through) whatever the folder holds
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    os.replace(src, dest)


def safe_extract(archive: Path, target: Path) -> list[str]:
    """Extract a zip or tar(.gz/.bz2/.xz) into ``target``; refuse absolute paths, ``..``, links and
    devices (naming the member) before anything is written. Files already in ``target`` are replaced,
    never written through (they may be hard links to a user's files). Returns the extracted file names.
    A truncated or corrupt archive raises ``DamagedArchive`` and leaves ``target`` untouched."""
    archive, target = Path(archive), Path(target)
    tmp = target.parent / f".{target.name}.extract-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    names: list[str] = []
    try:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as z:
                    for info in z.infolist():
                        _check_member(info.filename, archive)
                        mode = info.external_attr >> 16
                        if stat.S_ISLNK(mode):
                            raise UserError(f"{archive}: refusing member {info.filename!r}: it is a symbolic link")
                    for info in z.infolist():
                        z.extract(info, tmp)
                        if not info.is_dir():
                            names.append(info.filename)
            elif tarfile.is_tarfile(archive):
                with tarfile.open(archive) as t:
                    members = t.getmembers()
                    for m in members:
                        _check_member(m.name, archive)
                        if m.issym() or m.islnk():
                            raise UserError(f"{archive}: refusing member {m.name!r}: it is a link")
                        if not (m.isfile() or m.isdir()):
                            raise UserError(f"{archive}: refusing member {m.name!r}: not a regular file or folder")
                    t.extractall(tmp, members=members, filter="data")
                    names = [m.name for m in members if m.isfile()]
            else:
                raise DamagedArchive(archive, "not a zip or tar archive")
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as e:
            if isinstance(e, OSError) and e.errno is not None:  # a real I/O error (disk full, permissions)
                raise
            raise DamagedArchive(archive, f"damaged or incomplete archive ({type(e).__name__}: {e})") from None
        target.mkdir(parents=True, exist_ok=True)
        _merge(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(names)

import hashlib
import json
import os

import pytest

from g3an.errors import UserError
from pipeline.download import LOCK_NAME, DamagedArchive, fetch, fetch_all, safe_extract
from tests.helpers import http_server, make_tar, make_zip

PAYLOAD = bytes(range(256)) * 2000  # 512 kB


@pytest.fixture
def served(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "walk.zip").write_bytes(PAYLOAD)
    return site


def test_fetch_resumes_after_a_dropped_connection(served, tmp_path):
    with http_server(served, drop_once={"/walk.zip"}) as (url, state):
        got = fetch(f"{url}/walk.zip", tmp_path / "out" / "walk.zip", retries=2, backoff=0)
    assert (tmp_path / "out" / "walk.zip").read_bytes() == PAYLOAD
    assert got.sha256 == hashlib.sha256(PAYLOAD).hexdigest() and got.bytes == len(PAYLOAD)
    ranges = [r for _, r in state["requests"]]
    assert ranges[0] is None and ranges[1] == f"bytes={len(PAYLOAD) // 2}-"  # resumed, not restarted
    assert not (tmp_path / "out" / "walk.zip.part").exists()


def test_server_ignoring_ranges_restarts_cleanly(served, tmp_path):
    with http_server(served, drop_once={"/walk.zip"}, ranges=False) as (url, _):
        fetch(f"{url}/walk.zip", tmp_path / "walk.zip", retries=2, backoff=0)
    assert (tmp_path / "walk.zip").read_bytes() == PAYLOAD


def test_wrong_checksum_is_an_error_and_the_file_is_kept_aside(served, tmp_path):
    with http_server(served) as (url, _):
        with pytest.raises(UserError, match="SHA-256 mismatch"):
            fetch(f"{url}/walk.zip", tmp_path / "walk.zip", sha256="0" * 64)
    assert not (tmp_path / "walk.zip").exists()
    assert (tmp_path / "walk.zip.bad").read_bytes() == PAYLOAD


def test_verified_files_are_never_fetched_twice_and_the_lock_records_them(served, tmp_path):
    with http_server(served) as (url, state):
        fetch_all({"walk.zip": f"{url}/walk.zip"}, tmp_path / "dl")
        fetch_all({"walk.zip": f"{url}/walk.zip"}, tmp_path / "dl")
        assert len(state["requests"]) == 1
    lock = json.loads((tmp_path / "dl" / LOCK_NAME).read_text())
    assert lock["files"][0]["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert lock["files"][0]["url"].endswith("/walk.zip") and lock["files"][0]["bytes"] == len(PAYLOAD)


def test_a_changed_server_file_is_caught_by_the_lock(served, tmp_path):
    with http_server(served) as (url, _):
        fetch_all({"walk.zip": f"{url}/walk.zip"}, tmp_path / "dl")
        (tmp_path / "dl" / "walk.zip").write_bytes(b"corrupted locally")
        (served / "walk.zip").write_bytes(b"tampered upstream")
        with pytest.raises(UserError, match="SHA-256 mismatch"):
            fetch_all({"walk.zip": f"{url}/walk.zip"}, tmp_path / "dl")


def test_http_404_is_a_clear_error(served, tmp_path):
    with http_server(served) as (url, _):
        with pytest.raises(UserError, match="HTTP 404"):
            fetch(f"{url}/run.zip", tmp_path / "run.zip")


def test_no_network_says_nothing_was_downloaded_and_how_to_go_on(tmp_path):
    """A closed port on 127.0.0.1 (as with no network): no partial file is claimed, none is left."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connecting is refused
    with pytest.raises(UserError) as err:
        fetch(f"http://127.0.0.1:{port}/walk.zip", tmp_path / "walk.zip", retries=1, backoff=0)
    assert "nothing was downloaded" in str(err.value) and "--source" in str(err.value)
    assert "partial" not in str(err.value) and not list(tmp_path.iterdir())


@pytest.mark.parametrize("maker", [make_zip, make_tar])
@pytest.mark.parametrize("evil", ["../escape.txt", "/abs/escape.txt", "ok/../../escape.txt"])
def test_extraction_refuses_traversal_and_names_the_member(tmp_path, maker, evil):
    archive = maker(tmp_path / ("a.zip" if maker is make_zip else "a.tgz"), {"good.txt": b"x", evil: b"bad"})
    with pytest.raises(UserError, match="refusing member") as e:
        safe_extract(archive, tmp_path / "out")
    assert evil in str(e.value)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "good.txt").exists()


@pytest.mark.parametrize("maker", [make_zip, make_tar])
def test_extraction_refuses_links(tmp_path, maker):
    archive = maker(tmp_path / ("a.zip" if maker is make_zip else "a.tgz"), {"good.txt": b"x"},
                    symlinks={"link": "/etc/passwd"})
    with pytest.raises(UserError, match="'link'"):
        safe_extract(archive, tmp_path / "out")


def test_extraction_of_a_good_archive(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"walk/daria_walk.avi": b"1", "walk/eli_walk.avi": b"2"})
    assert safe_extract(archive, tmp_path / "out") == ["walk/daria_walk.avi", "walk/eli_walk.avi"]
    assert (tmp_path / "out" / "walk" / "eli_walk.avi").read_bytes() == b"2"


def test_extraction_over_hard_linked_files_never_writes_into_them(tmp_path):
    """A folder import hard-links the user's files into the staging folder; an archive extracted over
    them afterwards must replace the links, never write through them into the user's copy."""
    user = tmp_path / "user" / "walk" / "daria_walk.avi"
    user.parent.mkdir(parents=True)
    user.write_bytes(b"ORIGINAL")
    out = tmp_path / "out"
    (out / "walk").mkdir(parents=True)
    os.link(user, out / "walk" / "daria_walk.avi")
    archive = make_zip(tmp_path / "a.zip", {"walk/daria_walk.avi": b"FROM-ARCHIVE", "walk/eli_walk.avi": b"2"})
    safe_extract(archive, out)
    assert user.read_bytes() == b"ORIGINAL"
    assert (out / "walk" / "daria_walk.avi").read_bytes() == b"FROM-ARCHIVE"
    assert (out / "walk" / "eli_walk.avi").read_bytes() == b"2"


def _damaged(kind: str, tmp_path):
    if kind == "html":  # what a server's error page saved under the archive's name looks like
        (tmp_path / "walk.zip").write_bytes(b"<html><body>404</body></html>")
        return tmp_path / "walk.zip"
    big = {f"walk/v{i}.avi": os.urandom(50_000) for i in range(4)}
    if kind == "bad-crc":
        archive = make_zip(tmp_path / "walk.zip", big)
        data = bytearray(archive.read_bytes())
        at = data.index(big["walk/v2.avi"][:64])  # corrupt a stored member's bytes
        data[at:at + 8] = b"\x00" * 8
        archive.write_bytes(bytes(data))
        return archive
    archive = make_tar(tmp_path / "walk.tgz", big)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])  # cut short
    return archive


@pytest.mark.parametrize("kind", ["html", "bad-crc", "truncated-tgz"])
def test_a_damaged_archive_is_one_clear_error_and_extracts_nothing(tmp_path, kind):
    archive = _damaged(kind, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_bytes(b"x")
    with pytest.raises(DamagedArchive) as e:
        safe_extract(archive, out)
    assert str(archive) in str(e.value) and "complete copy" in str(e.value) and "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted([archive.name, "kept.txt"])

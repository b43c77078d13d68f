"""``g3an-cli download`` as a user runs it: Weizmann's ten zips from a loopback HTTP server, the
licensed sets from a local archive or folder, and the errors a user can meet."""

import json
import shutil

import pytest

from pipeline.sources.weizmann import ACTIONS
from tests.helpers import cli, http_server, make_mug, make_uva_nemo, make_weizmann, zip_folder


def _params(folder, **extra):
    lines = ["base:", "  data_dir: data"]
    (folder / "params.yaml").write_text("\n".join(lines) + "\n")
    return [a for k, v in extra.items() for a in ("--set", f"{k}={v}")]


def test_weizmann_zips_over_http_into_the_raw_folder(tmp_path):
    site = tmp_path / "site"
    videos = tmp_path / "videos"
    make_weizmann(videos, actors=("daria", "lena"), actions=ACTIONS, frames=4)
    site.mkdir()
    for action in ACTIONS:  # one zip per action, holding a folder named after it (as the originals)
        zip_folder(videos / action, site / f"{action}.zip")
    with http_server(site, drop_once={"/walk.zip"}) as (url, state):
        r = cli("download", "weizmann", *_params(tmp_path, **{"download.weizmann_url": url}), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        again = cli("download", "weizmann", *_params(tmp_path, **{"download.weizmann_url": url}), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        zips_fetched = [p for p, _ in state["requests"]]
    assert sorted(set(zips_fetched)) == sorted(f"/{a}.zip" for a in ACTIONS)
    assert zips_fetched.count("/walk.zip") == 2 and len(zips_fetched) == 11  # one resume; nothing twice later
    raw = tmp_path / "data" / "raw" / "weizmann"
    assert (raw / "walk" / "lena_walk1.avi").exists() and len(list(raw.rglob("*.avi"))) == 20
    lock = json.loads((raw / "download.lock.json").read_text())
    assert len(lock["files"]) == 10 and all(len(f["sha256"]) == 64 for f in lock["files"])
    assert json.loads((raw / "summary.json").read_text())["videos"] == 20


def test_licensed_sets_from_an_archive_or_a_folder(tmp_path):
    make_mug(tmp_path / "MUG")
    archive = zip_folder(tmp_path / "MUG" / "subjects3", tmp_path / "mug.zip")
    r = cli("download", "mug", "--source", str(archive), *_params(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data" / "raw" / "mug" / "subjects3" / "001" / "anger" / "take000" / "img_0000.jpg").exists()
    make_uva_nemo(tmp_path / "nemo")
    r = cli("download", "uva_nemo", "--source", str(tmp_path / "nemo"), *_params(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "data" / "raw" / "uva_nemo").glob("*.mp4"))) == 6
    assert (tmp_path / "nemo" / "001_deliberate_smile_1.mp4").exists()  # the user's files stay


@pytest.mark.parametrize("args, fragment", [
    (["download", "mug"], "no --source given. MUG is licensed: request it at"),
    (["download", "uva_nemo", "--source", "missing.zip"], "--source missing.zip: no such file or folder"),
])
def test_licensed_without_data_explains_where_to_get_it(tmp_path, args, fragment):
    r = cli(*args, *_params(tmp_path), cwd=tmp_path)
    assert r.returncode == 2 and fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1
    raw = tmp_path / "data" / "raw"
    assert not raw.exists() or [p.name for p in raw.iterdir()] == [f".{args[1]}.lock"]  # only the lock file


def test_a_folder_in_the_wrong_layout_is_refused_with_what_is_missing(tmp_path):
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "notes.txt").write_text("hello")
    r = cli("download", "mug", "--source", str(tmp_path / "wrong"), *_params(tmp_path), cwd=tmp_path)
    assert r.returncode == 2 and f"{tmp_path / 'wrong'}: not a mug data set: no subjects3/ folder" in r.stderr
    assert ".tmp-" not in r.stderr  # the user's path is named, never our temp folder
    assert not (tmp_path / "data" / "raw" / "mug").exists()
    assert [p.name for p in (tmp_path / "data" / "raw").iterdir()] == [".mug.lock"]  # no temp folders


def _weizmann_zips(tmp_path, actions=ACTIONS):
    videos, site = tmp_path / "videos", tmp_path / "zips"
    make_weizmann(videos, actors=("daria", "lena"), actions=actions, frames=4)
    site.mkdir()
    return [zip_folder(videos / a, site / f"{a}.zip") for a in actions]  # as the Weizmann site serves them


def test_weizmann_from_a_folder_of_its_zips(tmp_path):
    zips = _weizmann_zips(tmp_path)
    r = cli("download", "weizmann", "--source", str(zips[0].parent), *_params(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "data" / "raw" / "weizmann" / "summary.json").read_text())
    assert summary["videos"] == 20 and "missing_classes" not in summary and "warnings" not in summary
    assert sorted(p.name for p in zips[0].parent.iterdir()) == sorted(f"{a}.zip" for a in ACTIONS)  # untouched


def test_a_folder_copied_from_a_mac_imports_without_its_resource_forks(tmp_path):
    zips = _weizmann_zips(tmp_path, actions=("walk", "jack"))
    folder = zips[0].parent
    for z in zips:  # what macOS leaves beside each file on a non-Mac volume, and in its zips
        (folder / f"._{z.name}").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
        (folder / "__MACOSX").mkdir(exist_ok=True)
        (folder / "__MACOSX" / f"._{z.name}").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    r = cli("download", "weizmann", "--source", str(folder), *_params(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "data" / "raw" / "weizmann" / "summary.json").read_text())["videos"] == 4


def test_several_sources_add_up_and_a_set_missing_most_classes_is_a_warning(tmp_path):
    zips = _weizmann_zips(tmp_path, actions=("walk", "jack"))
    args = [a for z in zips for a in ("--source", str(z))]
    r = cli("download", "weizmann", *args, *_params(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "data" / "raw" / "weizmann" / "summary.json").read_text())
    assert summary["videos"] == 4 and summary["sources"] == [z.name for z in zips]  # no host paths in the output
    recorded = json.loads((tmp_path / "data" / "downloads" / "weizmann" / "sources.json").read_text())
    assert recorded["sources"] == [str(z) for z in zips]  # this machine's record, outside the output
    assert len(summary["missing_classes"]) == 8 and "only 2 of 10 classes present" in summary["warnings"][0]
    assert "only 2 of 10 classes present" in r.stderr


def test_a_licensed_import_is_kept_by_a_run_without_a_source(tmp_path):
    make_mug(tmp_path / "MUG")
    assert cli("download", "mug", "--source", str(tmp_path / "MUG"), *_params(tmp_path), cwd=tmp_path).returncode == 0
    raw = tmp_path / "data" / "raw" / "mug"
    before = {p: p.stat().st_mtime_ns for p in raw.rglob("*")}
    again = cli("download", "mug", *_params(tmp_path), cwd=tmp_path)  # e.g. the stage re-run by DVC
    assert again.returncode == 0 and "keeping the data imported earlier" in again.stderr, again.stderr
    assert {p: p.stat().st_mtime_ns for p in raw.rglob("*")} == before


def test_a_licensed_import_removed_by_dvc_is_imported_again_from_the_recorded_source(tmp_path):
    make_mug(tmp_path / "MUG")
    assert cli("download", "mug", "--source", str(tmp_path / "MUG"), *_params(tmp_path), cwd=tmp_path).returncode == 0
    raw = tmp_path / "data" / "raw" / "mug"
    files = sorted(p.relative_to(raw) for p in raw.rglob("*"))
    shutil.rmtree(raw)  # as DVC does before re-running the stage
    again = cli("download", "mug", *_params(tmp_path), cwd=tmp_path)
    assert again.returncode == 0 and "importing again" in again.stderr, again.stderr
    assert sorted(p.relative_to(raw) for p in raw.rglob("*")) == files
    (tmp_path / "data" / "downloads" / "mug" / "sources.json").write_bytes(b"\x00garbage")
    shutil.rmtree(raw)
    r = cli("download", "mug", *_params(tmp_path), cwd=tmp_path)  # a broken record is no record
    assert r.returncode == 2 and "no --source given" in r.stderr and "Traceback" not in r.stderr


def test_synthetic_renders_even_with_a_source_left_in_the_params(tmp_path):
    """`download.source` set for a licensed run stays in params.yaml; switching back to the synthetic set
    must render it, not import that archive into raw/synthetic."""
    make_mug(tmp_path / "MUG")
    archive = zip_folder(tmp_path / "MUG" / "subjects3", tmp_path / "mug.zip")
    r = cli("download", "synthetic", *_params(tmp_path, **{"download.source": str(archive),
                                                           "download.synthetic.subjects": 3,
                                                           "download.synthetic.frames": 24}), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    raw = tmp_path / "data" / "raw" / "synthetic"
    summary = json.loads((raw / "summary.json").read_text())
    assert summary["rendered"] is True and "sources" not in summary and summary["videos"] > 0
    assert not (raw / "subjects3").exists() and "ignoring the source given" in r.stderr


def test_a_damaged_download_is_set_aside_and_fetched_again(tmp_path):
    """An error page (or a cut-short file) served as an archive is fetched, its hash recorded, and
    then fails to extract: it must not be trusted by the next run."""
    site, videos = tmp_path / "site", tmp_path / "videos"
    make_weizmann(videos, actors=("daria", "lena"), actions=ACTIONS, frames=4)
    site.mkdir()
    for action in ACTIONS:
        zip_folder(videos / action, site / f"{action}.zip")
    good = (site / "walk.zip").read_bytes()
    (site / "walk.zip").write_bytes(b"<html><body>Service unavailable</body></html>")
    with http_server(site) as (url, state):
        args = _params(tmp_path, **{"download.weizmann_url": url})
        r = cli("download", "weizmann", *args, cwd=tmp_path)
        cache = tmp_path / "data" / "downloads" / "weizmann"
        error = r.stderr.strip().splitlines()[-1]  # after the progress bars: one line
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert error.endswith("walk.zip: not a zip or tar archive (as downloaded from " + url + "/walk.zip); it was "
                              "moved aside to data/downloads/weizmann/walk.zip.bad and the next run downloads it again")
        assert (cache / "walk.zip.bad").exists() and not (tmp_path / "data" / "raw" / "weizmann").exists()
        assert "walk.zip" not in {f["file"] for f in json.loads((cache / "download.lock.json").read_text())["files"]}
        (site / "walk.zip").write_bytes(good)  # the server is well again
        again = cli("download", "weizmann", *args, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        fetched = [p for p, _ in state["requests"]]
    assert fetched.count("/walk.zip") == 2 and fetched.count("/jump.zip") == 1  # only the damaged one again
    assert len(list((tmp_path / "data" / "raw" / "weizmann").rglob("*.avi"))) == 20


def test_an_archive_merged_over_an_imported_folder_leaves_the_users_files_alone(tmp_path):
    make_mug(tmp_path / "MUG")
    frame = tmp_path / "MUG" / "subjects3" / "001" / "anger" / "take000" / "img_0000.jpg"
    before = frame.read_bytes()
    update = tmp_path / "update"  # an archive holding a newer copy of a file the folder has
    (update / "subjects3" / "001" / "anger" / "take000").mkdir(parents=True)
    shutil.copy(tmp_path / "MUG" / "subjects3" / "003" / "anger" / "take000" / "img_0000.jpg",
                update / "subjects3" / "001" / "anger" / "take000" / "img_0000.jpg")
    archive = zip_folder(update / "subjects3", tmp_path / "update.zip")
    r = cli("download", "mug", "--source", str(tmp_path / "MUG"), "--source", str(archive), *_params(tmp_path),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert frame.read_bytes() == before  # the user's file, untouched
    raw = tmp_path / "data" / "raw" / "mug" / "subjects3" / "001" / "anger" / "take000" / "img_0000.jpg"
    assert raw.read_bytes() != before  # the archive's copy won in the imported set

import os
import sys
import time

import pytest

from tests.helpers import ROOT, cli, env_without, python_c


def test_help_is_instant_and_lists_every_stage(tmp_path):
    t = time.perf_counter()
    r = cli("--help", cwd=tmp_path)
    took = time.perf_counter() - t
    assert r.returncode == 0
    for command in ("download", "preprocess", "train", "config"):
        assert command in r.stdout
    assert took < 5  # a loose bound; the import check below is the real guarantee
    probe = python_c("import sys, stages.cli; "
                     "print(sorted(m for m in ('torch', 'webdataset', 'cv2', 'decord') if m in sys.modules))")
    assert probe.strip() == "[]"


def test_help_reads_as_plain_words(tmp_path):
    """Options show PATH / FILE / KEY=VALUE, flags nothing; the data-set argument lists its choices."""
    r = cli("download", "--help", cwd=tmp_path)
    assert r.returncode == 0
    assert "<bool>" not in r.stdout and "<list[str]>" not in r.stdout
    assert "KEY=VALUE" in r.stdout and "PATH" in r.stdout
    assert "synthetic, weizmann, mug, uva_nemo" in r.stdout
    assert "report" in cli("--help", cwd=tmp_path).stdout


def test_config_show_resolves_overrides_and_rejects_bad_ones(tmp_path):
    params = ROOT / "params.yaml"
    r = cli("config", "show", "--params", str(params), "--set", "model.width=0.25", "--hash", cwd=tmp_path)
    assert r.returncode == 0 and "width: 0.25" in r.stdout and "train params hash" in r.stdout
    bad = cli("config", "show", "--params", str(params), "--set", "model.video_mode=4d", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --set model.video_mode = '4d' is invalid: expected one of '1p2d', '2p1d', '3d'"


def test_missing_params_file_is_one_line(tmp_path):
    r = cli("train", cwd=tmp_path)
    assert r.returncode == 2 and "params.yaml: params file not found" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_the_committed_params_file_is_valid():
    from g3an.config import load_config

    cfg = load_config(ROOT / "params.yaml")
    assert cfg.base.dataset == "synthetic"


# what g3an-cli sets before torch loads, unless the user chose: (variable, our default, a user's choice)
# — sleeping idle OpenMP threads (a competing job on a shared box) and huge pages for large tensors
# (their page faults cost more than the work on them); docs/what-we-tried.md, g3an/runtime.py
PROCESS_DEFAULTS = [("OMP_WAIT_POLICY", "PASSIVE", "ACTIVE"), ("THP_MEM_ALLOC_ENABLE", "1", "0")]


@pytest.mark.parametrize("variable, default, users", PROCESS_DEFAULTS)
@pytest.mark.parametrize("user_chose", [False, True])
def test_the_cli_sets_its_process_defaults_unless_the_user_chose(monkeypatch, variable, default, users, user_chose):
    from stages import cli as g3an_cli

    if user_chose:
        monkeypatch.setenv(variable, users)
    else:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(sys, "argv", ["g3an-cli", "--help"])
    with pytest.raises(SystemExit):
        g3an_cli.main()
    assert os.environ[variable] == (users if user_chose else default)


def _thp_mode() -> str:
    try:
        text = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return "absent"
    return text.split("[")[1].split("]")[0]


@pytest.mark.skipif(_thp_mode() not in ("always", "madvise"), reason="the kernel offers no transparent huge pages")
def test_large_tensors_of_a_cli_process_sit_on_huge_pages():
    """The real effect, not the variable: a 64 MB tensor made after set_process_defaults() is backed by
    2 MB pages (in 'madvise' mode only because PyTorch asked for them)."""
    code = ("from g3an.runtime import set_process_defaults; set_process_defaults()\n"
            "import torch\n"
            "x = torch.ones(16 * 2**20)\n"
            "print(next(l for l in open('/proc/self/smaps_rollup') if l.startswith('AnonHugePages')).split()[1])")
    assert int(python_c(code, env=env_without("THP_MEM_ALLOC_ENABLE")).strip()) >= 32 * 1024  # kB: at least half of the tensor


def test_under_dvc_only_weights_inside_the_weights_folder_pass(tmp_path, monkeypatch):
    """evaluate's dvc.yaml dep is weights/: under `dvc repro` (DVC_STAGE set) a file elsewhere is
    refused, a relative or absolute path inside (a symlink too) passes; run by hand, anything goes."""
    from g3an.errors import UserError
    from stages.evaluate import check_weights_tracked

    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").mkdir()
    (tmp_path / "elsewhere.pth").write_bytes(b"w")
    (tmp_path / "weights" / "linked.pth").symlink_to(tmp_path / "elsewhere.pth")
    monkeypatch.delenv("DVC_STAGE", raising=False)
    check_weights_tracked(str(tmp_path / "elsewhere.pth"))  # by hand: the metric records its hash
    monkeypatch.setenv("DVC_STAGE", "evaluate")
    check_weights_tracked("")  # the paper FID off: nothing to check
    for inside in ("weights/r.pth", str(tmp_path / "weights" / "r.pth"), "weights/linked.pth", "./weights/sub/r.pth"):
        check_weights_tracked(inside)
    for outside in (str(tmp_path / "elsewhere.pth"), "weights/../elsewhere.pth", "weights", "weightsX/r.pth"):
        with pytest.raises(UserError, match="lies outside weights/.*eval.i3d_or_resnext_weights=weights/"):
            check_weights_tracked(outside)

"""bench_attention --against REV: a commit's F-SA beside this code's (benchmarks/bench_attention.py)."""

import subprocess

import pytest

from tests.helpers import ROOT, load_benchmark

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0,
    reason="needs the project as a git checkout (git archive gives the other commit's code)")


def test_a_commits_package_is_extracted_as_git_holds_it(tmp_path):
    bench = load_benchmark("bench_attention")
    code = bench.code_of("HEAD", tmp_path)
    held = subprocess.run(["git", "-C", str(ROOT), "show", "HEAD:g3an/models/attention.py"],
                          capture_output=True, check=True).stdout
    assert (code / "g3an" / "models" / "attention.py").read_bytes() == held


def test_each_side_times_the_code_it_was_given(tmp_path):
    bench = load_benchmark("bench_attention")
    code = bench.code_of("HEAD", tmp_path / "rev")
    t_sa, s_sa = bench.one_side(code, 8, 1, 1)  # a real child process, importing the extracted package
    assert t_sa > 0 and s_sa > 0
    # a folder without g3an/: the child falls through to the installed package, and the result is refused
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="imported .* instead"):
        bench.one_side(tmp_path / "empty", 8, 1, 1)


def test_an_unknown_commit_is_one_clear_error(tmp_path):
    bench = load_benchmark("bench_attention")
    with pytest.raises(SystemExit, match="--against no-such-rev: git cannot give that commit's g3an/"):
        bench.code_of("no-such-rev", tmp_path)

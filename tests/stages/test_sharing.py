"""The README's sharing recipe, command for command, against a real S3 endpoint: moto's
standalone server on 127.0.0.1, with authentication on (so a wrong key is refused as by S3, MinIO
or Ceph). Push from one clone, pull into a colleague's, experiments both ways."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ran, run

BUCKET = "g3an-lab"
ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """``(endpoint, access_key_id, secret_access_key)`` of a user allowed to use the bucket."""
    pytest.importorskip("dvc_s3", reason="the s3 extra: pip install -e '.[test]' (or '.[s3]')")
    boto3 = pytest.importorskip("boto3")
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        pytest.skip("moto's standalone server is not installed: pip install -e '.[test]'")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # the first 3 requests (create the user, its key, its policy) run unauthenticated, all later ones
    # must be signed with a key the server knows
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
    log = tmp_path_factory.mktemp("moto") / "server.log"
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="lab")
        key = iam.create_access_key(UserName="lab")["AccessKey"]
        iam.put_user_policy(UserName="lab", PolicyName="all", PolicyDocument=ALLOW_ALL)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                     aws_secret_access_key=key["SecretAccessKey"]).create_bucket(Bucket=BUCKET)
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _credentials(repo: Path, key_id: str, secret: str) -> None:
    """Credentials go to .dvc/config.local: never committed."""
    run(["dvc", "remote", "modify", "--local", "storage", "access_key_id", key_id], repo)
    run(["dvc", "remote", "modify", "--local", "storage", "secret_access_key", secret], repo)


def test_s3_round_trip_push_clone_pull_and_experiments(project, s3, tmp_path):
    endpoint, key_id, secret = s3
    a = project
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], a)
    # the README's recipe: the remote in .dvc/config (committed), the key in .dvc/config.local
    run(["dvc", "remote", "add", "-d", "storage", f"s3://{BUCKET}/g3an"], a)
    run(["dvc", "remote", "modify", "storage", "endpointurl", endpoint], a)
    _credentials(a, key_id, secret)
    run(["git", "add", ".dvc/config"], a)
    run(["git", "commit", "-qm", "DVC remote on S3"], a)
    assert key_id not in (a / ".dvc" / "config").read_text()  # the secret stays out of git
    pushed = run(["dvc", "push"], a)
    assert "pushed" in pushed.stdout.lower(), pushed.stdout
    run(["git", "push", "-q", "origin", "HEAD:main"], a)

    # a colleague: clone, own credentials, pull — everything is there and nothing needs re-running
    b = tmp_path / "b"
    run(["git", "clone", "-q", str(origin), str(b)], tmp_path)
    _credentials(b, key_id, secret)
    run(["dvc", "pull"], b)
    status = run(["dvc", "status"], b).stdout
    assert "up to date" in status, status
    assert ran(run(["dvc", "repro"], b).stdout) == []
    for rel in ("runs/train/generator.pt", "runs/evaluator/evaluator.pt", "runs/report/index.html",
                "runs/render/figures/c1_unconditional.png"):
        assert (b / rel).read_bytes() == (a / rel).read_bytes(), rel
    ckpts = sorted(p.name for p in (a / "runs" / "train" / "checkpoints").iterdir())
    assert ckpts and sorted(p.name for p in (b / "runs" / "train" / "checkpoints").iterdir()) == ckpts

    # an experiment made in A, shared through git + S3, seen and applied in B
    made = run(["dvc", "exp", "run", "-S", "train.lr_d=0.0005", "-n", "slowd"], a)
    assert "train" in ran(made.stdout)
    run(["dvc", "exp", "push", "origin", "slowd"], a)
    run(["dvc", "exp", "pull", "origin", "slowd"], b)
    shown = run(["dvc", "exp", "show", "--json"], b).stdout
    assert "slowd" in shown and "0.0005" in shown
    run(["dvc", "exp", "apply", "slowd"], b)
    assert (b / "runs" / "train" / "generator.pt").read_bytes() == (a / "runs" / "train" / "generator.pt").read_bytes()
    assert "up to date" in run(["dvc", "status"], b).stdout

    # the colleague continues training from the pulled checkpoints: it resumes, not restarts
    run(["dvc", "exp", "run", "-S", "train.lr_d=0.0005", "-S", "train.steps=8", "-n", "longer"], b)
    log = json.loads((b / "results" / "train" / "metrics.json").read_text())
    assert log["step"] == 8


def test_a_wrong_s3_key_is_refused_with_a_clear_error(project, s3, tmp_path):
    """A wrong secret or an unknown key: dvc exits non-zero naming S3, the bucket path and the 403
    (the README's troubleshooting line says what a 403 means); nothing is half-written."""
    endpoint, key_id, _ = s3
    c = tmp_path / "c"
    run(["git", "clone", "-q", str(project), str(c)], tmp_path)
    run(["dvc", "remote", "add", "-f", "-d", "storage", f"s3://{BUCKET}/g3an"], c)
    run(["dvc", "remote", "modify", "storage", "endpointurl", endpoint], c)
    for key, secret in ((key_id, "not-the-secret"), ("AKIAUNKNOWN000000000", "nope")):
        _credentials(c, key, secret)
        failed = run(["dvc", "pull"], c, check=False)
        text = failed.stdout + failed.stderr
        assert failed.returncode != 0, text
        assert f"s3 ({BUCKET}/g3an" in text and ("403" in text or "Forbidden" in text), text
        assert not (c / "runs" / "train" / "generator.pt").exists()

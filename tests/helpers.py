"""Every test fixture is built here — tiny configs, and small files in each data set's exact
on-disk layout (real videos encoded by OpenCV, real archives, a real HTTP server on 127.0.0.1).
Tests import from this module, never copy-paste."""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import io
import os
import tarfile
import threading
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from g3an.models.generator import G3Spec
from pipeline.sources.mug import EXPRESSIONS
from pipeline.sources.weizmann import ACTIONS, ACTORS

ROOT = Path(__file__).resolve().parents[1]


BENCHMARKS = ROOT / "benchmarks"


def load_benchmark(name: str):
    """A script of benchmarks/ as a module, loaded by path (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tiny_spec(**kw) -> G3Spec:
    """A generator small enough for CPU tests: width 1/16, 32 px, 16 frames."""
    base = dict(preset="paper", width=1 / 16, size=32, attention="fused", attention_after=2)
    base.update(kw)
    return G3Spec(**base)


# --- frames and videos -----------------------------------------------------------------------

def moving_frames(n: int = 8, width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """(n, H, W, 3) RGB uint8: a bright square moving over a smooth, seed-tinted gradient."""
    tint = np.random.default_rng(seed).integers(20, 90, 3)
    ramp = np.linspace(0.5, 1.0, width)[None, :, None]
    bg = np.broadcast_to(ramp * tint, (height, width, 3)).astype(np.uint8)
    out = []
    for i in range(n):
        f = bg.copy()
        x = (2 + 3 * i) % max(1, width - 10)
        f[height // 3:height // 3 + 8, x:x + 8] = (250, 200, 40)
        out.append(f)
    return np.stack(out)


def write_video(path: Path, frames: np.ndarray, fps: float = 25.0, fourcc: str | None = None) -> Path:
    """Encode RGB frames with OpenCV: XVID for .avi, mp4v for .mp4."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = fourcc or ("mp4v" if path.suffix == ".mp4" else "XVID")
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), path
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def truncate(path: Path, keep: float = 0.4) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def weizmann_names() -> list[str]:
    """The 93 file names of the real Weizmann set (lena has two takes of walk, run and skip)."""
    names = [f"{a}_{x}.avi" for a in ACTORS for x in ACTIONS if not (a == "lena" and x in ("walk", "run", "skip"))]
    names += [f"lena_{x}{k}.avi" for x in ("walk", "run", "skip") for k in (1, 2)]
    return sorted(names)


def make_weizmann(root: Path, actors: Sequence[str] = ("daria", "ido", "lena"),
                  actions: Sequence[str] = ("walk", "wave1", "wave2", "jack"), frames: int = 8,
                  size: tuple[int, int] = (180, 144)) -> list[Path]:
    """Real-layout Weizmann videos (180×144, 25 fps), one folder per action as the zips hold them."""
    paths = []
    for i, actor in enumerate(actors):
        for j, action in enumerate(actions):
            name = f"{actor}_{action}1" if (actor == "lena" and action == "walk") else f"{actor}_{action}"
            paths.append(write_video(root / action / f"{name}.avi", moving_frames(frames, *size, seed=i * 10 + j)))
    return paths


def make_mug(root: Path, subjects: Sequence[str] = ("001", "002", "003"), expressions: Sequence[str] = EXPRESSIONS[:3],
             frames: int = 6, size: int = 40) -> Path:
    """Real-layout MUG: subjects3/<NNN>/[session<k>/]<expression>/take<NNN>/img_<NNNN>.jpg.
    Subject 002 uses a session folder; 001 has a ``take001end`` take and a neutral take."""
    base = root / "subjects3"
    for s_i, subject in enumerate(subjects):
        for e_i, expression in enumerate(list(expressions) + (["neutral"] if s_i == 0 else [])):
            takes = ["take000"] + (["take001end"] if s_i == 0 and e_i == 0 else [])
            for take in takes:
                parent = base / subject / ("session0" if subject == "002" else "") / expression / take
                parent.mkdir(parents=True, exist_ok=True)
                for k, f in enumerate(moving_frames(frames, size, size, seed=s_i * 7 + e_i)):
                    cv2.imwrite(str(parent / f"img_{k:04d}.jpg"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return base


UVA_DETAILS_HEADER = "UvA-NEMO Smile Database\nFile details\n\nFilename\tSubject Code\tGender\tAge\tAuthenticity\n"


def make_uva_nemo(root: Path, subjects: Sequence[str] = ("001", "002", "003"), frames: int = 8,
                  size: tuple[int, int] = (64, 36), details: bool = True,
                  codes: Sequence[str] | None = None) -> list[Path]:
    """Real-layout UvA-NEMO: <NNN>_{deliberate,spontaneous}_smile_<K>.mp4 (+ the details file: file
    name, subject code, gender, age, label). ``codes``: each file number's subject code in the
    details (default: the number itself)."""
    paths, rows = [], []
    for i, s in enumerate(subjects):
        code = codes[i] if codes else s
        for kind in ("deliberate", "spontaneous"):
            name = f"{s}_{kind}_smile_{i + 1}"
            paths.append(write_video(root / f"{name}.mp4", moving_frames(frames, *size, seed=i), fps=50))
            rows.append(f"{name}\t{code}\t{'F' if i % 2 else 'M'}\t{20 + i}\t{kind}")
    if details:
        (root / "UvA-NEMO_Smile_Database_File_Details.txt").write_text(UVA_DETAILS_HEADER + "\n".join(rows) + "\n")
    return paths


def face_frames(n: int = 8, width: int = 320, height: int = 240, step: int = 6) -> tuple[np.ndarray, list]:
    """A real face (scikit-image's astronaut photograph, 160×160) moving right across a grey frame;
    returns frames and the face's true (x0, y0, x1, y1) in each."""
    from skimage import data

    face = cv2.resize(data.astronaut()[20:250, 120:350], (160, 160), interpolation=cv2.INTER_AREA)
    frames, boxes = [], []
    for i in range(n):
        f = np.full((height, width, 3), 128, np.uint8)
        x, y = 20 + step * i, 40
        f[y:y + 160, x:x + 160] = face
        frames.append(f)
        boxes.append((x, y, x + 160, y + 160))
    return np.stack(frames), boxes


# --- archives --------------------------------------------------------------------------------

def make_zip(path: Path, files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, target)
    return path


def make_tar(path: Path, files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            t.addfile(info)
    return path


def zip_folder(folder: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(folder.parent))
    return path


# --- a real HTTP server on loopback ----------------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with Range support; can drop the connection mid-file once per path."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        state = self.server.state
        state["requests"].append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start, status = 0, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and state["ranges"]:
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.path in state["drop_once"]:
            state["drop_once"].discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection dies mid-file
            return
        self.wfile.write(body)


@contextlib.contextmanager
def http_server(folder: Path, drop_once: Iterable[str] = (), ranges: bool = True):
    """Serve ``folder`` on 127.0.0.1 (an ephemeral port); yields (base_url, state)."""
    handler = functools.partial(_Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.state = {"requests": [], "drop_once": set(drop_once), "ranges": ranges}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.state
    finally:
        server.shutdown()
        server.server_close()


# --- shards with known content -----------------------------------------------------------------

def make_index_shards(folder: Path, videos: int = 12, frames: int = 40, size: int = 8, per_shard: int = 3,
                      split: str = "train", lengths: Sequence[int] | None = None,
                      track_frames: int | None = None, subjects: int | None = None) -> list[Path]:
    """Shards whose pixels say where they came from: channel 0 = frame index, channel 1 = video index;
    4 classes (``a``–``d``, label = video index mod 4), one subject per video (or ``subjects`` of
    them: video v is subject ``s{v mod subjects}``), and a real manifest.
    ``track_frames``: each video's metadata gets a ``track`` of that many points, frame i at
    (i / frames, 0.5): left to right across the middle row."""
    from types import SimpleNamespace

    from g3an.fsutil import write_json_atomic
    from pipeline.manifest import build_manifest
    from pipeline.shards import ShardSetWriter

    classes = ("a", "b", "c", "d")
    w, entries = ShardSetWriter(folder, split, per_shard), []
    for v in range(videos):
        n = lengths[v] if lengths else frames
        f = np.zeros((n, size, size, 3), np.uint8)
        f[..., 0] = np.arange(n, dtype=np.uint8)[:, None, None]
        f[..., 1] = v
        meta = {"label_index": v % 4, "label": classes[v % 4], "subject": f"s{v % subjects if subjects else v}", "frames": n}
        if track_frames is not None:
            meta["track"] = [[i / n, 0.5] for i in range(track_frames)]
        w.write(f"video{v:03d}", f, meta)
        entries.append(meta)
    shards = w.close()
    source = SimpleNamespace(name="index", classes=classes, conditional=True, factors={})
    write_json_atomic(folder / "manifest.json", build_manifest(split, source, entries, shards, [], {"size": size}))
    return sorted(folder.glob("*.tar"))


def run_ddp_driver(shards: Path, out: Path, *extra: str, timeout: float = 300) -> tuple[list[dict], list[dict]]:
    """Two real ranks under torchrun running tests/g3an/train/ddp_driver.py (``extra``: its
    ``train__key=value`` overrides); returns each rank's record (steps, clips, videos seen) and its
    final parameters ({net: {name: tensor}}, on the CPU)."""
    import json
    import subprocess
    import sys

    import torch

    driver = ROOT / "tests" / "g3an" / "train" / "ddp_driver.py"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(driver), str(shards), str(out), *extra], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    states = [torch.load(out / f"rank{r}.pt", weights_only=True, map_location="cpu") for r in (0, 1)]
    return records, states


def assert_ranks_identical(states: list[dict], nets: Sequence[str]) -> None:
    """Every parameter of each named net equal, to the bit, on both ranks."""
    import torch

    s0, s1 = states
    for net in nets:
        assert s0[net]
        for k in s0[net]:
            assert torch.equal(s0[net][k], s1[net][k]), f"{net}.{k} differs between ranks"


def env_without(*names: str) -> dict:
    return {k: v for k, v in os.environ.items() if k not in names}


# --- tiny training runs ------------------------------------------------------------------------

TINY = {"model.width": 0.0625, "model.d_width": 0.0625, "model.size": 32, "model.attention_after": 2, "preprocess.size": 32,
        "loader.batch_size": 4, "loader.workers": 0, "loader.shuffle_buffer": 8, "train.steps": 6,
        "train.ckpt_every": 3, "train.log_every": 2, "train.sample_every": 3, "train.ema_beta": 0.9,
        "download.synthetic.subjects": 3, "download.synthetic.frames": 48, "preprocess.workers": 0,
        "preprocess.shard_size": 4, "preprocess.test_fraction": 0.34}


def tiny_overrides(**extra) -> list[str]:
    """``--set`` strings for a CPU run that takes seconds: width 1/16, 32 px, batch 4."""
    merged = {**TINY, **{k.replace("__", "."): v for k, v in extra.items()}}
    return [f"{k}={v}" for k, v in merged.items()]


def tiny_config(**extra):
    from g3an.config import config_from_dict

    return config_from_dict({}, tiny_overrides(**extra))


def make_training_shards(folder: Path, subjects: int = 3) -> Path:
    """Render a tiny synthetic set and preprocess it into shards at 32 px — the real path."""
    from pipeline.preprocess import build_shards
    from pipeline.sources import get_source
    from pipeline.sources.synthetic import render_dataset

    cfg = tiny_config(download__synthetic__subjects=subjects)
    render_dataset(folder / "raw", cfg.download.synthetic, seed=0)
    build_shards(get_source("synthetic"), folder / "raw", folder / "shards",
                 replace(cfg.preprocess, size=32, shard_size=4, workers=0, test_fraction=0.34), seed=0)
    return folder / "shards"


def live_processes_in_group(pgid: int) -> list[int]:
    """The pids of process group ``pgid`` that still run (zombies aside), from /proc (Linux)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(group) == pgid and state != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _cli_command(*args: str) -> list[str]:
    import sys

    return [str(Path(sys.executable).parent / "g3an-cli"), *args]


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300, **kw):
    """Run ``g3an-cli`` as a user would, in a subprocess."""
    import subprocess

    return subprocess.run(_cli_command(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def cli_started(*args: str, cwd: Path, **kw):
    """``g3an-cli`` started as ``cli`` runs it, without waiting for it (stdout and stderr piped, text)."""
    import subprocess

    return subprocess.Popen(_cli_command(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def assert_group_ends(pgid: int, within: float = 10.0) -> None:
    """Every process of group ``pgid`` gone within ``within`` seconds (none left behind by its leader)."""
    import time

    deadline = time.time() + within
    while live_processes_in_group(pgid):
        assert time.time() < deadline, f"left running in group {pgid}: {live_processes_in_group(pgid)}"
        time.sleep(0.1)


def latest_checkpoint(run: Path) -> dict:
    """The training run's newest checkpoint, loaded as training loads it."""
    from g3an.persistence import load_artifact

    folder = run / "checkpoints"
    return load_artifact(folder / (folder / "latest").read_text().strip(), "checkpoint")


def assert_same_checkpoints(a: dict, b: dict, parts: Sequence[str] = ("g", "d_v", "d_i", "ema")) -> None:
    """Two checkpoints hold the same weights, to the bit, and the same step and clip counts."""
    import torch

    for part in parts:
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    assert a["step"] == b["step"] and a["clips"] == b["clips"]


def straight_and_resumed(shards: Path, folder: Path, steps: int = 5, **overrides):
    """A run of ``steps`` steps straight through, and one stopped at step 4 (mid-segment) and resumed
    to the same end: (the resumed run's result, the straight run's last checkpoint, the resumed one's)."""
    from g3an.train.loop import fit

    fit(tiny_config(train__steps=steps, **overrides), shards, folder / "straight")
    fit(tiny_config(train__steps=4, **overrides), shards, folder / "resumed")  # stops mid-segment
    res = fit(tiny_config(train__steps=steps, **overrides), shards, folder / "resumed")
    return res, latest_checkpoint(folder / "straight"), latest_checkpoint(folder / "resumed")


def sgd_nets(heads: dict, lr_d: float = 1.0, **weights):
    """The step's nets for tests that replay a loss term by hand: a tiny conditional model (3 classes,
    32 px, width 1/16, no attention), seeded 0, built with ``heads`` (build_models' head switches),
    in float64 (feed it float64 clips: the step then draws its latents in float64 too), G on SGD at
    lr 1 (Δθ = −∇θ loss) and D_V + D_I at ``lr_d``; ``weights``: the Nets loss weights."""
    import torch

    from g3an.config import LoaderConfig, ModelConfig
    from g3an.models.build import build_models
    from g3an.train.step import Nets

    torch.manual_seed(0)
    g, d_v, d_i, tz = build_models(ModelConfig(attention="none", size=32, width=0.0625), LoaderConfig(),
                                   n_classes=3, **heads)
    g, d_v, d_i = g.double(), d_v.double(), d_i.double()
    opt_g = torch.optim.SGD(g.parameters(), lr=1.0)
    opt_d = torch.optim.SGD(list(d_v.parameters()) + list(d_i.parameters()), lr=lr_d)
    return Nets(g, d_v, d_i, opt_g, opt_d, tz, n_classes=3, **weights)


def sgd_batch():
    """A real batch for ``sgd_nets``: 4 float64 clips (B, 3, T, H, W) = (4, 3, 16, 32, 32) in [-1, 1) from
    torch's global generator, and their labels (0, 1, 2, 0) among its 3 classes."""
    import torch

    return torch.rand(4, 3, 16, 32, 32, dtype=torch.float64) * 2 - 1, torch.tensor([0, 1, 2, 0])


def assert_update_is_plain_plus(before, after, plain_after, grads) -> None:
    """An SGD step at lr 1 of a net with one more loss term: each parameter moved as the same net
    without the term (``plain_after``, from the same ``before``) moved, plus −∇ of the term
    (``grads``, in ``before``'s parameter order); parameters the plain net lacks (the term's own
    head) moved by −∇ alone.

    The bound: the extra term regroups the sums of the shared gradients. In float32 that moved them by
    up to 2.4e-6 (the z_a test's G, one thread): a loose check. ``sgd_nets`` builds float64 nets, and
    there the regrouping error is at most 2.9e-10 (one thread or two; the step's logits still pass
    through float32), against terms of up to 0.39: the term at 0.999 of its weight fails all four
    uses of this check."""
    import torch

    plain = dict(plain_after.named_parameters())
    for (name, p0), p1, e in zip(before.named_parameters(), after.parameters(), grads):
        plain_step = p0.detach() - plain[name].detach() if name in plain else 0.0
        torch.testing.assert_close(p0.detach() - p1.detach() - plain_step, e, rtol=1e-6, atol=1e-8)


def assert_g_prior_replays(weight: str, logged: str, term) -> None:
    """A prior on G's clips alone (a Nets weight named ``weight``, its value logged as ``logged``), checked
    by an SGD replay at weight 30: the step with it moves G as the step without it plus −30·∇ of
    ``term(fakes, real, gen)`` recomputed on the step's fakes from G as it was — ``gen`` seeded as the
    step's and past its draws (the latents, D_I's two frame picks) — and moves the Ds not at all.
    ``real``: the step's real batch (sgd_batch)."""
    import copy

    import torch

    from g3an.sampling import sample_latents
    from g3an.train.step import gan_step

    w = 30.0
    real, labels = sgd_batch()  # (B, 3, T, H, W), (B,)
    plain, prior = sgd_nets({}, **{weight: 0.0}), sgd_nets({}, **{weight: w})
    g0 = copy.deepcopy(prior.g)
    out_plain = gan_step(plain, real, labels, torch.Generator().manual_seed(1))
    out = gan_step(prior, real, labels, torch.Generator().manual_seed(1))
    assert logged not in out_plain

    gen = torch.Generator().manual_seed(1)
    z_a, z_m, fake_labels = sample_latents(4, prior.latent_length, 3, gen, dtype=torch.float64)
    for _ in range(2):
        torch.randint(real.shape[2], (4,), generator=gen)
    value = term(g0(z_a, z_m, fake_labels), real, gen)  # the step's fakes, from G as it was
    torch.testing.assert_close(out[logged], value)
    assert value > 0
    grads = torch.autograd.grad(w * value, list(g0.parameters()), allow_unused=True, materialize_grads=True)
    assert_update_is_plain_plus(g0, prior.g, plain.g, grads)  # −w∇ of the prior on top of the plain step
    assert max(e.abs().max() for e in grads) > 0
    for a, b in zip(list(plain.d_v.parameters()) + list(plain.d_i.parameters()),
                    list(prior.d_v.parameters()) + list(prior.d_i.parameters())):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # the Ds' step comes before G's and never sees it


def record_latents(g):
    """G wrapped to remember the latents of every call — (z_a, z_m, labels) — in ``.seen``."""
    import torch

    class LatentRecorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.g, self.seen = g, []

        def forward(self, z_a, z_m, labels=None):
            self.seen.append((z_a.clone(), z_m.clone(), None if labels is None else labels.clone()))
            return self.g(z_a, z_m, labels)

    return LatentRecorder()


def make_generator_export(path: Path, n_classes: int = 4, preset: str = "paper", seed: int = 0, **model) -> Path:
    """An untrained tiny generator saved exactly as the train stage exports it."""
    import torch

    from g3an.models.build import build_models
    from g3an.train.export import export_generator

    cfg = tiny_config(model__preset=preset, **{f"model__{k}": v for k, v in model.items()})
    torch.manual_seed(seed)
    g, _, _, tz = build_models(cfg.model, cfg.loader, n_classes)
    ema = g  # an EMA copy is the same architecture; reuse the weights
    from g3an.config import SYNTHETIC_ACTIONS

    classes = list(SYNTHETIC_ACTIONS[:max(n_classes, 1)])  # the tiny config's data set is synthetic
    export_generator(path, g, ema, tz, classes, n_classes, cfg, cfg.train_hash(), step=0)
    return path


def RendererGenerator(classes, size: int = 32, frames: int = 16, ignore_motion: bool = False):
    """The synthetic renderer as a generator (the library's oracle), at the fixtures' 32 px."""
    from g3an.metrics.oracle import RendererGenerator as Oracle

    return Oracle(classes, size, frames, ignore_motion).eval()


# --- a real DVC project in a temp folder --------------------------------------------------------

TINY_PIPELINE = {**TINY, "train.steps": 4, "train.ckpt_every": 2, "eval.evaluator_steps": 10, "eval.n_fake": 8,
                 "eval.n_real": 8, "eval.batch": 8, "eval.disentangle_sets": 1, "render.n_appearance": 1,
                 "render.n_motion": 2, "render.sweep_steps": 2, "render.sweep_appearance_dims": [0],
                 "render.sweep_motion_dims": [0], "render.latent_lengths": [1, 2], "render.columns": 4,
                 "render.scale": 1, "download.synthetic.subjects": 3, "download.synthetic.frames": 40}


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: float = 600, env: dict | None = None):
    """A command as a user types it, with the venv's scripts (g3an-cli, dvc) on PATH (``env``: extra variables)."""
    import subprocess
    import sys

    env = dict(os.environ, **(env or {}), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def python_c(code: str, *args: str, env: dict | None = None, timeout: float = 120) -> str:
    """The stdout of a fresh interpreter running ``python -c code args…`` in the project root: for what
    only a new process shows (what an import pulls in or sets up, CPU affinity, how memory is backed).
    ``env``: the whole environment (default: this process's). A non-zero exit raises with its stderr."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"python -c failed ({r.returncode}):\n{code}\n{r.stderr[-3000:]}")
    return r.stdout


def ran(output: str) -> list[str]:
    """The stages a `dvc repro` / `dvc exp run` output says it ran, in order."""
    import re

    return re.findall(r"Running stage '([^']+)'", output)


def make_project(folder: Path, **overrides) -> Path:
    """A git + DVC project with this repo's pipeline, code folders and tiny params, committed."""
    import shutil

    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("g3an", "pipeline", "stages"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", "weights/README.md", "weights/.gitignore"):  # never a user's weights
        (folder / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, folder / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, value in {**TINY_PIPELINE, **{k.replace("__", "."): v for k, v in overrides.items()}}.items():
        node = params
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        node[last] = value
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], folder)
    run(["dvc", "init", "-q"], folder)
    run(["git", "add", "-A"], folder)
    run(["git", "commit", "-qm", "project"], folder)
    return folder


CHROMIUM_INSTALL = "apt-get install chromium chromium-driver (Debian/Ubuntu), or set CHROMEDRIVER and CHROMIUM"


@contextlib.contextmanager
def headless_chromium(width: int = 1280, height: int = 1600):
    """A real headless Chromium driven by selenium through the system's chromedriver (never a
    downloaded one). Skips, naming the install, where Chromium is not installed."""
    import shutil

    import pytest

    driver_path = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not driver_path or not browser:
        pytest.skip(f"no Chromium/chromedriver here: {CHROMIUM_INSTALL}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


ARTIFACTS = ROOT / "test-artifacts"  # screenshots the tests keep (git-ignored)

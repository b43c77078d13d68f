"""One frozen, typed config tree mirroring ``params.yaml``.

``load_config(path, overrides)`` reads the YAML safely, applies ``KEY=VALUE`` overrides (values are
YAML scalars), and validates everything before any work starts: unknown keys, wrong types and
impossible values raise :class:`ConfigError` naming the dotted key, the bad value and what is
allowed. ``dvc exp run -S key=value`` edits ``params.yaml`` itself, so it goes through the same path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from g3an.errors import UserError
from g3an.latent import Z_APPEARANCE, Z_MOTION

SYNTHETIC_ACTIONS = ("up", "down", "left", "right", "circle_cw", "circle_ccw", "wave", "jack")


class ConfigError(UserError):
    """A params problem, e.g. ``params.yaml: model.width = -1: must be > 0``."""


class _Invalid(Exception):
    """Raised inside ``__post_init__`` with a key relative to its section; the loader prefixes it."""

    def __init__(self, key: str, value: Any, allowed: str, unknown_key_in: list[str] | None = None):
        super().__init__(key, value, allowed)
        self.key, self.value, self.allowed, self.known = key, value, allowed, unknown_key_in

    def message(self, source: str) -> str:
        where = f"{source} " if source == "--set" else f"{source}: "  # `--set key=...` or `params.yaml: key`
        if self.known is not None:
            return f"{where}unknown key {self.key}; known keys here: {', '.join(self.known)}"
        return f"{where}{self.key} = {self.value!r} is invalid: expected {self.allowed}"


def _require(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise _Invalid(key, value, allowed)


@dataclass(frozen=True)
class BaseConfig:
    seed: int = 0
    dataset: Literal["synthetic", "weizmann", "mug", "uva_nemo"] = "synthetic"
    data_dir: str = "data"
    runs_dir: str = "runs"

    def __post_init__(self):
        _require(self.seed >= 0, "seed", self.seed, "an integer >= 0")
        _require(bool(self.data_dir), "data_dir", self.data_dir, "a non-empty path")
        _require(bool(self.runs_dir), "runs_dir", self.runs_dir, "a non-empty path")


@dataclass(frozen=True)
class SyntheticConfig:
    """The procedural data set: ``subjects`` appearances, each performing every action."""

    subjects: int = 64
    frames: int = 48
    actions: tuple[str, ...] = SYNTHETIC_ACTIONS

    def __post_init__(self):
        _require(self.subjects >= 2, "subjects", self.subjects, "an integer >= 2 (a test split needs a subject)")
        _require(self.frames >= 8, "frames", self.frames, "an integer >= 8")
        bad = [a for a in self.actions if a not in SYNTHETIC_ACTIONS]
        _require(not bad and len(self.actions) >= 2, "actions", list(self.actions),
                 f"two or more of {list(SYNTHETIC_ACTIONS)}")
        _require(len(set(self.actions)) == len(self.actions), "actions", list(self.actions), "no repeats")


@dataclass(frozen=True)
class DownloadConfig:
    weizmann_url: str = "https://www.wisdom.weizmann.ac.il/~vision/VideoAnalysis/Demos/SpaceTimeActions/DB"
    source: str = ""  # local archive or folder for the licensed sets (mug, uva_nemo)
    retries: int = 3
    timeout_s: float = 60.0
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def __post_init__(self):
        _require(self.retries >= 0, "retries", self.retries, "an integer >= 0")
        _require(self.timeout_s > 0, "timeout_s", self.timeout_s, "a number > 0")


@dataclass(frozen=True)
class PreprocessConfig:
    size: int = 64
    workers: int = 2
    shard_size: int = 16  # videos per shard
    test_fraction: float = 0.2
    test_subjects: tuple[str, ...] = ()  # explicit test subjects; overrides test_fraction
    decoder: Literal["auto", "opencv", "decord"] = "auto"
    face_detector: str = "haar"  # "haar", "center", or "package.module:callable"
    face_margin: float = 0.1
    face_min_size: float = 0.05  # haar: smallest face looked for, as a fraction of the frame's short side
    max_frames: int = 0  # 0 keeps every frame
    include_neutral: bool = False  # MUG's neutral expression

    def __post_init__(self):
        _require(self.size >= 16 and self.size % 8 == 0, "size", self.size, "a multiple of 8, >= 16")
        _require(self.workers >= 0, "workers", self.workers, "an integer >= 0 (0 = in-process)")
        _require(self.shard_size >= 1, "shard_size", self.shard_size, "an integer >= 1")
        _require(0.0 <= self.test_fraction < 1.0, "test_fraction", self.test_fraction, "a number in [0, 1)")
        _require(self.face_margin >= 0, "face_margin", self.face_margin, "a number >= 0")
        _require(0 < self.face_min_size < 1, "face_min_size", self.face_min_size, "a number in (0, 1)")
        _require(self.max_frames >= 0, "max_frames", self.max_frames, "an integer >= 0")


@dataclass(frozen=True)
class ModelConfig:
    preset: Literal["paper", "reference"] = "paper"
    width: float = 0.125  # channel multiplier; 1.0 is the paper's Table 1
    size: Literal[32, 64, 128] = 64  # output frame size
    video_mode: Literal["1p2d", "2p1d", "3d"] = "1p2d"
    attention: Literal["fused", "literal", "none"] = "fused"
    attention_after: int = 2  # F-SA follows this G³ module (the paper: 3; the CPU demo: 2, on 16×16 maps)
    attention_init: Literal["pytorch", "dcgan"] = "pytorch"  # F-SA f/g/h: the public code's N(0, 0.02) is dcgan
    g_spectral_norm: bool = False  # the paper: BN + ReLU only; the reference code adds SN (an option)
    cond_appearance: bool = False  # also feed the class label to the appearance stream
    d_video_mode: Literal["3d", "2p1d"] = "3d"
    d_width: float = 0.0  # D_V's and D_I's channel multiplier; 0 = ``width`` (the paper: one width for all)
    d_mbstd: int = 4  # minibatch std before the heads of D_I (and D_P), groups of this many clips; 0 = off (the paper)
    d_mbstd_video: bool = False  # with d_mbstd: D_V's head too
    d_frame_diff: bool = False  # D_V also reads x_{t+1} − x_t (three more input channels); false = the paper

    def __post_init__(self):
        _require(0 < self.width <= 4, "width", self.width, "a number in (0, 4]")
        _require(0 <= self.d_width <= 4, "d_width", self.d_width, "0 (= width) or a number in (0, 4]")
        _require(0 <= self.d_mbstd <= 64, "d_mbstd", self.d_mbstd, "0 (off) or a group size in 1..64")
        _require(0 <= self.attention_after <= 4, "attention_after", self.attention_after, "0..4")

    @property
    def discriminator_width(self) -> float:
        return self.d_width or self.width

    def placement_warning(self) -> str | None:
        """At the paper's width with the CPU demo's F-SA placement or discriminator width, say so: one
        switch away from the paper."""
        said = []
        if self.width >= 1 and self.attention != "none" and self.attention_after != 3:
            said.append(f"F-SA follows G³_{self.attention_after} (the CPU demo's placement); the paper places it "
                        "after G³_3: set model.attention_after=3")
        if self.width >= 1 and self.discriminator_width != self.width:
            said.append(f"the discriminators have width {self.discriminator_width:g} (the CPU demo's); the paper's "
                        "are as wide as G: set model.d_width=0")
        if not said:
            return None
        return f"model.width = {self.width:g} (the paper's channels) but " + "; and ".join(said)


@dataclass(frozen=True)
class LoaderConfig:
    clip_length: int = 16
    frame_steps: tuple[int, ...] = (2, 3)
    batch_size: int = 16
    workers: int = 2
    shuffle_buffer: int = 64
    shard_mode: Literal["split", "resampled"] = "split"

    def __post_init__(self):
        _require(self.clip_length >= 2, "clip_length", self.clip_length, "an integer >= 2")
        _require(len(self.frame_steps) >= 1 and all(s >= 1 for s in self.frame_steps),
                 "frame_steps", list(self.frame_steps), "a non-empty list of integers >= 1")
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")
        _require(self.workers >= 0, "workers", self.workers, "an integer >= 0")
        _require(self.shuffle_buffer >= 1, "shuffle_buffer", self.shuffle_buffer, "an integer >= 1")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    loss: Literal["bce", "hinge"] = "bce"
    r1_gamma: float = 1.0  # R1 penalty on D_V and D_I at real inputs; 0 = none (the paper)
    r1_every: int = 1  # lazy R1: every r1_every-th step, weighted by r1_every
    augment_translate: float = 0.0  # D sees every clip shifted by up to this fraction of its size; 0 = off (the paper)
    zm_diversity: float = 0.0  # mode-seeking weight: clips sharing z_a and class should differ in motion; 0 = off
    zm_info: float = 1.0  # InfoGAN weight: D_V reads z_m back from fakes, G is trained to make that work; 0 = off (the paper)
    za_info: float = 1.0  # InfoGAN weight on z_a: D_I reads z_a back from fake frames, G is trained to make that work;
    #                       0 = off (the paper)
    pair_d: float = 1.0  # weight of D_P, the same-subject pair discriminator (frames of two clips of one subject vs
    #                      of one z_a); 0 = off (the paper)
    class_head: float = 1.0  # AC-GAN weight: D_V's class head learns real clips' classes, G makes fakes read as
    #                          theirs; off in unconditional runs (no classes to learn); 0 = off (the paper)
    colour_prior: float = 30.0  # weight of G's colour prior: each frame's colour quantiles held to its clip's
    #                             (losses.colour_quantile_drift); 0 = off (the paper)
    change_prior: float = 0.0  # weight of G's temporal-change prior: the batch's per-pixel |x_{t+1} − x_t| held
    #                            to the real batch's distribution (losses.change_quantile_gap); 0 = off (the paper)
    ema_beta: float = 0.99  # 0 disables the EMA generator
    conditional: Literal["auto", "yes", "no"] = "auto"
    ckpt_every: int = 100
    keep_last: int = 3
    log_every: int = 10
    sample_every: int = 100
    resume: Literal["auto", "never"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: bool = False
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU

    def __post_init__(self):
        for key in ("steps", "ckpt_every", "keep_last", "log_every", "sample_every", "r1_every"):
            _require(getattr(self, key) >= 1, key, getattr(self, key), "an integer >= 1")
        _require(self.lr_g > 0, "lr_g", self.lr_g, "a number > 0")
        _require(self.lr_d > 0, "lr_d", self.lr_d, "a number > 0")
        _require(all(0 <= b < 1 for b in self.betas), "betas", list(self.betas), "two numbers in [0, 1)")
        _require(self.r1_gamma >= 0, "r1_gamma", self.r1_gamma, "a number >= 0 (0 = no penalty)")
        _require(not (self.compile and self.r1_gamma > 0), "r1_gamma", self.r1_gamma,
                 "0 with train.compile=true (torch.compile has no double backward for R1's gradient penalty)")
        _require(0 <= self.ema_beta < 1, "ema_beta", self.ema_beta, "a number in [0, 1)")
        _require(0 <= self.augment_translate < 0.5, "augment_translate", self.augment_translate,
                 "a fraction in [0, 0.5) (0 = off)")
        _require(self.zm_diversity >= 0, "zm_diversity", self.zm_diversity, "a number >= 0 (0 = off)")
        _require(self.zm_info >= 0, "zm_info", self.zm_info, "a number >= 0 (0 = off)")
        _require(self.za_info >= 0, "za_info", self.za_info, "a number >= 0 (0 = off)")
        _require(self.pair_d >= 0, "pair_d", self.pair_d, "a number >= 0 (0 = off)")
        _require(self.class_head >= 0, "class_head", self.class_head, "a number >= 0 (0 = off)")
        _require(self.colour_prior >= 0, "colour_prior", self.colour_prior, "a number >= 0 (0 = off)")
        _require(self.change_prior >= 0, "change_prior", self.change_prior, "a number >= 0 (0 = off)")
        _require(not (self.pair_d > 0 and self.zm_diversity > 0), "pair_d", self.pair_d,
                 "0 with train.zm_diversity > 0 (each pairs the batch's clips its own way)")


@dataclass(frozen=True)
class RenderConfig:
    seed: int = 1234
    n_appearance: int = 2  # C.1: how many z_a, each with n_motion z_m
    n_motion: int = 3
    columns: int = 8  # frames shown per row, evenly spaced in time
    scale: int = 2  # nearest-neighbour upscaling of every frame
    sweep_appearance_dims: tuple[int, ...] = (0, 1)  # C.3
    sweep_motion_dims: tuple[int, ...] = (0, 1)
    sweep_range: float = 2.0  # each swept dimension goes from -range to +range
    sweep_steps: int = 5
    latent_lengths: tuple[int, ...] = (1, 2, 3)  # the variable-length figure
    use_ema: bool = True
    gif_fps: int = 8

    def __post_init__(self):
        for key in ("n_appearance", "n_motion", "columns", "scale", "sweep_steps", "gif_fps"):
            _require(getattr(self, key) >= 1, key, getattr(self, key), "an integer >= 1")
        _require(all(0 <= d < Z_APPEARANCE for d in self.sweep_appearance_dims), "sweep_appearance_dims",
                 list(self.sweep_appearance_dims), f"dimensions in 0..{Z_APPEARANCE - 1}")
        _require(all(0 <= d < Z_MOTION for d in self.sweep_motion_dims), "sweep_motion_dims",
                 list(self.sweep_motion_dims), f"dimensions in 0..{Z_MOTION - 1}")
        _require(self.sweep_range > 0, "sweep_range", self.sweep_range, "a number > 0")
        _require(len(self.latent_lengths) >= 1 and all(t >= 1 for t in self.latent_lengths), "latent_lengths",
                 list(self.latent_lengths), "a non-empty list of integers >= 1")


@dataclass(frozen=True)
class EvalConfig:
    seed: int = 4321
    evaluator_steps: int = 200
    evaluator_batch: int = 32
    evaluator_lr: float = 1e-3
    evaluator_width: int = 16
    n_fake: int = 256  # generated clips per metric
    n_real: int = 256  # real clips per split
    batch: int = 32
    disentangle_sets: int = 32  # grids of 4 z_a × 4 z_m (at 8, one generator read 0.46–0.54 over eval seeds)
    i3d_or_resnext_weights: str = ""  # a 3D ResNeXt-101 Kinetics weights file → the paper's FID protocol
    resnext_fakes: int = 5000
    cache_dir: str = ""  # real-data feature statistics; default <runs_dir>/eval-cache

    def __post_init__(self):
        for key in ("evaluator_steps", "evaluator_batch", "evaluator_width", "n_fake", "n_real", "batch",
                    "disentangle_sets", "resnext_fakes"):
            _require(getattr(self, key) >= 1, key, getattr(self, key), "an integer >= 1")
        _require(self.n_fake >= 2, "n_fake", self.n_fake, "at least 2 (a covariance needs two)")
        _require(self.n_real >= 2, "n_real", self.n_real, "at least 2 (a covariance needs two)")
        _require(self.evaluator_lr > 0, "evaluator_lr", self.evaluator_lr, "a number > 0")


@dataclass(frozen=True)
class Config:
    base: BaseConfig = field(default_factory=BaseConfig)
    download: DownloadConfig = field(default_factory=DownloadConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    render: RenderConfig = field(default_factory=RenderConfig)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))

    def train_hash(self) -> str:
        """Hash of the params that shape a training run (not its length or logging cadence).

        A checkpoint whose hash differs was made by a different experiment: resuming it would
        silently mix two runs, so training starts fresh instead.
        """
        d = self.to_dict()
        shaping = {
            "base": {"seed": d["base"]["seed"], "dataset": d["base"]["dataset"]},
            "preprocess": {"size": d["preprocess"]["size"]},
            "model": d["model"],
            "loader": {k: v for k, v in d["loader"].items() if k != "workers"},  # workers: speed, not the run
            "train": {k: v for k, v in d["train"].items()
                      if k not in ("steps", "ckpt_every", "keep_last", "log_every", "sample_every",
                                   "resume", "device", "compile")},
        }
        blob = json.dumps(shaping, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


# ---------------------------------------------------------------------------------------------
# typed conversion from plain YAML data


_PLURAL = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return "a list of " + _PLURAL.get(args[0], _describe(args[0])) + ", e.g. [1, 2]" * (args[0] is int)
        return f"a list of {len(args)} values"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _Invalid(key, value, "a mapping of keys " + ", ".join(f.name for f in dataclasses.fields(tp)))
        return _build(tp, value, key)
    if origin is Literal:  # the value and its type (64.0 == 64 and True == 1 in Python, not here)
        if isinstance(value, bool) and {"yes", "no"} <= set(typing.get_args(tp)):
            value = "yes" if value else "no"  # YAML 1.1 (PyYAML, `dvc exp run -S`) reads an unquoted yes/no as a bool
        if not any(value == a and type(value) is type(a) for a in typing.get_args(tp)):
            raise _Invalid(key, value, _describe(tp))
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise _Invalid(key, value, _describe(tp))
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _Invalid(key, value, _describe(tp))
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (typing.Union, types.UnionType):
        for a in typing.get_args(tp):
            try:
                return _convert(value, a, key)
            except _Invalid:
                continue
        raise _Invalid(key, value, " or ".join(_describe(a) for a in typing.get_args(tp)))
    if tp is bool:
        if not isinstance(value, bool):
            raise _Invalid(key, value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(key, value, "an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise _Invalid(key, value, "a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Invalid(key, value, "a number")
        if not math.isfinite(value):
            raise _Invalid(key, value, "a finite number")
        return float(value)
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise _Invalid(key, value, f"a string — YAML read this as the number {value!r}; quote it, e.g. '001'")
        if not isinstance(value, str):
            raise _Invalid(key, value, "a string")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {key}")  # a bug in this module, not user input


def _build(cls: type, data: dict, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in names:
            raise _Invalid(key, v, "", unknown_key_in=names)
        kwargs[k] = _convert(v, hints[k], key)
    try:
        return cls(**kwargs)
    except _Invalid as e:
        raise _Invalid(f"{prefix}.{e.key}" if prefix else e.key, e.value, e.allowed, e.known) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``model.width=0.25`` → (["model", "width"], 0.25); the value is read as a YAML scalar."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set model.width=0.25")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected a dotted key such as train.steps")
    return key.split("."), yaml.safe_load(raw) if raw.strip() else ""


def config_from_dict(data: dict | None, overrides: typing.Sequence[str] = (), source: str = "params") -> Config:
    data = json.loads(json.dumps(data or {}))  # deep copy of plain data
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{source}: --set {text}: {part} is not a section")
            node = child
        node[path[-1]] = value
    try:
        return _build(Config, data, "")
    except _Invalid as e:
        overridden = [t.split("=", 1)[0].strip() for t in overrides]
        key = e.key.split("[", 1)[0]
        if any(key == k or key.startswith(k + ".") for k in overridden):
            source = "--set"  # the bad value came from the command line, not the file
        raise ConfigError(e.message(source)) from None


def load_config(path: str | Path = "params.yaml", overrides: typing.Sequence[str] = ()) -> Config:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: params file not found; run from the project root or pass --params FILE")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; pass --params a YAML file such as params.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save the params file as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem}); fix the file at that line and column") from None
    if data is None:
        raise ConfigError(f"{path}: is empty; restore it (`git checkout {path.name}`) or write its sections "
                          "(base, download, preprocess, model, loader, train, eval, render)")
    return config_from_dict(data, overrides, source=str(path))


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
